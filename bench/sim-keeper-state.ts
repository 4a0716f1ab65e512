/**
 * A simulated keeper's PostgreSQL, for bench/etcd-scale.ts: no PostgreSQL runs; the keeper holds
 * the db the cluster data assigns it and reports it as a converged keeper would, at once. Pure:
 * given the cluster data and what the simulated instance was, what it is now
 * (`followClusterData`), and what its keeper reports about it (`simPostgresState`,
 * `simKeeperInfo`, shaped as src/keeper/keeper.ts `Keeper.report` and `Keeper.postgresState`
 * build them).
 *
 * What a converged keeper's instance looks like after the sentinel's request:
 *  - no db assigned to the keeper: stopped (reported unhealthy, with the uid it last held);
 *  - a db it does not hold yet: a new instance. A master (initMode new): initdb, timeline 1. A
 *    standby (initMode resync): a copy of its master, on the master's timeline and history;
 *  - its db, now master while it was a standby: promoted, on a new timeline whose history entry
 *    switches at the WAL position it had;
 *  - its db, a standby: on the master's timeline once the master's status shows a newer one
 *    (recovery_target_timeline = latest);
 *  - in every case, the generation of the db's spec (converged).
 */
import {
  decide,
  freshMemory,
  keeperLeaseMs,
  masterDb,
  POSTGRES_STATE_ZEROS,
  specTimings,
  type ClusterData,
  type DB,
  type KeeperInfo,
  type PostgresState,
  type SentinelMemory,
  type TimelineHistoryEntry,
} from "../src/cluster/index.ts";

export interface SimPg {
  /** The db uid the instance holds; "" before the sentinel assigned one. */
  dbUid: string;
  /** The generation of the db's spec it converged to. */
  generation: number;
  /** null: no instance runs (no db assigned, or not any more). */
  role: "master" | "standby" | null;
  timelineID: number;
  history: TimelineHistoryEntry[];
}

/** A keeper that has not been assigned a db yet. */
export const NO_PG: SimPg = Object.freeze({ dbUid: "", generation: 0, role: null, timelineID: 0, history: [] });

/** What PostgreSQL's TIMELINE_HISTORY says when a standby promotes without a recovery target. */
export const PROMOTE_REASON = "no recovery target specified";

/** The db the cluster data assigns to `keeperUid`, if any. */
export function dbOf(cd: ClusterData, keeperUid: string): DB | undefined {
  return Object.values(cd.dbs).find((d) => d.spec.keeperUID === keeperUid);
}

/** The db a standby follows (internal replication), with its reported timeline and history. */
function followedDb(cd: ClusterData, db: DB): DB | undefined {
  const f = db.spec.followConfig;
  return f?.type === "internal" && f.dbuid ? cd.dbs[f.dbuid] : undefined;
}

/**
 * The simulated instance once the keeper `keeperUid` has done what `cd` asks of it; `walPos` is
 * the cluster's WAL position now (where a promotion switches timeline).
 */
export function followClusterData(cd: ClusterData, keeperUid: string, pg: SimPg, walPos: number): SimPg {
  const db = dbOf(cd, keeperUid);
  if (!db) return pg.role === null ? pg : { ...pg, role: null };
  const generation = db.generation;
  if (db.spec.role === "master") {
    if (db.uid !== pg.dbUid) return { dbUid: db.uid, generation, role: "master", timelineID: 1, history: [] };
    if (pg.role === "standby") {
      const entry = { timelineID: pg.timelineID, switchPoint: walPos, reason: PROMOTE_REASON };
      return { dbUid: db.uid, generation, role: "master", timelineID: pg.timelineID + 1, history: [...pg.history, entry] };
    }
    return pg.generation === generation && pg.role === "master" ? pg : { ...pg, generation, role: "master" };
  }
  // A standby (the only other role the benchmark's clusters use).
  const source = followedDb(cd, db);
  const srcTimeline = source?.status.timelineID ?? 0;
  const srcHistory = source?.status.timelinesHistory ?? [];
  if (db.uid !== pg.dbUid) {
    return { dbUid: db.uid, generation, role: "standby", timelineID: Math.max(1, srcTimeline), history: [...srcHistory] };
  }
  if (srcTimeline > pg.timelineID) return { dbUid: db.uid, generation, role: "standby", timelineID: srcTimeline, history: [...srcHistory] };
  return pg.generation === generation && pg.role === "standby" ? pg : { ...pg, generation, role: "standby" };
}

