/**
 * The sentinel process. Every sentinel publishes its SentinelInfo and campaigns in the etcd
 * election; only the leader computes the cluster view:
 *
 *   read cluster data + keeper and proxy infos -> decide() -> compare-and-swap write
 *
 * Three loops (src/lib/run-loop.ts): `info` publishes the info every sleepInterval (and reads the
 * cluster data, so every sentinel knows it sees etcd); `election` campaigns, and while elected
 * runs one leadership term; `tick` is the term's loop, woken by every change under the cluster's
 * prefix (a keeper info written or expired, a proxy acknowledging, the cluster data changed) and
 * every sleepInterval as a safety net. The leader stops writing the moment its leadership is
 * lost, and starts every term from fresh memory.
 */
import {
  activePause,
  decide,
  describePause,
  freshMemory,
  invalidInfoNotes,
  newClusterData,
  pitrAttentionNotes,
  specTimings,
  DEFAULT_SPEC_TIMINGS,
  sentinelInfoTtlMs,
  type ClusterData,
  type ClusterSpec,
  type SentinelMemory,
} from "../cluster/index.ts";
import type { Clock } from "../lib/clock.ts";
import { ClusterDataError, describeError, KeyModifiedError } from "../lib/errors.ts";
import { loopsLive, type Check, type Component, type HealthReport } from "../lib/health.ts";
import { logNotes, type Logger } from "../lib/log.ts";
import { Loop, SayOnce, type LoopSnapshot, type TickObserver } from "../lib/run-loop.ts";
import { Trigger } from "../lib/trigger.ts";
import type { Election } from "../store/election.ts";
import { readInfoSilences, type InfoList, type Store } from "../store/store.ts";
import {
  DECISION_KINDS,
  decisionKinds,
  isFailover,
  masterLooksFailed,
  switchoverEnded,
  type DecisionKind,
  type SwitchoverEnd,
} from "./decision-kinds.ts";

/** Leader lease TTL (timing.ts), exported here for the entry point. */
export { SENTINEL_ELECTION_TTL_MS } from "../cluster/index.ts";
/** Pause after a failed campaign (store unreachable) before campaigning again. */
export const CAMPAIGN_RETRY_MS = 1000;
/** Ticks caused by a burst of watch events are coalesced over this long. */
export const MIN_TICK_GAP_MS = 50;
/**
 * /health turns 503 when the info loop, or the leader's tick loop, has not finished a pass for
 * this long (or three sleepIntervals, if longer): a store call that never returns, a wedged loop.
 */
const STUCK_AFTER_MS = 10_000;
/** While the cluster is paused, the leader warns at most this often (the notes say it every tick). */
export const PAUSE_WARNING_INTERVAL_MS = 60_000;

export interface SentinelOptions {
  uid: string;
  store: Store;
  election: Election;
  log: Logger;
  clock: Clock;
  newUid: () => string;
  /** Written as a new cluster when no cluster data exists (--initial-cluster-spec). */
  initialSpec?: ClusterSpec;
  /** The loops' tick observer (metrics.loopObserver). */
  observe?: TickObserver;
}

/**
 * What the sentinel counts, as plain numbers read at scrape time (src/sentinel/metrics.ts).
 * Times named ...Wall are wall-clock unix milliseconds (0: never); durations are milliseconds.
 */
export interface SentinelStats {
  isLeader: boolean;
  /** Times this sentinel was elected. */
  leaderCount: number;
  /** When the leader's last tick succeeded. */
  lastClusterCheckSuccessWall: number;
  /** Successful cluster-view writes, by kind (one write may count several kinds). */
  decisions: Record<DecisionKind, number>;
  failovers: number;
  /** From the first tick that saw the old master failed to the write electing the new one; NaN before the first failover. */
  lastFailoverDurationMs: number;
  lastFailoverWall: number;
  /** The leader's view of the keepers (both 0 when not leading). */
  keepersHealthy: number;
  keepersUnhealthy: number;
  /** The last cluster data read's round trip; NaN before the first. */
  storeRoundTripMs: number;
  /** Switchovers this sentinel ended, by outcome. */
  switchovers: Record<SwitchoverEnd, number>;
  /** From acceptance to "done" for the last switchover this sentinel completed; NaN before the first. */
  lastSwitchoverDurationMs: number;
  /** True while the cluster data this leader last decided on is paused. */
  paused: boolean;
}

/** What one leadership term remembers between its ticks. */
interface TermState {
  memory: SentinelMemory;
  lastWrite: number;
  /** The master that looked failed, and the clock time a tick first saw it so; null while it looks fine. */
  suspect: { db: string; since: number } | null;
  /** The last decide's recheckInMs: the next tick comes this soon instead of after sleepInterval. */
  recheckInMs: number | null;
}

