/**
 * The sentinel process. Every sentinel publishes its SentinelInfo and campaigns in the etcd
 * election; only the leader computes the cluster view:
 *
 *   read cluster data + keeper and proxy infos -> decide() -> compare-and-swap write
 *
 * The leader ticks on every change under the cluster's prefix (a keeper info written or expired,
 * a proxy acknowledging, the cluster data changed) and every sleepInterval as a safety net. It
 * stops writing the moment its leadership is lost, and starts every term from fresh memory.
 */
import {
  decide,
  freshMemory,
  invalidInfoNotes,
  newClusterData,
  specTimings,
  DEFAULT_SPEC_TIMINGS,
  sentinelInfoTtlMs,
  type ClusterData,
  type ClusterSpec,
  type SentinelMemory,
} from "../cluster/index.ts";
import type { Clock } from "../lib/clock.ts";
import { ClusterDataError, describeError, KeyModifiedError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { Trigger } from "../lib/trigger.ts";
import type { Election } from "../store/election.ts";
import type { Store } from "../store/store.ts";

/** Leader lease TTL (timing.ts), exported here for the entry point. */
export { SENTINEL_ELECTION_TTL_MS } from "../cluster/index.ts";
/** Pause after a failed campaign (store unreachable) before campaigning again. */
const CAMPAIGN_RETRY_MS = 1000;
/** Ticks caused by a burst of watch events are coalesced over this long. */
const MIN_TICK_GAP_MS = 50;

export interface SentinelOptions {
  uid: string;
  store: Store;
  election: Election;
  log: Logger;
  clock: Clock;
  newUid: () => string;
  /** Written as a new cluster when no cluster data exists (--initial-cluster-spec). */
  initialSpec?: ClusterSpec;
}

export class Sentinel {
  /** Until a spec is read, the default spec's. */
  private sleepIntervalMs = DEFAULT_SPEC_TIMINGS.sleepIntervalMs;
  private lastNotice = "";
  private lastInvalidNote = "";

  constructor(private readonly o: SentinelOptions) {}

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.infoLoop(signal), this.electionLoop(signal)]);
  }

  private notice(msg: string): void {
    if (msg !== this.lastNotice) this.o.log.info(msg);
    this.lastNotice = msg;
  }

  /** Publishes SentinelInfo and, with --initial-cluster-spec, creates the cluster when absent. */
  private async infoLoop(signal: AbortSignal): Promise<void> {
    const { store, log } = this.o;
    let lastError = "";
    while (!signal.aborted) {
      try {
        await store.setSentinelInfo({ UID: this.o.uid }, sentinelInfoTtlMs(this.sleepIntervalMs));
        if (this.o.initialSpec && !(await store.getRawClusterData())) {
          const cd = newClusterData(this.o.newUid(), this.o.initialSpec, new Date());
          try {
            await store.putClusterData(cd, 0);
            log.info(`cluster ${cd.cluster.uid} created from --initial-cluster-spec`);
          } catch (err) {
            if (!(err instanceof KeyModifiedError)) throw err;
          }
        }
        lastError = "";
      } catch (err) {
        const msg = describeError(err);
        if (msg !== lastError && !signal.aborted) log.warn(`cannot publish the sentinel info: ${msg}`);
        lastError = msg;
      }
      await this.o.clock.sleep(this.sleepIntervalMs, signal).catch(() => {});
    }
  }

  private async electionLoop(signal: AbortSignal): Promise<void> {
    const { election, log } = this.o;
    while (!signal.aborted) {
      let lead;
      try {
        lead = await election.campaign(this.o.uid, signal);
      } catch (err) {
        if (signal.aborted) break;
        log.warn(`election: ${describeError(err)}; campaigning again in ${CAMPAIGN_RETRY_MS} ms`);
        await this.o.clock.sleep(CAMPAIGN_RETRY_MS, signal).catch(() => {});
        continue;
      }
      log.info(`sentinel ${this.o.uid} is the leader`);
      const term = AbortSignal.any([signal, lead.signal]);
      try {
        await this.lead(term);
      } finally {
        if (lead.signal.aborted && !signal.aborted) log.warn(`leadership lost: ${String(lead.signal.reason ?? "")}`);
        await lead.resign().catch(() => {});
      }
    }
  }

  /** One leadership term: tick until the term ends. */
  private async lead(term: AbortSignal): Promise<void> {
    const trigger = new Trigger();
    const unwatch = this.o.store.watch(
      () => trigger.fire(),
      (err) => this.o.log.debug(`watch: ${describeError(err)}`),
    );
    const state = { memory: freshMemory(), lastWrite: -Infinity };
    try {
      while (!term.aborted) {
        try {
          await this.tick(term, state);
        } catch (err) {
          if (term.aborted) break;
          this.notice(`tick failed: ${describeError(err)}`);
        }
        await trigger.wait(this.sleepIntervalMs, term);
        await this.o.clock.sleep(MIN_TICK_GAP_MS, term).catch(() => {});
      }
    } finally {
      unwatch();
    }
  }

  private async tick(term: AbortSignal, state: { memory: SentinelMemory; lastWrite: number }): Promise<void> {
    const { store, log, clock } = this.o;
    let v: { clusterData: ClusterData; revision: number } | null;
    try {
      v = await store.getClusterData();
    } catch (err) {
      if (err instanceof ClusterDataError) {
        this.notice(`the cluster data cannot be used, nothing decided: ${err.message}`);
        return;
      }
      throw err;
    }
    if (!v) {
      this.notice("no cluster data yet: waiting for stolonctl init (or --initial-cluster-spec)");
      return;
    }
    this.sleepIntervalMs = specTimings(v.clusterData.cluster.spec).sleepIntervalMs;
    const [keepers, proxies] = await Promise.all([store.getKeepersInfo(), store.getProxiesInfo()]);
    const invalidInfos = [...keepers.invalid, ...proxies.invalid];
    const out = decide({
      clusterData: v.clusterData,
      keepersInfo: keepers.items,
      proxiesInfo: proxies.items,
      invalidInfos,
      memory: state.memory,
      now: clock.now(),
      wallNow: Date.now(),
      sentinelUID: this.o.uid,
      newUid: this.o.newUid,
    });
    state.memory = out.memory;
    // Invalid infos are named in the notes of every tick; say so once, not on every tick.
    const invalidNote = invalidInfoNotes(invalidInfos).join("; ");
    if (invalidNote !== "" && invalidNote !== this.lastInvalidNote) log.warn(invalidNote);
    this.lastInvalidNote = invalidNote;
    if (out.change === "none") return;
    // Reported figures alone (xlogpos ...) are written at most once per sleepInterval.
    if (out.change === "status" && clock.now() - state.lastWrite < this.sleepIntervalMs) return;
    if (term.aborted) return;
    try {
      await store.putClusterData(out.clusterData, v.revision);
      state.lastWrite = clock.now();
      this.lastNotice = "";
      for (const n of out.notes) log.info(n);
    } catch (err) {
      if (!(err instanceof KeyModifiedError)) throw err;
      log.debug("the cluster data changed while deciding: deciding again");
    }
  }
}