/** The parameters initdb writes into postgresql.conf that the keeper does not manage (what pg_file_settings lists). */
export const SIM_PG_PARAMETERS: Readonly<Record<string, string>> = Object.freeze({
  datestyle: "iso, mdy",
  default_text_search_config: "pg_catalog.english",
  dynamic_shared_memory_type: "posix",
  lc_messages: "C",
  lc_monetary: "C",
  lc_numeric: "C",
  lc_time: "C",
  log_timezone: "Etc/UTC",
  max_connections: "100",
  max_wal_size: "1GB",
  min_wal_size: "80MB",
  shared_buffers: "128MB",
  timezone: "Etc/UTC",
});

/** A PostgreSQL system identifier (decimal, 19 digits) that every instance of one cluster shares. */
export function systemIdOf(clusterUid: string): string {
  // FNV-1a, 64 bits: stable across runs and processes.
  let h = 0xcbf29ce484222325n;
  for (const c of clusterUid) h = ((h ^ BigInt(c.charCodeAt(0))) * 0x100000001b3n) & 0xffffffffffffffffn;
  return String(7_000_000_000_000_000_000n + (h % 1_000_000_000_000_000_000n));
}

/** The WAL file name (timeline, then segment) of the oldest file in pg_wal: 16 MiB segments. */
export function walFileName(timelineID: number, pos: number): string {
  const seg = Math.floor(pos / 2 ** 24);
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
  return hex(timelineID) + hex(Math.floor(seg / 256)) + hex(seg % 256);
}

export interface SimPgContext {
  clusterUid: string;
  listenAddress: string;
  port: number;
  /** The cluster's WAL position now: what the master wrote, and (caught up) what a standby received and replayed. */
  walPos: number;
}

/**
 * What the keeper reports about its instance (Keeper.postgresState): unhealthy with its identity
 * when none runs; else healthy with the system id, timeline, WAL position, the parameters and, on
 * a standby, a streaming WAL receiver and its replay position.
 */
export function simPostgresState(pg: SimPg, ctx: SimPgContext): PostgresState {
  const base: PostgresState = {
    ...POSTGRES_STATE_ZEROS,
    uid: pg.dbUid,
    generation: pg.generation,
    listenAddress: ctx.listenAddress,
    port: String(ctx.port),
    synchronousStandbys: null,
  };
  if (pg.role === null || pg.dbUid === "") return base;
  return {
    ...base,
    healthy: true,
    systemID: systemIdOf(ctx.clusterUid),
    timelineID: pg.timelineID,
    xLogPos: ctx.walPos,
    timelinesHistory: pg.history,
    pgParameters: { ...SIM_PG_PARAMETERS },
    synchronousStandbys: [],
    olderWalFile: walFileName(pg.timelineID, 0),
    ...(pg.role === "standby" ? { receivingWal: true, replayedXLogPos: ctx.walPos } : {}),
  };
}

export interface SimKeeperIdentity {
  uid: string;
  clusterUid: string;
  bootUUID: string;
}

/** The KeeperInfo of one report (Keeper.report with the default flags): a fresh infoUID each time. */
export function simKeeperInfo(id: SimKeeperIdentity, infoUID: string, state: PostgresState): KeeperInfo {
  return {
    infoUID,
    uid: id.uid,
    clusterUID: id.clusterUid,
    bootUUID: id.bootUUID,
    postgresBinaryVersion: { Maj: 15, Min: 10 },
    postgresState: state,
    canBeMaster: true,
    canBeSynchronousReplica: true,
    priority: 1,
  };
}