export class Sentinel implements Component {
  /** Until a spec is read, the default spec's. */
  private sleepIntervalMs = DEFAULT_SPEC_TIMINGS.sleepIntervalMs;
  private readonly say: SayOnce;
  private readonly infoLoop: Loop;
  private readonly electionLoop: Loop;
  /** The current (or last) term's tick loop; null before the first term. */
  private tickLoop: Loop | null = null;
  private readonly s: SentinelStats = {
    isLeader: false,
    leaderCount: 0,
    lastClusterCheckSuccessWall: 0,
    decisions: Object.fromEntries(DECISION_KINDS.map((k) => [k, 0])) as Record<DecisionKind, number>,
    failovers: 0,
    lastFailoverDurationMs: NaN,
    lastFailoverWall: 0,
    keepersHealthy: 0,
    keepersUnhealthy: 0,
    storeRoundTripMs: NaN,
    switchovers: { done: 0, failed: 0, "rolled-back": 0 },
    lastSwitchoverDurationMs: NaN,
    paused: false,
  };
  /** When the leader last warned that the cluster is paused (clock ms); null while not paused. */
  private pauseWarnedAt: number | null = null;

  constructor(private readonly o: SentinelOptions) {
    this.say = new SayOnce(o.log);
    this.infoLoop = new Loop({
      name: "info",
      intervalMs: () => this.sleepIntervalMs,
      tick: () => this.publishInfo(),
      clock: o.clock,
      log: o.log,
      describe: (err) => `cannot publish the sentinel info: ${describeError(err)}`,
      observe: o.observe,
    });
    this.electionLoop = new Loop({
      name: "election",
      intervalMs: () => CAMPAIGN_RETRY_MS,
      tick: (signal) => this.campaignAndLead(signal),
      clock: o.clock,
      log: o.log,
      describe: (err) => `election: ${describeError(err)}; campaigning again in ${CAMPAIGN_RETRY_MS} ms`,
      observe: o.observe,
    });
  }

  get uid(): string {
    return this.o.uid;
  }

  /** The figures behind /metrics (a live view: read, never written, by the caller). */
  stats(): Readonly<SentinelStats> {
    return this.s;
  }

  async run(signal: AbortSignal): Promise<void> {
    try {
      await Promise.all([this.infoLoop.run(signal), this.electionLoop.run(signal)]);
    } finally {
      // Gone at once from `stolonctl status` and from etcd, not one info lease (10 s) later.
      await this.o.store.deleteSentinelInfo(this.o.uid).catch((err) => this.o.log.debug(`cannot delete the sentinel info: ${describeError(err)}`));
    }
  }

  /**
   * live: the info and election loops run, and neither the info loop nor (while leading) the
   * tick loop is stuck; the election loop's pass is a whole term, so only whether it runs counts.
   * ready: the last info publish or cluster-data read succeeded within two sleepIntervals.
   */
  health(): HealthReport {
    const now = this.o.clock.now();
    const info = this.infoLoop.snapshot();
    const election = this.electionLoop.snapshot();
    const tick = this.tickLoop?.snapshot();
    const loops = tick ? [info, election, tick] : [info, election];
    const watched = this.s.isLeader && tick ? [info, tick] : [info];
    let live: Check = election.running ? loopsLive(watched, now, Math.max(STUCK_AFTER_MS, 3 * this.sleepIntervalMs)) : { ok: false, reason: "loop election is not running" };
    const lastOk = Math.max(info.lastSuccessAt, tick?.lastSuccessAt ?? 0);
    const window = 2 * this.sleepIntervalMs;
    let ready: Check;
    if (lastOk === 0) ready = { ok: false, reason: "no info published nor cluster data read yet" };
    else if (now - lastOk > window) ready = { ok: false, reason: `the store has not answered for ${((now - lastOk) / 1000).toFixed(1)} s (more than twice sleepInterval): ${info.lastError || tick?.lastError || "no error"}` };
    else ready = { ok: true, reason: "the store answers" };
    if (!live.ok) ready = { ok: false, reason: live.reason };
    return {
      component: "sentinel",
      uid: this.o.uid,
      live,
      ready,
      loops: loops as LoopSnapshot[],
      details: {
        leader: this.s.isLeader,
        leaderCount: this.s.leaderCount,
        keepersHealthy: this.s.keepersHealthy,
        keepersUnhealthy: this.s.keepersUnhealthy,
        failovers: this.s.failovers,
        sleepIntervalMs: this.sleepIntervalMs,
      },
    };
  }

