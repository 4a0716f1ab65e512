/**
 * What a keeper knows about itself at this moment, in one plain object: the source of its
 * /health and /ready, its Patroni-compatible endpoints (/primary, /replica ...) and its metrics.
 * Built by the Keeper from its last observation; read by pure functions.
 */
export type KeeperRole = "master" | "standby";

export interface KeeperStatus {
  uid: string;
  clusterName: string;
  /** "" before the keeper has read a cluster. */
  clusterUID: string;
  /** The db this keeper's data holds (dbstate), "" before any. */
  dbUid: string;
  /** The role the cluster view gives this keeper's db; null when it has none (or no cluster data). */
  targetRole: KeeperRole | null;
  /** What the local PostgreSQL is: master when running without standby.signal; null when not running. */
  localRole: KeeperRole | null;
  /** The cluster view names this keeper's db as the master. */
  elected: boolean;
  postgresRunning: boolean;
  /** The last state query answered (within the state's staleness bound). */
  postgresHealthy: boolean;
  /** The db's generation in the cluster view equals the one the keeper converged to. */
  converged: boolean;
  /**
   * The local data is the db the cluster view gives this keeper (same uid), past its initialization:
   * it may lag the view's latest generation (a follower added to pg_hba.conf, a parameter changed),
   * but it is the data the view means.
   */
  holdsDb: boolean;
  /** Cut from etcd as a master: pg_hba.conf only lets replication and the local superuser in. */
  fenced: boolean;
  /** SIGTERM received: PostgreSQL is being stopped. */
  shuttingDown: boolean;
  /** The id of the switchover this keeper stopped its master's PostgreSQL for (reported), else null. */
  stoppedForSwitchover: string | null;
  timeline: number;
  /** WAL position in bytes: the master's current insert LSN, a standby's last replayed LSN. */
  walPosition: number;
  /** Standby: bytes between the master's last reported position and the local replay; master: 0; unknown: null. */
  replicationLagBytes: number | null;
  /** Standby: seconds since the last replayed transaction when behind, 0 when caught up; unknown: null. */
  replicationLagSeconds: number | null;
  /** Standby: its WAL receiver is streaming. */
  streaming: boolean;
  /** Standby: the master lists this db among its synchronous standbys. */
  synchronous: boolean;
  /** The spec's maxStandbyLag in bytes (for alerts: lag over it). */
  maxStandbyLagBytes: number;
  /** Clock time (ms, wall clock) of the last cluster data that could be used, 0 before any. */
  clusterDataValidAt: number;
}

/**
 * GET /primary answers 200 (and stolon_keeper_serving_primary is 1) exactly when this holds:
 * the view elects this keeper's db, the local data is that db and runs as a primary, answers and
 * is not fenced, and the keeper is not shutting down. One predicate for both, so they cannot differ.
 *
 * Not "converged": the master's generation changes whenever the sentinel edits its spec (a standby
 * joins or leaves its followers, the sync set or a parameter changes), and for the moment until its
 * keeper applies that, it is still the one master. A 503 then made HAProxy mark it down (fall 2 at
 * 200 ms) and cut every session, an outage caused by a standby rejoining.
 */
export function isServingPrimary(s: KeeperStatus): boolean {
  return s.elected && s.localRole === "master" && s.holdsDb && s.postgresHealthy && !s.fenced && !s.shuttingDown;
}