// ---- a cluster made whole without a sentinel --------------------------------------------------------

/**
 * Simulated keepers and the real decide() in one place, on a simulated clock: what a cluster's
 * data becomes when its keepers report (every 500 ms) and a sentinel decides (every second),
 * with no etcd. For the unit tests, and for the clusters whose sentinels bench/etcd-scale.ts does
 * not run (--real): their cluster data is made whole here and written once.
 */
export interface OfflineWorld {
  cd: ClusterData;
  mem: SentinelMemory;
  /** Simulated milliseconds. */
  now: number;
  wal: number;
  pgs: Record<string, SimPg>;
  /** Keepers that do not report (killed). */
  silent: Set<string>;
  /** Each keeper's last info and when it was published (its lease runs from then). */
  infos: Record<string, { info: KeeperInfo; at: number }>;
  uids: number;
}

export function offlineWorld(cd: ClusterData, keepers: readonly string[]): OfflineWorld {
  return { cd, mem: freshMemory(), now: 0, wal: 2 ** 24, pgs: Object.fromEntries(keepers.map((k) => [k, NO_PG])), silent: new Set(), infos: {}, uids: 0 };
}

/** One simulated second: each keeper follows the data and reports twice, then the sentinel decides once. */
export function offlineSecond(w: OfflineWorld): void {
  const lease = keeperLeaseMs(specTimings(w.cd.cluster.spec).failIntervalMs);
  for (const half of [0, 500]) {
    for (const k of Object.keys(w.pgs)) {
      if (w.silent.has(k)) continue;
      w.pgs[k] = followClusterData(w.cd, k, w.pgs[k]!, w.wal);
      if (w.pgs[k]!.role === "master") w.wal += 1000;
      const st = simPostgresState(w.pgs[k]!, { clusterUid: w.cd.cluster.uid, listenAddress: "127.0.0.1", port: 5432, walPos: w.wal });
      w.infos[k] = { info: simKeeperInfo({ uid: k, clusterUid: w.cd.cluster.uid, bootUUID: `b-${k}` }, `i${w.now + half}-${k}`, st), at: w.now + half };
    }
  }
  w.now += 1000;
  const live = Object.fromEntries(Object.entries(w.infos).filter(([, v]) => w.now - v.at < lease).map(([k, v]) => [k, v.info]));
  const out = decide({ clusterData: w.cd, keepersInfo: live, proxiesInfo: {}, memory: w.mem, now: w.now, wallNow: Date.parse(w.cd.changeTime) + w.now, sentinelUID: "offline", newUid: () => `${w.cd.cluster.uid.slice(0, 4)}d${++w.uids}` });
  w.cd = out.clusterData;
  w.mem = out.memory;
}

/** The converged standbys of the master db `masterUid`. */
export function convergedStandbys(cd: ClusterData, masterUid: string): DB[] {
  return Object.values(cd.dbs).filter((d) => d.uid !== masterUid && d.status.healthy && d.status.currentGeneration === d.generation && d.spec.followConfig?.dbuid === masterUid);
}

/** `cd` made whole by `keepers` (a routed, converged master and every other keeper a converged standby); throws after a simulated minute. */
export function settleOffline(cd: ClusterData, keepers: readonly string[]): ClusterData {
  const w = offlineWorld(cd, keepers);
  for (let i = 0; i < 60; i++) {
    offlineSecond(w);
    const m = masterDb(w.cd);
    if (m && w.cd.proxy.spec.masterDbUid === m.uid && m.status.currentGeneration === m.generation && convergedStandbys(w.cd, m.uid).length === keepers.length - 1) return w.cd;
  }
  throw new Error(`cluster ${cd.cluster.uid} did not become whole offline within a simulated minute`);
}