  /** Publishes SentinelInfo, reads the cluster data and, with --initial-cluster-spec, creates it when absent. */
  private async publishInfo(): Promise<void> {
    const { store, log, clock } = this.o;
    await store.setSentinelInfo({ UID: this.o.uid }, sentinelInfoTtlMs(this.sleepIntervalMs));
    const started = clock.now();
    const raw = await store.getRawClusterData();
    this.s.storeRoundTripMs = clock.now() - started;
    if (this.o.initialSpec && !raw) {
      const cd = newClusterData(this.o.newUid(), this.o.initialSpec, new Date());
      try {
        await store.putClusterData(cd, 0);
        log.info(`cluster ${cd.cluster.uid} created from --initial-cluster-spec`);
      } catch (err) {
        if (!(err instanceof KeyModifiedError)) throw err;
      }
    }
  }

  /** One pass of the election loop: campaign until elected, then lead until the term ends. */
  private async campaignAndLead(signal: AbortSignal): Promise<boolean> {
    const { election, log } = this.o;
    const lead = await election.campaign(this.o.uid, signal);
    this.s.leaderCount++;
    this.s.isLeader = true;
    log.info(`sentinel ${this.o.uid} is the leader`);
    const term = AbortSignal.any([signal, lead.signal]);
    try {
      await this.lead(term);
    } finally {
      this.s.isLeader = false;
      this.s.keepersHealthy = 0;
      this.s.keepersUnhealthy = 0;
      if (lead.signal.aborted && !signal.aborted) log.warn(`leadership lost: ${String(lead.signal.reason ?? "")}`);
      await lead.resign().catch(() => {});
    }
    // Campaign again at once (the loop stops if the process is shutting down).
    return true;
  }

  /** One leadership term: tick until the term ends. */
  private async lead(term: AbortSignal): Promise<void> {
    const { store, clock, log } = this.o;
    const trigger = new Trigger(clock);
    const unwatch = store.watch(
      () => trigger.fire(),
      (err) => log.debug(`watch: ${describeError(err)}`),
    );
    const state: TermState = { memory: freshMemory(), lastWrite: -Infinity, suspect: null, recheckInMs: null };
    this.tickLoop = new Loop({
      name: "tick",
      intervalMs: () => state.recheckInMs ?? this.sleepIntervalMs,
      tick: async () => {
        const again = await this.tick(term, state);
        this.s.lastClusterCheckSuccessWall = Date.now();
        return again;
      },
      clock,
      log,
      trigger,
      minGapMs: MIN_TICK_GAP_MS,
      describe: (err) => `tick failed: ${describeError(err)}`,
      observe: this.o.observe,
    });
    try {
      await this.tickLoop.run(term);
    } finally {
      unwatch();
    }
  }

  /** One leader tick. Returns true to decide again at once (the compare-and-swap was lost). */
  private async tick(term: AbortSignal, state: TermState): Promise<boolean> {
    const { store, log, clock } = this.o;
    let v: { clusterData: ClusterData; revision: number } | null;
    const started = clock.now();
    try {
      v = await store.getClusterData();
    } catch (err) {
      if (err instanceof ClusterDataError) {
        this.say.say("notice", "info", [`the cluster data cannot be used, nothing decided: ${err.message}`]);
        return false;
      }
      throw err;
    } finally {
      this.s.storeRoundTripMs = clock.now() - started;
    }
    if (!v) {
      this.say.say("notice", "info", ["no cluster data yet: waiting for stolonctl init (or --initial-cluster-spec)"]);
      return false;
    }
    this.sleepIntervalMs = specTimings(v.clusterData.cluster.spec).sleepIntervalMs;
    const [keepers, proxies] = await Promise.all([store.getKeepersInfo(), store.getProxiesInfo()]);
    const [keeperSilenceMs, proxySilenceMs] = await Promise.all([this.readSilences(keepers), this.readSilences(proxies)]);
    const invalidInfos = [...keepers.invalid, ...proxies.invalid];
    const out = decide({
      clusterData: v.clusterData,
      keepersInfo: keepers.items,
      proxiesInfo: proxies.items,
      keeperSilenceMs,
      proxySilenceMs,
      invalidInfos,
      memory: state.memory,
      now: clock.now(),
      wallNow: Date.now(),
      sentinelUID: this.o.uid,
      newUid: this.o.newUid,
    });
    state.memory = out.memory;
    state.recheckInMs = out.recheckInMs;
    this.countKeepers(out.clusterData);
    this.warnIfPaused(out.clusterData);
    this.watchMaster(state, v.clusterData, out.clusterData);
    // Invalid infos are named in the notes of every tick; say so once, not on every tick.
    const invalidNote = invalidInfoNotes(invalidInfos).join("; ");
    if (invalidNote === "") this.say.reset("invalid");
    else this.say.say("invalid", "warn", [invalidNote]);
    // A failed pitr restore may leave the cluster data as it is (nothing written, so no notes
    // logged below): said when it changes.
    const attention = pitrAttentionNotes(out.notes);
    if (attention.length === 0) this.say.reset("pitr");
    else this.say.say("pitr", "warn", attention);
    if (out.change === "none") return false;
    // Reported figures alone (xlogpos ...) are written at most once per sleepInterval.
    if (out.change === "status" && clock.now() - state.lastWrite < this.sleepIntervalMs) return false;
    if (term.aborted) return false;
    try {
      await store.putClusterData(out.clusterData, v.revision);
    } catch (err) {
      if (!(err instanceof KeyModifiedError)) throw err;
      log.debug("the cluster data changed while deciding: deciding again");
      return true;
    }
    state.lastWrite = clock.now();
    this.say.reset("notice");
    const kinds = this.countWrite(state, v.clusterData, out.clusterData, out.change);
    logNotes(log, "info", `cluster view written (${kinds.join(", ")})`, out.notes);
    return false;
  }

