/**
 * The leader sentinel's brain: decide(input) -> { clusterData, memory, notes }.
 *
 * Pure: the current cluster data, the keepers' and proxies' published infos, the memory kept from
 * the previous tick, the time and a uid generator go in; the next cluster data, the next memory and
 * sentences that explain every change come out. No clock, randomness, store or logging inside.
 *
 * It follows stolon's updateCluster (reference §5.1) with these deliberate differences:
 *  - a keeper whose info key is gone (its lease expired) is failed at once, without failInterval;
 *  - the new master is the eligible standby with the HIGHEST xlogpos (ties: lowest keeper uid);
 *  - the proxy barrier's second step (routing to the new master) waits until the new master has
 *    converged, so proxies never route to a standby that is still promoting;
 *  - a keeper whose init failed is not picked again for init while another keeper is available;
 *  - initMode pitr waits at most syncTimeout (stolon: forever, our default 0s too), and a restore
 *    the keeper reports failed is tried on another keeper only with pitrConfig.retryOnOtherKeeper
 *    (pitr-init.ts);
 *  - every input from etcd is checked first (info-check.ts, checkClusterData): cluster data that
 *    fails is not acted on at all, an info that fails is ignored and named.
 */
import { clusterDataProblems, masterDb } from "./cluster-data.ts";
import { formatBytes } from "./format.ts";
import { checkKeeperInfo, checkProxyInfo, invalidInfoNotes, own, uidRecord, type InvalidInfo } from "./info-check.ts";
import { FAILED_INIT_MEMORY, cloneMemory, nextAliveHistory, type SentinelMemory } from "./memory.ts";
import { jsonEqual } from "./plain-object.ts";
import { pauseStep } from "./pause.ts";
import { pitrInitStep } from "./pitr-init.ts";
import { rankCandidates, type CandidateEntry, type RankedCandidate } from "./rank.ts";
import { failUnstartedSwitchover, stoppedForSwitchover, switchoverAfterBarrier, switchoverStep } from "./switchover.ts";
import { FAKE_STANDBY_NAME, specRangeNotes, specTimings, withDefaults, type FullClusterSpec } from "./spec.ts";
import { sameForKeepers } from "./stolon-format.ts";
import { DEFAULT_KEEPER_PRIORITY } from "./types.ts";
import { MASTER_SILENT_MS, PROXY_SILENT_MARGIN_MS, SILENCE_POLL_MS, type SpecTimingsMs } from "./timing.ts";
import type { ClusterData, DB, DBSpec, Keeper, KeeperInfo, Pause, PostgresState, ProxyInfo } from "./types.ts";

export interface DecideInput {
  clusterData: ClusterData;
  /**
   * Keeper infos as listed in the store (keys that exist, i.e. whose lease is alive), by the uid
   * they are stored under. Each is checked again here (checkKeeperInfo): one that fails is not
   * used and is named in the notes. Its keeper counts as not reporting (failed after failInterval,
   * never at once: its lease is alive) and is never elected.
   */
  keepersInfo: Readonly<Record<string, KeeperInfo>>;
  /** Same for proxies (checkProxyInfo). */
  proxiesInfo: Readonly<Record<string, ProxyInfo>>;
  /** Infos the store already refused (undecodable or invalid): named in the notes. */
  invalidInfos?: readonly InvalidInfo[];
  /**
   * What etcd's lease table says, read this tick, about each keeper's last lease renewal: more
   * than this many ms ago (Store.leaseSilenceMs, whole seconds). Keepers renew their lease several
   * times a second but write their info only when it changed, so this, not a new infoUID, is what
   * says a keeper is alive. A keeper without a reading (none this tick, or a store without leases)
   * counts as alive when its infoUID changes, as stolon's sentinel does.
   */
  keeperSilenceMs?: Readonly<Record<string, number>>;
  /** Same for proxies. */
  proxySilenceMs?: Readonly<Record<string, number>>;
  memory: SentinelMemory;
  /** Monotonic milliseconds, for timers. */
  now: number;
  /** Wall-clock epoch milliseconds, for the times written into the cluster data. */
  wallNow: number;
  sentinelUID: string;
  newUid: () => string;
}

/** "none": nothing changed; "status": only reported figures (xlogpos ...); "decision": anything else. */
export type Change = "none" | "status" | "decision";

export interface DecideOutput {
  clusterData: ClusterData;
  memory: SentinelMemory;
  notes: string[];
  change: Change;
  /**
   * The election's ranking for the current master: the one this tick used when it elected a
   * master, else the one a failover would use now. Empty without a master. For explain.
   */
  candidates: RankedCandidate[];
  /**
   * Decide again after this many ms rather than at the next sleepInterval: every standby says it
   * lost the master, whose lease does not read as silent long enough yet (SILENCE_POLL_MS).
   */
  recheckInMs: number | null;
}

/** Standbys more than this many checks without WAL progress may be unable to sync (stolon's rule). */
const NOT_INCREASING_CHECKS = 10;
/** lastHealthyTime is refreshed at most this often, so a healthy cluster does not rewrite it every tick. */
const LAST_HEALTHY_REFRESH_MS = 60_000;
const WAL_SEGMENT_BYTES = 16 * 1024 * 1024;
/**
 * A standby must look diverged (other system or timeline branch) this long before it is removed:
 * a standby just rewound still reports the old timeline past the fork until it replays onto the
 * new one, which takes a moment.
 */
export const DIVERGED_GRACE_MS = 5000;

type DbState = "good" | "converging" | "failed";
/** The standbys of a converged master by their DbState. */
interface StandbyGroups {
  good: DB[];
  converging: DB[];
  failed: DB[];
}
type Validity = "unknown" | "valid" | "invalid";

export { formatBytes };