  /**
   * Reads the lease of every listed info (no raft proposal: etcd answers from its lease table) and
   * returns, by uid, how long each has not been renewed (Store.leaseSilenceMs). An info whose
   * lease expired since the listing is taken out of the list (as its key is about to be). A read
   * that fails counts as renewed: unknown is not silent, so a store that answers badly delays a
   * failover (until the lease expires and the key goes), never causes one.
   */
  private async readSilences<T>(list: InfoList<T>): Promise<Record<string, number>> {
    const { silences, failed } = await readInfoSilences(this.o.store, list);
    for (const { uid, err } of failed) {
      this.o.log.debug(`cannot read the lease of ${uid}: ${describeError(err)}`);
      silences[uid] = 0;
    }
    return silences;
  }

  /** A warning at most every PAUSE_WARNING_INTERVAL_MS while paused, and a line when it ends. */
  private warnIfPaused(cd: ClusterData): void {
    const pause = activePause(cd, new Date());
    this.s.paused = pause !== null;
    const now = this.o.clock.now();
    if (!pause) {
      if (this.pauseWarnedAt !== null) this.o.log.info("the cluster is no longer paused: failovers are allowed again");
      this.pauseWarnedAt = null;
      return;
    }
    if (this.pauseWarnedAt !== null && now - this.pauseWarnedAt < PAUSE_WARNING_INTERVAL_MS) return;
    this.pauseWarnedAt = now;
    this.o.log.warn(`the cluster is ${describePause(pause)}: no failover, no demotion, no keeper or db removed (stolonctl resume to end it)`);
  }

  private countKeepers(cd: ClusterData): void {
    let healthy = 0;
    let unhealthy = 0;
    for (const k of Object.values(cd.keepers)) {
      if (k.status.healthy) healthy++;
      else unhealthy++;
    }
    this.s.keepersHealthy = healthy;
    this.s.keepersUnhealthy = unhealthy;
  }

  /** Starts the failover clock at the first tick that sees the master failed; stops it when it looks fine again. */
  private watchMaster(state: TermState, before: ClusterData, after: ClusterData): void {
    const failed = masterLooksFailed(before, after);
    if (!failed) state.suspect = null;
    else if (state.suspect?.db !== failed.db) state.suspect = { db: failed.db, since: this.o.clock.now() };
  }

  /** Counts a written decision by kind (and a failover with its duration); returns the kinds. */
  private countWrite(state: TermState, before: ClusterData, after: ClusterData, change: "status" | "decision"): string[] {
    const kinds = decisionKinds(before, after, change);
    for (const k of kinds) this.s.decisions[k]++;
    const ended = switchoverEnded(before, after);
    if (ended) {
      this.s.switchovers[ended.outcome]++;
      if (ended.outcome === "done") this.s.lastSwitchoverDurationMs = ended.durationMs;
      this.o.log.info(`switchover ${after.switchover!.id} ${ended.outcome}: ${after.switchover!.outcome ?? ""}`);
    }
    if (!isFailover(before, after)) return kinds;
    const now = this.o.clock.now();
    // Not seen failed in this term (another leader saw it, or the master was replaced some other
    // way): the duration is unknown and not exported, rather than made up.
    const seen = state.suspect !== null && state.suspect.db === before.cluster.status.master ? state.suspect.since : null;
    this.s.failovers++;
    this.s.lastFailoverDurationMs = seen === null ? NaN : now - seen;
    this.s.lastFailoverWall = Date.now();
    state.suspect = null;
    const when = seen === null ? "the old master was not seen failed in this term" : `decided ${((now - seen) / 1000).toFixed(2)} s after the old master was first seen failed`;
    this.o.log.info(`failover from db ${before.cluster.status.master} to db ${after.cluster.status.master}: ${when}`);
    return kinds;
  }
}