const sorted = (a: Iterable<string>) => [...new Set(a)].sort();
const sameSet = (a: readonly string[] = [], b: readonly string[] = []) => {
  const x = sorted(a);
  const y = sorted(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

/** A copy without the figures that change on every report, to tell a decision from a status update. */
function withoutVolatile(cd: ClusterData): unknown {
  const c = structuredClone(cd) as ClusterData;
  delete c.lastDecision;
  c.changeTime = "";
  c.cluster.changeTime = "";
  c.proxy.changeTime = "";
  for (const k of Object.values(c.keepers)) {
    k.changeTime = "";
    delete k.status.lastHealthyTime;
  }
  for (const d of Object.values(c.dbs)) {
    d.changeTime = "";
    delete d.status.xLogPos;
    delete d.status.olderWalFile;
    delete d.status.timelinesHistory;
    delete d.status.pgParameters;
  }
  return c;
}

/**
 * One tick of decide(), on a private copy of the cluster data and memory. run() is the order of its
 * steps; each step is a method of a readable size, grouped below by step:
 *  1. health and history bookkeeping (updateHealth and what it calls, confirmMasterLoss, activeProxies);
 *  2. the phase: initialization (initialize), or normal (normal): the election (replaceFailedMaster,
 *     chooseNewMaster, switchMaster), the proxy barrier (proxyBarrier) and the standby arrangement
 *     (arrangeStandbys and what it calls, manageSyncStandbys);
 *  3. the cluster spec copied into every db spec (copySpec);
 *  4. generations, convergence timers and change times (finish).
 * The master is always found through masterDb(), the one lookup of cluster.status.master.
 * Planned operations (issue 17) are steps in their own files, handed the Tick: pause.ts (maintenance
 * mode), switchover.ts (a switchover's phases), rank.ts (the election's ranking); so is the pitr
 * initialization (issue 19, pitr-init.ts). Exported for them only: not part of the cluster
 * module's contract. In a standby cluster (spec.role "standby") the master db is the standby
 * leader: role standby following the external source, also after a failover (switchMaster).
 */
export class Tick {
  readonly notes: string[] = [];
  /** See DecideOutput.recheckInMs. */
  recheckInMs: number | null = null;
  readonly spec: FullClusterSpec;
  /** The spec's durations in ms, each within its range. */
  readonly t: SpecTimingsMs;
  readonly failIntervalMs: number;
  readonly sleepIntervalMs: number;
  /** In-sync standbys (db uids) each DB's keeper reports now; not persisted. */
  readonly curSync = new Map<string, string[]>();
  /** The keeper and proxy infos that passed their checks, by uid (null-prototype records). */
  readonly keepersInfo: Record<string, KeeperInfo> = uidRecord();
  readonly proxiesInfo: Record<string, ProxyInfo> = uidRecord();
  /** Infos treated as absent, from the store and from the checks here. */
  readonly invalidInfos: InvalidInfo[];
  /** uids of the keepers and proxies whose info is invalid this tick. */
  readonly invalidKeepers = new Set<string>();
  readonly invalidProxies = new Set<string>();
  /** The previous data's keepers and dbs, for lookups by uid that must not reach Object.prototype. */
  readonly prevKeepers: ClusterData["keepers"];
  readonly prevDbs: ClusterData["dbs"];
  /** The pause in force this tick (set by pauseStep), or null: no master change while set. */
  pause: Pause | null = null;
  /** The election's ranking, once computed this tick (chooseNewMaster or normal). */
  ranking: RankedCandidate[] | null = null;

  constructor(
    readonly cd: ClusterData,
    readonly prev: ClusterData,
    readonly input: DecideInput,
    readonly mem: SentinelMemory,
  ) {
    this.spec = withDefaults(cd.cluster.spec);
    // Clamped to their ranges: a stored spec may hold a duration out of range (specRangeNotes).
    this.t = specTimings(cd.cluster.spec);
    this.failIntervalMs = this.t.failIntervalMs;
    this.sleepIntervalMs = this.t.sleepIntervalMs;
    this.prevKeepers = uidRecord(prev.keepers);
    this.prevDbs = uidRecord(prev.dbs);
    this.invalidInfos = [...(input.invalidInfos ?? [])];
    for (const [uid, raw] of Object.entries(input.keepersInfo)) {
      const c = checkKeeperInfo(raw, uid);
      if (c.ok) this.keepersInfo[uid] = c.info;
      else this.invalidInfos.push(c.invalid);
    }
    for (const [uid, raw] of Object.entries(input.proxiesInfo)) {
      const c = checkProxyInfo(raw, uid);
      if (c.ok) this.proxiesInfo[uid] = c.info;
      else this.invalidInfos.push(c.invalid);
    }
    for (const i of this.invalidInfos) (i.kind === "keeper" ? this.invalidKeepers : this.invalidProxies).add(i.uid);
    this.notes.push(...invalidInfoNotes(this.invalidInfos));
    this.notes.push(...specRangeNotes(cd.cluster.spec));
  }

  note(s: string): void {
    this.notes.push(s);
  }

  get now(): number {
    return this.input.now;
  }

  keeperOf(db: DB): string {
    return db.spec.keeperUID;
  }

  /** "db d1 (keeper k1)" */
  name(db: DB): string {
    return `db ${db.uid} (keeper ${db.spec.keeperUID})`;
  }

  /**
   * The tick's steps, in order: health and history bookkeeping; the phase (initialization, or the
   * election, the proxy barrier and the standby arrangement); the cluster spec copied into every
   * db spec; generations, timers and change times.
   */
  run(): void {
    this.updateHealth();
    pauseStep(this);
    if (this.cd.cluster.status.phase === "initializing") {
      this.activeProxies();
      failUnstartedSwitchover(this, "the cluster is initializing");
      if (this.pause) this.note("initializing: nothing done while the cluster is paused");
      else this.initialize();
    } else {
      this.normal();
    }
    this.copySpec();
    this.finish();
  }

  // ---- step 1: health and history bookkeeping -----------------------------------------------

  /**
   * Keepers' and dbs' health from this tick's reports: histories (when each keeper's info last
   * changed) kept in memory, new keepers joined, health decided, reported db figures copied. The
   * proxies' histories are kept by activeProxies, which the phase step calls.
   */
  updateHealth(): void {
    const infos = uidRecord<KeeperInfo>();
    for (const [uid, info] of Object.entries(this.keepersInfo)) if (info.clusterUID === this.cd.cluster.uid) infos[uid] = info;
    this.recordKeeperHistories(infos);
    for (const [uid, k] of Object.entries(this.cd.keepers)) this.updateKeeperHealth(uid, k, infos[uid]);
    this.confirmMasterLoss(infos);
    for (const db of Object.values(this.cd.dbs)) this.updateDbHealth(db, infos[this.keeperOf(db)]?.postgresState);
    for (const uid of Object.keys(this.mem.dbErrorSince)) if (!this.cd.dbs[uid]) delete this.mem.dbErrorSince[uid];
  }

  /**
   * When each reporting keeper was last known alive (its lease's reading, else its infoUID's last
   * change); a keeper seen for the first time joins.
   */
  recordKeeperHistories(infos: Record<string, KeeperInfo>): void {
    const { cd, mem, now } = this;
    for (const [uid, info] of Object.entries(infos)) {
      mem.keeperHistories[uid] = nextAliveHistory(mem.keeperHistories[uid], info.infoUID, own(this.input.keeperSilenceMs ?? {}, uid), now);
      if (!cd.keepers[uid]) {
        cd.keepers[uid] = {
          uid,
          generation: 1,
          changeTime: "",
          spec: {},
          status: { healthy: true, lastHealthyTime: new Date(this.input.wallNow).toISOString() },
        };
        this.note(`keeper ${uid} joined the cluster`);
      }
    }
    for (const uid of Object.keys(mem.keeperHistories)) if (!infos[uid] && !this.invalidKeepers.has(uid)) delete mem.keeperHistories[uid];
  }

  /** Copies a keeper's report into its status and decides its health (noted when it changes). */
  updateKeeperHealth(uid: string, k: Keeper, info: KeeperInfo | undefined): void {
    if (info) {
      k.status.bootUUID = info.bootUUID;
      k.status.postgresBinaryVersion = info.postgresBinaryVersion;
      k.status.canBeMaster = info.canBeMaster;
      k.status.canBeSynchronousReplica = info.canBeSynchronousReplica;
      if (info.priority === undefined) delete k.status.priority;
      else k.status.priority = info.priority;
    }
    let { healthy, why } = this.keeperReportHealth(uid, info);
    if (info && this.mem.keeperSilent[uid] !== undefined) {
      // Failed by the silent-master rule: until its info changes or its lease reads renewed again.
      if (this.mem.keeperSilent[uid] === info.infoUID && own(this.input.keeperSilenceMs ?? {}, uid) !== 0) {
        healthy = false;
        why = "still silent";
      } else delete this.mem.keeperSilent[uid];
    }
    if (k.status.forceFail) {
      healthy = false;
      why = "failkeeper was asked for it";
      k.status.forceFail = false;
    }
    // An absent healthy is false (stolon's omitempty): an unhealthy keeper stays as it was written.
    if ((k.status.healthy === true) !== healthy) {
      this.note(healthy ? `keeper ${uid} is healthy` : `keeper ${uid} is unhealthy: ${why}`);
      k.status.healthy = healthy;
    }
    if (healthy) {
      const last = k.status.lastHealthyTime ? Date.parse(k.status.lastHealthyTime) : NaN;
      if (!(this.input.wallNow - last < LAST_HEALTHY_REFRESH_MS)) k.status.lastHealthyTime = new Date(this.input.wallNow).toISOString();
    }
  }

  /** A keeper's health from its report alone (present, invalid or expired; changing or stale). */
  keeperReportHealth(uid: string, info: KeeperInfo | undefined): { healthy: boolean; why: string } {
    const { mem, now } = this;
    if (!info && this.invalidKeepers.has(uid)) {
      // An invalid info is no report, but no proof of death either (its lease is alive): the
      // keeper is failed after failInterval, like one whose reports stopped changing, never at
      // once. One garbage write over a healthy master's info must not fail it over.
      const since = (mem.keeperErrorSince[uid] ??= now);
      const healthy = now - since <= this.failIntervalMs;
      return { healthy, why: healthy ? "" : `its info has been invalid for ${((now - since) / 1000).toFixed(1)}s` };
    }
    if (!info) {
      // The info key lives under the keeper's lease: no key means the lease expired.
      delete mem.keeperErrorSince[uid];
      return { healthy: false, why: "its info key expired (no report within its lease)" };
    }
    const h = mem.keeperHistories[uid];
    const stale = h !== undefined && now - h.since > this.sleepIntervalMs;
    if (stale) mem.keeperErrorSince[uid] ??= now;
    else delete mem.keeperErrorSince[uid];
    const since = mem.keeperErrorSince[uid];
    const healthy = since === undefined || now - since <= this.failIntervalMs;
    return { healthy, why: healthy ? "" : `it has not renewed its lease (or changed its info) for ${((now - h!.since) / 1000).toFixed(1)}s` };
  }

  /** Copies what a db's keeper reports about it into its status and decides its health. */
  updateDbHealth(db: DB, st: PostgresState | null | undefined): void {
    const { cd, mem, now } = this;
    if (!st || st.uid !== db.uid) {
      mem.dbErrorSince[db.uid] ??= now;
    } else {
      const x = mem.dbXlog[db.uid];
      mem.dbXlog[db.uid] = x && x.xlogpos === st.xLogPos ? { xlogpos: x.xlogpos, count: x.count + 1 } : { xlogpos: st.xLogPos, count: 0 };
      db.status.listenAddress = st.listenAddress;
      db.status.port = st.port;
      db.status.currentGeneration = st.generation;
      if (st.healthy) {
        delete mem.dbErrorSince[db.uid];
        db.status.systemdID = st.systemID;
        db.status.timelineID = st.timelineID;
        db.status.xLogPos = st.xLogPos;
        db.status.timelinesHistory = st.timelinesHistory;
        db.status.pgParameters = st.pgParameters;
        db.status.olderWalFile = st.olderWalFile;
        this.curSync.set(db.uid, st.synchronousStandbys ?? []);
      } else {
        mem.dbErrorSince[db.uid] ??= now;
      }
    }
    const since = mem.dbErrorSince[db.uid];
    const keeper = cd.keepers[this.keeperOf(db)];
    const healthy = (since === undefined || now - since <= this.failIntervalMs) && keeper?.status.healthy === true;
    if (db.status.healthy !== healthy && db.status.healthy !== undefined) this.note(`${this.name(db)} is ${healthy ? "healthy" : "unhealthy"}`);
    db.status.healthy = healthy;
  }

  /** The fast path for a dead master: see MASTER_SILENT_MS. */
  confirmMasterLoss(infos: Record<string, KeeperInfo>): void {
    const { cd, mem, now } = this;
    const master = masterDb(this.cd);
    const mk = master ? cd.keepers[this.keeperOf(master)] : undefined;
    const h = master ? mem.keeperHistories[this.keeperOf(master)] : undefined;
    if (!master || !mk?.status.healthy || !h) return;
    const witnesses = Object.values(cd.dbs).filter((d) => {
      if (d.spec.followConfig?.type !== "internal" || d.spec.followConfig.dbuid !== master.uid) return false;
      const info = infos[this.keeperOf(d)];
      const wh = mem.keeperHistories[this.keeperOf(d)];
      return cd.keepers[this.keeperOf(d)]?.status.healthy && info?.postgresState?.uid === d.uid && info.postgresState.healthy && wh && wh.since >= h.since;
    });
    if (witnesses.length === 0) return;
    if (!witnesses.every((w) => infos[this.keeperOf(w)]!.postgresState!.receivingWal === false)) return;
    if (now - h.since < MASTER_SILENT_MS) {
      // Every standby lost the master: read its lease again soon rather than at the next sleepInterval.
      this.recheckInMs = SILENCE_POLL_MS;
      return;
    }
    mk.status.healthy = false;
    mem.keeperSilent[mk.uid] = h.infoUID;
    this.note(
      `keeper ${mk.uid} is unhealthy: silent for ${((now - h.since) / 1000).toFixed(1)}s and its standbys (${witnesses.map((w) => this.keeperOf(w)).join(", ")}) lost their replication connection to it`,
    );
  }

  /**
   * Proxies known alive (their lease's reading, else a new infoUID) within their own proxyTimeout
   * plus PROXY_SILENT_MARGIN_MS.
   */
  activeProxies(): string[] {
    const { mem, now } = this;
    const active: string[] = [];
    for (const [uid, p] of Object.entries(this.proxiesInfo)) {
      mem.proxyHistories[uid] = nextAliveHistory(mem.proxyHistories[uid], p.infoUID, own(this.input.proxySilenceMs ?? {}, uid), now);
      const timeoutMs = Math.max(1, (p.ProxyTimeout ?? 0) / 1e6);
      if (now - mem.proxyHistories[uid]!.since <= timeoutMs + PROXY_SILENT_MARGIN_MS) active.push(uid);
    }
    // A proxy whose info turned invalid may still route: it stays active (and is waited for at
    // the barrier, its generation unknown) until the spec's proxyTimeout plus the margin has
    // passed since its last valid report, as if it had gone silent then.
    const proxyTimeoutMs = this.t.proxyTimeoutMs;
    for (const uid of this.invalidProxies) {
      const h = mem.proxyHistories[uid];
      if (h && !this.proxiesInfo[uid] && now - h.since <= proxyTimeoutMs + PROXY_SILENT_MARGIN_MS) active.push(uid);
    }
    for (const uid of Object.keys(mem.proxyHistories)) if (!this.proxiesInfo[uid] && !this.invalidProxies.has(uid)) delete mem.proxyHistories[uid];
    return active.sort();
  }

  // ---- what the steps ask about a db (no changes) ------------------------------------------------

  convergence(db: DB, timeoutMs: number): "converged" | "converging" | "failed" {
    if (db.status.currentGeneration === db.generation) return "converged";
    const c = this.mem.dbConvergence[db.uid];
    if (timeoutMs > 0 && c && c.generation === db.generation && this.now - c.since > timeoutMs) return "failed";
    return "converging";
  }

  dbState(db: DB): DbState {
    if (this.cd.keepers[this.keeperOf(db)]?.status.healthy !== true) return "failed";
    const timeout =
      db.generation === 1 && db.spec.initMode === "resync" ? this.t.syncTimeoutMs : this.t.convergenceTimeoutMs;
    const c = this.convergence(db, timeout);
    if (c === "failed") return "failed";
    if (c === "converging") return "converging";
    return db.status.healthy ? "good" : "failed";
  }

  validity(db: DB, master: DB): Validity {
    if (!db.status.currentGeneration) return "unknown";
    if (db.status.systemdID && master.status.systemdID && db.status.systemdID !== master.status.systemdID) return "invalid";
    if (isDifferentTimelineBranch(master, db) && !this.aheadOnSourceTimeline(db, master)) return "invalid";
    return "valid";
  }

  /**
   * In a standby cluster the timelines come from the external source: a standby that replayed
   * the source's switch to a new timeline before the leader's recorded status did (reported
   * figures are written at most once per sleepInterval, and a crashed leader's stay as they were)
   * is ahead on the same history, not on another branch.
   */
  aheadOnSourceTimeline(db: DB, master: DB): boolean {
    return this.spec.role === "standby" && (db.status.timelineID ?? 0) > (master.status.timelineID ?? 0);
  }

  /** False when a standby's WAL position is older than anything the master still has. */
  canSync(db: DB, master: DB): boolean {
    const older = master.status.olderWalFile;
    if (!older || db.uid === master.uid || db.spec.role !== "standby" || db.spec.followConfig?.type !== "internal") return true;
    if (db.generation <= 1 || !db.status.healthy) return true;
    const x = this.mem.dbXlog[db.uid];
    if (db.status.xLogPos === master.status.xLogPos || !x || x.count <= NOT_INCREASING_CHECKS) return true;
    return walSegmentName(db.status.xLogPos ?? 0) >= older.slice(8);
  }

  isStandbyType(db: DB): boolean {
    return db.spec.role === "standby" && db.spec.followConfig?.type !== "external";
  }

  // ---- step 2a: the initializing phase ---------------------------------------------------------

  /** Initialization: the first master is created, then waited for until it is ready. */
  initialize(): void {
    if (this.spec.initMode === "pitr") return pitrInitStep(this);
    const master = masterDb(this.cd);
    if (!master) this.createFirstMaster();
    else this.checkInitialized(master);
  }

  /** The first master's db, on the existingConfig keeper or the first healthy keeper that may be master. */
  createFirstMaster(): void {
    const { cd, spec } = this;
    let keeperUID: string | undefined;
    if (spec.initMode === "existing") {
      keeperUID = spec.existingConfig?.keeperUID;
      if (!keeperUID || !cd.keepers[keeperUID]) {
        this.note(`initMode existing: keeper ${keeperUID ?? "(unset)"} is not known yet: waiting for it to report`);
        return;
      }
    } else {
      const healthy = Object.keys(cd.keepers)
        .sort()
        // Priority 0 is never elected automatically: not for the first master either.
        .filter((k) => cd.keepers[k]!.status.healthy && cd.keepers[k]!.status.canBeMaster !== false && cd.keepers[k]!.status.priority !== 0);
      keeperUID = healthy.find((k) => !this.mem.failedInit.includes(k)) ?? healthy[0];
      if (!keeperUID) {
        this.note("initializing: no healthy keeper that can be master yet: waiting");
        return;
      }
    }
    const uid = this.addDb(keeperUID, {
      initMode: spec.initMode === "existing" ? "existing" : "new",
      role: "master",
      newConfig: spec.newConfig,
      includePreviousConfig: spec.mergePgParameters,
    });
    cd.cluster.status.master = uid;
    this.note(`initializing the cluster (initMode ${spec.initMode}): db ${uid} on keeper ${keeperUID} will be the first master`);
  }

  /** The first master converged: phase normal. It failed to in time: forgotten, to try again. */
  checkInitialized(master: DB): void {
    const { cd, spec } = this;
    const timeout = spec.initMode === "existing" ? this.t.convergenceTimeoutMs : this.t.initTimeoutMs;
    const c = this.convergence(master, timeout);
    if (c === "converged" && master.status.healthy) {
      master.spec.initMode = "none";
      master.spec.includePreviousConfig = false;
      if (spec.mergePgParameters && master.status.pgParameters) {
        cd.cluster.spec.pgParameters = { ...master.status.pgParameters };
      }
      cd.cluster.status.phase = "normal";
      this.note(`db ${master.uid} on keeper ${master.spec.keeperUID} is initialized: the cluster is ready (phase normal)`);
    } else if (c === "failed" && spec.initMode !== "existing") {
      this.note(`db ${master.uid} on keeper ${master.spec.keeperUID} did not initialize within initTimeout ${spec.initTimeout}: trying again`);
      this.mem.failedInit = [...this.mem.failedInit.filter((k) => k !== master.spec.keeperUID), master.spec.keeperUID].slice(-FAILED_INIT_MEMORY);
      cd.dbs = uidRecord();
      delete cd.cluster.status.master;
    }
  }

  // ---- step 2b: the normal phase: the election ------------------------------------------------

  /** The normal phase: a failed master replaced (the election), the proxies, then the standbys. */
  normal(): void {
    const { spec } = this;
    if (!this.pause) this.removeDeadKeepers();
    let master = masterDb(this.cd);
    if (!master) {
      this.note("no master db in the cluster data: nothing can be decided (re-initialize with stolonctl init)");
      failUnstartedSwitchover(this, "the cluster has no master db");
      return;
    }
    const replaced = this.replaceFailedMaster(master);
    // After an election too: a switchover running when its master failed ends there.
    switchoverStep(this);
    if (replaced) return;
    master = masterDb(this.cd)!;
    this.ranking ??= this.rank(master);
    this.proxyBarrier(master);
    switchoverAfterBarrier(this);
    if (spec.role === "master" && master.spec.followConfig && !this.pause) {
      master.spec.role = "master";
      master.spec.followConfig = null;
      this.note(`db ${master.uid} is promoted: the cluster role is master`);
    }
    if (master.status.healthy && this.convergence(master, this.t.convergenceTimeoutMs) === "converged") {
      this.arrangeStandbys(master);
    }
    this.setFollowers(master);
  }

  /**
   * The election: when the master is unhealthy or did not converge in time, the best standby
   * becomes master. True when it did (this tick ends there); false when the master stays.
   */
  replaceFailedMaster(master: DB): boolean {
    const why = this.masterFailure(master);
    if (why === null) return false;
    if (this.pause) {
      this.note(`master ${this.name(master)} ${why}: no failover while the cluster is paused`);
      return false;
    }
    const next = this.chooseNewMaster(master, why);
    if (!next) return false;
    this.switchMaster(master, next);
    this.setFollowers(next);
    return true;
  }

  /**
   * Why the master counts as failed, or null. A master its keeper stopped for the running
   * switchover is down on purpose: it fails only with its keeper (info gone or stale past
   * failInterval), never for its PostgreSQL being down or its new generation not reached.
   */
  masterFailure(master: DB): string | null {
    if (stoppedForSwitchover(this, master)) {
      return this.cd.keepers[this.keeperOf(master)]?.status.healthy === true ? null : "is unhealthy (its keeper failed while it was stopped for a switchover)";
    }
    if (!master.status.healthy) return "is unhealthy";
    if (this.convergence(master, this.t.convergenceTimeoutMs) === "failed") return `did not converge within convergenceTimeout ${this.spec.convergenceTimeout}`;
    return null;
  }

  removeDeadKeepers(): void {
    const interval = this.t.deadKeeperRemovalIntervalMs;
    const withDb = new Set(Object.values(this.cd.dbs).map((d) => this.keeperOf(d)));
    for (const [uid, k] of Object.entries(this.cd.keepers)) {
      if (k.status.healthy || withDb.has(uid)) continue;
      const last = k.status.lastHealthyTime ? Date.parse(k.status.lastHealthyTime) : NaN;
      if (Number.isFinite(last) && last + interval < this.input.wallNow) {
        delete this.cd.keepers[uid];
        this.note(`keeper ${uid} removed: unhealthy and without a db since ${k.status.lastHealthyTime} (deadKeeperRemovalInterval ${this.spec.deadKeeperRemovalInterval})`);
      }
    }
  }

  /**
   * Why `db` cannot become master in place of `master` (decide's rules for a failover and a
   * switchover alike), or null when it can. Priority is the ranking's (rank.ts).
   */
  exclusion(db: DB, master: DB): string | null {
    const keeper = this.cd.keepers[this.keeperOf(db)];
    const sync = master.spec.synchronousReplication === true;
    const state = this.dbState(db);
    const validity = this.validity(db, master);
    const lag = (master.status.xLogPos ?? 0) - (db.status.xLogPos ?? 0);
    if (this.invalidKeepers.has(this.keeperOf(db))) return "its keeper's info is invalid";
    if (keeper?.status.canBeMaster === false) return "--can-be-master=false";
    if (state !== "good") return state === "converging" ? "still converging" : "unhealthy";
    if (validity !== "valid") return validity === "unknown" ? "never converged" : "on another database system or timeline branch";
    if (db.status.timelineID !== master.status.timelineID && !this.aheadOnSourceTimeline(db, master))
      return `on timeline ${db.status.timelineID}, the master on ${master.status.timelineID}`;
    if (sync) {
      const inSync = (master.status.synchronousStandbys ?? []).filter((u) => (master.spec.synchronousStandbys ?? []).includes(u));
      if (!inSync.includes(db.uid)) return "not known to be in sync (synchronous replication)";
    } else if (lag > this.spec.maxStandbyLag) return `lag ${formatBytes(lag)} > maxStandbyLag ${formatBytes(this.spec.maxStandbyLag)}`;
    return null;
  }

  /** Every db but the master as the election sees it, by db uid. */
  candidateEntries(master: DB): CandidateEntry[] {
    return Object.values(this.cd.dbs)
      .filter((db) => db.uid !== master.uid)
      .sort((a, b) => a.uid.localeCompare(b.uid))
      .map((db) => {
        const excludedBy = this.exclusion(db, master);
        const priority = this.cd.keepers[this.keeperOf(db)]?.status.priority ?? DEFAULT_KEEPER_PRIORITY;
        const e: CandidateEntry = { dbUid: db.uid, keeperUid: this.keeperOf(db), xLogPos: db.status.xLogPos ?? 0, priority };
        if (excludedBy !== null) e.excludedBy = excludedBy;
        return e;
      });
  }

  rank(master: DB): RankedCandidate[] {
    return rankCandidates(this.candidateEntries(master));
  }

  /** The best new master (rank.ts), with a note on every candidate; undefined (and why) when none. */
  chooseNewMaster(master: DB, why: string): DB | undefined {
    const ranking = (this.ranking = this.rank(master));
    const who = (c: RankedCandidate) => `keeper ${c.keeperUid} (db ${c.dbUid})`;
    const reasons = ranking.filter((c) => c.excludedBy !== undefined).map((c) => `${who(c)} excluded: ${c.excludedBy}`);
    const best = ranking.find((c) => c.chosen);
    if (!best) {
      this.note(`master ${this.name(master)} ${why}, but no standby can replace it: ${reasons.join("; ") || "there is no standby"}`);
      return undefined;
    }
    const considered = ranking
      .filter((c) => c.excludedBy === undefined)
      .map((c) => `${c.keeperUid} at ${c.xLogPos}${c.priority !== DEFAULT_KEEPER_PRIORITY ? ` priority ${c.priority}` : ""}`)
      .join(", ");
    const db = this.cd.dbs[best.dbUid]!;
    const rule = best.rule === "most advanced" ? "the eligible standby with the highest WAL position" : `the ${best.rule}`;
    this.note(`master ${this.name(master)} ${why}: electing ${this.name(db)}, ${rule} (${considered})${reasons.length ? `; ${reasons.join("; ")}` : ""}`);
    return db;
  }

  /**
   * `next` becomes the cluster's master db: a master, or in a standby cluster (spec.role
   * "standby") the new standby leader, which follows the external source and is never writable.
   */
  switchMaster(old: DB, next: DB): void {
    const { cd, spec } = this;
    old.spec.followers = [];
    if (spec.role === "standby") {
      next.spec.role = "standby";
      // copySpec fills in the source's settings (standbyConfig) in the same tick.
      next.spec.followConfig = { type: "external" };
      this.note(`${this.name(next)} is the new standby leader: it follows the external source (the cluster role is standby), it is not promoted`);
    } else {
      next.spec.role = "master";
      next.spec.followConfig = null;
    }
    cd.cluster.status.master = next.uid;
    if (cd.proxy.spec.masterDbUid) {
      delete cd.proxy.spec.masterDbUid;
      cd.proxy.generation++;
      this.note(`proxies told to close their connections to the old master (proxy generation ${cd.proxy.generation})`);
    }
    if (spec.synchronousReplication && spec.role === "master") {
      // Synchronous from its first configuration: no commit is acknowledged by the new master
      // before a standby has it.
      next.spec.synchronousReplication = true;
      const list = (old.spec.synchronousStandbys ?? []).map((u) => (u === next.uid ? old.uid : u));
      next.spec.synchronousStandbys = sorted(list);
      next.spec.externalSynchronousStandbys = list.length === 0 && spec.minSynchronousStandbys > 0 ? [FAKE_STANDBY_NAME] : [];
      next.status.synchronousStandbys = [];
    } else {
      next.spec.synchronousReplication = false;
      next.spec.synchronousStandbys = [];
      next.spec.externalSynchronousStandbys = [];
    }
  }

  // ---- step 2b: the normal phase: the proxies -------------------------------------------------

  /**
   * The two-step barrier: after a master change masterDbUid is empty; it is set to the new master
   * only once every active proxy acknowledged the generation that emptied it (so none still routes
   * to the old master) and the new master has converged.
   */
  proxyBarrier(master: DB): void {
    const { cd } = this;
    const active = this.activeProxies();
    if (cd.proxy.spec.masterDbUid && cd.proxy.spec.masterDbUid !== master.uid) {
      // Proxies route to a db that is not the master (the master changed some other way): step 1.
      this.note(`proxies route to db ${cd.proxy.spec.masterDbUid}, which is not the master: telling them to close their connections`);
      delete cd.proxy.spec.masterDbUid;
      cd.proxy.generation++;
      return;
    }
    if (!cd.proxy.spec.masterDbUid) {
      const lagging = active.filter((p) => this.proxiesInfo[p]?.Generation !== cd.proxy.generation);
      if (lagging.length > 0) {
        this.note(`waiting for proxies ${lagging.join(", ")} to acknowledge proxy generation ${cd.proxy.generation} before routing to the new master`);
        return;
      }
      if (this.convergence(master, 0) !== "converged" || !master.status.healthy) {
        this.note(`waiting for master ${this.name(master)} to converge before proxies route to it`);
        return;
      }
      cd.proxy.spec.masterDbUid = master.uid;
      cd.proxy.spec.enabledProxies = active;
      // A switchover's hold ends in the same write: held clients go to the new master.
      const held = cd.proxy.spec.hold ? `; hold ${cd.proxy.spec.hold.id} released` : "";
      delete cd.proxy.spec.hold;
      cd.proxy.generation++;
      this.note(`proxies route to master ${this.name(master)} (proxy generation ${cd.proxy.generation}; enabled: ${active.join(", ") || "none yet"})${held}`);
      return;
    }
    if (!sameSet(cd.proxy.spec.enabledProxies ?? [], active) || (cd.proxy.spec.enabledProxies ?? []).length !== active.length) {
      cd.proxy.spec.enabledProxies = active;
      cd.proxy.generation++;
      this.note(`enabled proxies: ${active.join(", ") || "none"} (proxy generation ${cd.proxy.generation})`);
    }
  }

  // ---- step 2b: the normal phase: the standby arrangement --------------------------------------

  /**
   * The standbys around a converged master: unfit ones removed, the synchronous set managed, their
   * number fitted to maxStandbysPerSender, and every standby's spec pointed at the master.
   */
  arrangeStandbys(master: DB): void {
    // Paused: the dbs that exist keep their configuration; none is removed and none added.
    if (!this.pause) this.removeUnfitStandbys(master);
    const groups = this.classifyStandbys(master);
    this.manageSyncStandbys(master, groups.good);
    if (!this.pause) {
      if (groups.good.length >= this.spec.maxStandbysPerSender) this.trimStandbys(master, groups);
      else this.addStandbys(master, groups);
    }
    this.resetStandbySpecs(master);
  }

  /** Removes old masters, standbys whose data diverged (after DIVERGED_GRACE_MS) and those that cannot sync. */
  removeUnfitStandbys(master: DB): void {
    const { cd } = this;
    for (const db of Object.values(cd.dbs)) {
      if (db.uid === master.uid) continue;
      if (!this.isStandbyType(db)) {
        delete cd.dbs[db.uid];
        this.note(`${this.name(db)} removed: old master (the master is now db ${master.uid})`);
      } else if (this.validity(db, master) === "invalid") {
        const since = (this.mem.dbInvalidSince[db.uid] ??= this.now);
        if (this.now - since >= DIVERGED_GRACE_MS || db.status.systemdID !== master.status.systemdID) {
          delete cd.dbs[db.uid];
          this.note(`${this.name(db)} removed: its data diverged from the master's (other system or timeline branch); the keeper will get a new db`);
        }
      } else if (!this.canSync(db, master)) {
        delete cd.dbs[db.uid];
        this.note(`${this.name(db)} removed: it needs WAL the master no longer has (oldest ${master.status.olderWalFile}); the keeper will get a new db`);
      }
    }
  }

  /** The remaining standbys by state; a good one's initMode becomes none. */
  classifyStandbys(master: DB): StandbyGroups {
    const standbys = Object.values(this.cd.dbs).filter((d) => d.uid !== master.uid && this.isStandbyType(d));
    const groups: StandbyGroups = { good: [], converging: [], failed: [] };
    for (const db of standbys) {
      // A standby that looks diverged (within its grace period) is neither good nor electable.
      const s = this.validity(db, master) === "invalid" ? "converging" : this.dbState(db);
      groups[s === "good" ? "good" : s === "converging" ? "converging" : "failed"].push(db);
      if (s === "good" && db.spec.initMode !== "none") db.spec.initMode = "none";
    }
    return groups;
  }

  /** Enough good standbys: the others, then the good ones furthest behind, go (never a synchronous one). */
  trimStandbys(master: DB, { good, converging, failed }: StandbyGroups): void {
    const { cd } = this;
    const syncSet = new Set(master.spec.synchronousStandbys ?? []);
    const max = this.spec.maxStandbysPerSender;
    for (const db of [...failed, ...converging]) {
      if (syncSet.has(db.uid)) continue;
      delete cd.dbs[db.uid];
      this.note(`${this.name(db)} removed: ${max} good standbys are enough (maxStandbysPerSender)`);
    }
    const extra = good.filter((d) => !syncSet.has(d.uid)).sort((a, b) => (a.status.xLogPos ?? 0) - (b.status.xLogPos ?? 0));
    let n = good.length - max;
    for (const db of extra) {
      if (n-- <= 0) break;
      delete cd.dbs[db.uid];
      this.note(`${this.name(db)} removed: more standbys than maxStandbysPerSender ${max}`);
    }
  }

  /** Too few standbys: new ones on free healthy keepers, up to maxStandbysPerSender. */
  addStandbys(master: DB, { good, converging, failed }: StandbyGroups): void {
    const { cd } = this;
    const busy = new Set(Object.values(cd.dbs).map((d) => this.keeperOf(d)));
    const free = Object.keys(cd.keepers)
      .sort()
      .filter((k) => !busy.has(k) && cd.keepers[k]!.status.healthy);
    let want = this.spec.maxStandbysPerSender - good.length - converging.length;
    for (const keeperUID of free) {
      if (want-- <= 0) break;
      const uid = this.addDb(keeperUID, { initMode: "resync", role: "standby", followConfig: { type: "internal", dbuid: master.uid } });
      this.note(`new standby db ${uid} on free keeper ${keeperUID}, following db ${master.uid}${failed.length ? ` (replacing failed ${failed.map((d) => this.name(d)).join(", ")})` : ""}`);
    }
  }

  /** Every standby follows the master, asynchronously, with no followers of its own. */
  resetStandbySpecs(master: DB): void {
    for (const db of Object.values(this.cd.dbs)) {
      if (db.uid === master.uid || !this.isStandbyType(db)) continue;
      db.spec.role = "standby";
      db.spec.synchronousReplication = false;
      db.spec.followers = [];
      db.spec.followConfig = { type: "internal", dbuid: master.uid };
      db.spec.synchronousStandbys = [];
      db.spec.externalSynchronousStandbys = [];
      db.status.synchronousStandbys = [];
    }
  }

  /**
   * Synchronous standbys (stolon's rules): the spec list changes only when every member is known
   * to be in sync, a new member is added before an old one is removed, and the fake standby fills
   * any shortfall below minSynchronousStandbys.
   */
  manageSyncStandbys(master: DB, good: DB[]): void {
    const { cd, spec } = this;
    if (!(spec.synchronousReplication && spec.role === "master")) {
      master.spec.synchronousReplication = false;
      master.spec.synchronousStandbys = [];
      master.spec.externalSynchronousStandbys = [];
      master.status.synchronousStandbys = [];
      return;
    }
    master.spec.synchronousReplication = true;
    const min = spec.minSynchronousStandbys;
    const max = spec.maxSynchronousStandbys;
    const isGood = new Set(good.map((d) => d.uid));
    let specSync = sorted(master.spec.synchronousStandbys ?? []);
    let statusSync = sorted((master.status.synchronousStandbys ?? []).filter((u) => specSync.includes(u)));
    if (!sameSet(statusSync, specSync)) {
      const reported = this.curSync.get(master.uid) ?? [];
      statusSync = sorted([...statusSync, ...reported.filter((u) => specSync.includes(u))]);
      const hopeless = specSync.filter((u) => !statusSync.includes(u) && (!cd.dbs[u] || !isGood.has(u)));
      if (hopeless.length > 0) {
        this.note(`synchronous standbys ${hopeless.join(", ")} gone or failed before being in sync: no longer waiting for them`);
        specSync = statusSync;
      }
      master.status.synchronousStandbys = statusSync;
      master.spec.synchronousStandbys = specSync;
    }
    if (!sameSet(statusSync, specSync)) {
      this.note(`waiting for synchronous standbys ${specSync.filter((u) => !statusSync.includes(u)).join(", ")} to be in sync`);
      return;
    }
    const prev = specSync;
    let next = prev.filter((u) => cd.dbs[u] && isGood.has(u)).slice(0, max);
    const best = good
      .filter((d) => cd.keepers[this.keeperOf(d)]?.status.canBeSynchronousReplica !== false)
      .filter((d) => d.status.timelineID === master.status.timelineID)
      .sort((a, b) => (b.status.xLogPos ?? 0) - (a.status.xLogPos ?? 0) || a.uid.localeCompare(b.uid));
    for (const d of best) if (next.length < max && !next.includes(d.uid)) next.push(d.uid);
    for (const u of prev) if (next.length < min && !next.includes(u) && cd.dbs[u]) next.push(u);
    if (next.some((u) => !prev.includes(u))) for (const u of prev) if (cd.dbs[u] && !next.includes(u)) next.push(u);
    next = sorted(next);
    const external = next.length < min ? [FAKE_STANDBY_NAME] : [];
    if (!sameSet(next, prev) || !sameSet(external, master.spec.externalSynchronousStandbys ?? [])) {
      this.note(
        `synchronous standbys: ${next.join(", ") || "none"}${external.length ? ` plus ${FAKE_STANDBY_NAME} (fewer than minSynchronousStandbys ${min})` : ""} (were ${prev.join(", ") || "none"})`,
      );
    }
    master.spec.synchronousStandbys = next;
    master.spec.externalSynchronousStandbys = external;
    master.status.synchronousStandbys = statusSync.filter((u) => next.includes(u));
  }

  setFollowers(master: DB): void {
    master.spec.followers = sorted(
      Object.values(this.cd.dbs)
        .filter((d) => d.spec.followConfig?.type === "internal" && d.spec.followConfig.dbuid === master.uid)
        .map((d) => d.uid),
    );
  }

  // ---- steps 3 and 4: the cluster spec into every db spec; generations, timers, change times ----

  /** A new db (generation 1, no status yet) on `keeperUID` with baseDbSpec(o); its uid. */
  addDb(keeperUID: string, o: Pick<DBSpec, "initMode" | "role"> & Partial<DBSpec>): string {
    const uid = this.input.newUid();
    this.cd.dbs[uid] = { uid, generation: 1, changeTime: "", spec: this.baseDbSpec(keeperUID, o), status: {} };
    return uid;
  }

  baseDbSpec(keeperUID: string, o: Pick<DBSpec, "initMode" | "role"> & Partial<DBSpec>): DBSpec {
    return {
      keeperUID,
      requestTimeout: this.spec.requestTimeout,
      maxStandbys: this.spec.maxStandbys,
      synchronousReplication: false,
      usePgrewind: this.spec.usePgrewind,
      additionalWalSenders: this.spec.additionalWalSenders,
      followers: [],
      ...o,
    };
  }

  /** Copies the cluster spec's fields into every DB spec (stolon's step 7). */
  copySpec(): void {
    const { cd } = this;
    // Re-read: initialization may have merged the instance's parameters into the spec.
    const spec = withDefaults(cd.cluster.spec);
    for (const db of Object.values(cd.dbs)) {
      db.spec.requestTimeout = spec.requestTimeout;
      db.spec.maxStandbys = spec.maxStandbys;
      db.spec.usePgrewind = spec.usePgrewind;
      db.spec.additionalWalSenders = spec.additionalWalSenders;
      db.spec.pgParameters = { ...spec.pgParameters };
      db.spec.pgHBA = spec.pgHBA === null ? null : [...spec.pgHBA];
      const masterType = db.spec.role === "master" || db.spec.followConfig?.type === "external";
      db.spec.additionalReplicationSlots = masterType ? [...(spec.additionalMasterReplicationSlots ?? [])] : [];
      if (db.spec.followConfig?.type === "external") {
        db.spec.followConfig.standbySettings = spec.standbyConfig?.standbySettings;
        db.spec.followConfig.archiveRecoverySettings = spec.standbyConfig?.archiveRecoverySettings;
      }
    }
  }

  /** Generations, convergence timers and change times for what differs from the previous data. */
  finish(): void {
    const { cd, prev, mem } = this;
    const iso = new Date(this.input.wallNow).toISOString();
    for (const db of Object.values(cd.dbs)) {
      const before = this.prevDbs[db.uid];
      // A spec or status that differs only in how zero values are written (stolon's sentinel
      // leaves out false and 0, writes null for empty lists) keeps its stored form: no new generation.
      if (before && sameForKeepers(before.spec, db.spec)) db.spec = structuredClone(before.spec);
      if (before && sameForKeepers(before.status, db.status)) db.status = structuredClone(before.status);
      if (before && !jsonEqual(before.spec, db.spec)) db.generation = before.generation + 1;
      if (!before || !jsonEqual(before, db)) db.changeTime = iso;
      if (db.status.currentGeneration !== db.generation) {
        const c = mem.dbConvergence[db.uid];
        if (!c || c.generation !== db.generation) mem.dbConvergence[db.uid] = { generation: db.generation, since: this.now };
      } else delete mem.dbConvergence[db.uid];
    }
    for (const uid of Object.keys(mem.dbConvergence)) if (!cd.dbs[uid]) delete mem.dbConvergence[uid];
    for (const uid of Object.keys(mem.dbXlog)) if (!cd.dbs[uid]) delete mem.dbXlog[uid];
    const master = masterDb(this.cd);
    for (const uid of Object.keys(mem.dbInvalidSince))
      if (!cd.dbs[uid] || !master || this.validity(cd.dbs[uid]!, master) !== "invalid") delete mem.dbInvalidSince[uid];
    for (const [uid, k] of Object.entries(cd.keepers)) if (!this.prevKeepers[uid] || !jsonEqual(this.prevKeepers[uid], k)) k.changeTime = iso;
    if (!jsonEqual(prev.proxy, cd.proxy)) cd.proxy.changeTime = iso;
    if (!jsonEqual(prev.cluster, cd.cluster)) cd.cluster.changeTime = iso;
  }
}

/** The WAL segment file name (timeline left out) that holds `pos`, with 16 MiB segments. */
export function walSegmentName(pos: number): string {
  const seg = Math.floor(pos / WAL_SEGMENT_BYTES);
  const perId = 2 ** 32 / WAL_SEGMENT_BYTES;
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
  return hex(Math.floor(seg / perId)) + hex(seg % perId);
}

/** stolon's isDifferentTimelineBranch: true when `db` cannot follow `followed` by streaming. */
export function isDifferentTimelineBranch(followed: DB, db: DB): boolean {
  const ftl = followed.status.timelineID ?? 0;
  const tl = db.status.timelineID ?? 0;
  if (ftl < tl) return true;
  if (ftl === tl) {
    if (tl <= 1) return false;
    const a = followed.status.timelinesHistory?.find((h) => h.timelineID === tl - 1);
    const b = db.status.timelinesHistory?.find((h) => h.timelineID === tl - 1);
    return a !== undefined && b !== undefined && (a.switchPoint ?? 0) !== (b.switchPoint ?? 0);
  }
  const h = followed.status.timelinesHistory?.find((e) => e.timelineID === tl);
  return h !== undefined && (h.switchPoint ?? 0) < (db.status.xLogPos ?? 0);
}

export function decide(input: DecideInput): DecideOutput {
  const prev = input.clusterData;
  const problems = clusterDataProblems(prev);
  if (problems.length > 0) {
    // Nothing in it can be trusted, so nothing is changed: the operator repairs it (clusterdata write).
    const notes = [`nothing decided: ${problems.join("; ")}`, ...invalidInfoNotes(input.invalidInfos ?? [])];
    return { clusterData: prev, memory: cloneMemory(input.memory), notes, change: "none", candidates: [], recheckInMs: null };
  }
  const cd = structuredClone(prev);
  cd.keepers = uidRecord(cd.keepers);
  cd.dbs = uidRecord(cd.dbs);
  const mem = cloneMemory(input.memory);
  if (mem.fresh) {
    // A new leader: timers start now, from what the cluster data says.
    for (const db of Object.values(cd.dbs))
      if (db.status.currentGeneration !== db.generation) mem.dbConvergence[db.uid] = { generation: db.generation, since: input.now };
    mem.fresh = false;
  }
  const t = new Tick(cd, prev, input, mem);
  t.run();
  const master = masterDb(cd);
  const candidates = t.ranking ?? (master && cd.cluster.status.phase === "normal" ? t.rank(master) : []);

  let change: Change = "none";
  if (!jsonEqual(withoutVolatile(prev), withoutVolatile(cd))) change = "decision";
  else if (!jsonEqual(prev, cd)) change = "status";
  if (change === "decision") {
    cd.changeTime = new Date(input.wallNow).toISOString();
    if (t.notes.length > 0) cd.lastDecision = { time: cd.changeTime, sentinelUID: input.sentinelUID, notes: t.notes };
  }
  return { clusterData: cd, memory: mem, notes: t.notes, change, candidates, recheckInMs: t.recheckInMs };
}
