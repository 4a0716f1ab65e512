/**
 * The cluster data model, with stolon's JSON field names (internal/cluster/cluster.go, member.go),
 * so stolon's documentation stays a usable reference and `stolonctl clusterdata read` looks familiar.
 *
 * Only the sentinel writes spec fields and bumps generations; keepers and proxies only report
 * status through their info keys. A DB has converged when status.currentGeneration == generation.
 *
 * Cluster data that stolon itself wrote is read as it is (see stolon-format.ts for encoding/json's
 * rules): fields left out mean their zero value, null where a Go pointer, slice or map is nil.
 * What this project adds to stolon's format, each ignored by stolon's Go code (it ignores unknown
 * fields): ClusterData.lastDecision, KeeperStatus.wipeConfirmation, and in the infos
 * PostgresState.receivingWal and KeeperInfo.trustOnNetwork. Issue 17 (planned operations) adds
 * ClusterData.switchover and ClusterData.pause, ProxySpec.hold, DBSpec.stopForSwitchover,
 * KeeperStatus.priority, and in the infos PostgresState.stoppedForSwitchover, ProxyInfo.drained
 * and KeeperInfo.priority; all optional and absent by default. Issue 18 (the proxy's read-only
 * port) adds PostgresState.replayedXLogPos in the infos. Issue 19 (disaster recovery) adds
 * KeeperInfo.init (a pitr restore's progress or failure) and ClusterSpec.pitrConfig.retryOnOtherKeeper.
 * Every time field holds an RFC 3339
 * string or GO_ZERO_TIME, never "" (stolon cannot decode it).
 */
import type { ClusterSpec, NewConfig, PitrConfig, StandbySettings, ArchiveRecoverySettings } from "./spec.ts";
import type { DurationBounds } from "./duration.ts";

export const CURRENT_FORMAT_VERSION = 1;

export type ClusterPhase = "initializing" | "normal";
export type DBInitMode = "none" | "new" | "existing" | "pitr" | "resync";
export type DBRole = "master" | "standby";
export type FollowType = "internal" | "external";

export interface ClusterStatus {
  currentGeneration?: number;
  phase: ClusterPhase;
  /** uid of the master DB (not the keeper). */
  master?: string;
}

export interface Cluster {
  uid: string;
  generation: number;
  changeTime: string;
  spec: ClusterSpec;
  status: ClusterStatus;
}

export interface PostgresBinaryVersion {
  Maj: number;
  Min: number;
}

export interface KeeperStatus {
  healthy?: boolean;
  lastHealthyTime?: string;
  bootUUID?: string;
  postgresBinaryVersion?: PostgresBinaryVersion;
  forceFail?: boolean;
  /** null or absent: not said (may be). */
  canBeMaster?: boolean | null;
  canBeSynchronousReplica?: boolean | null;
  /** stolonctl confirm-wipe (not in stolon's format): the operator's leave to replace a former master's data (one request). */
  wipeConfirmation?: WipeConfirmation;
  /** The keeper's --priority, copied by the sentinel from its info for status (absent: 1). */
  priority?: number;
}

/**
 * The operator allows this keeper to remove the data of db `dbUID` (the db its data dir holds, a
 * former master's) in order to become db `forDbUID`. Scoped to both: it is spent by that one
 * replacement, and a later master (another db uid) is never wiped on its strength.
 */
export interface WipeConfirmation {
  dbUID: string;
  forDbUID: string;
  time: string;
}

export interface Keeper {
  uid: string;
  generation: number;
  changeTime: string;
  /** Always {} when we write it; stolon's is a pointer to an empty struct (null or absent: nil). */
  spec?: Record<string, never> | null;
  status: KeeperStatus;
}

export interface FollowConfig {
  type: FollowType;
  /** uid of the followed DB (internal follow). */
  dbuid?: string;
  standbySettings?: StandbySettings;
  archiveRecoverySettings?: ArchiveRecoverySettings;
}

export interface DBSpec {
  keeperUID: string;
  requestTimeout: string;
  maxStandbys: number;
  synchronousReplication: boolean;
  usePgrewind: boolean;
  additionalWalSenders: number;
  additionalReplicationSlots?: string[] | null;
  initMode: DBInitMode;
  newConfig?: NewConfig | null;
  pitrConfig?: PitrConfig | null;
  pgParameters?: Record<string, string> | null;
  pgHBA?: string[] | null;
  role: DBRole;
  followConfig?: FollowConfig | null;
  followers?: string[] | null;
  includePreviousConfig?: boolean;
  /** DB uids the master must wait for. */
  synchronousStandbys?: string[] | null;
  /** Raw names such as "stolonfakestandby". */
  externalSynchronousStandbys?: string[] | null;
  /**
   * A switchover id: the master's keeper shuts PostgreSQL down (fast) and keeps it down while this
   * is set. Written by the sentinel (phase "stopping"); cleared when the db becomes a standby of
   * the new master, or on a rollback (the keeper then starts it as master again).
   */
  stopForSwitchover?: string;
}

export interface TimelineHistoryEntry {
  timelineID: number;
  /** Left out by stolon when 0 (omitempty); our readers fill 0 in infos (checkKeeperInfo). */
  switchPoint?: number;
  reason?: string;
}

export interface DBStatus {
  healthy?: boolean;
  currentGeneration?: number;
  listenAddress?: string;
  port?: string;
  /** (sic) stolon's field name for the system identifier. */
  systemdID?: string;
  timelineID?: number;
  xLogPos?: number;
  timelinesHistory?: TimelineHistoryEntry[] | null;
  pgParameters?: Record<string, string> | null;
  /** The known in-sync set, persisted. */
  synchronousStandbys?: string[] | null;
  olderWalFile?: string;
}

export interface DB {
  uid: string;
  generation: number;
  changeTime: string;
  spec: DBSpec;
  status: DBStatus;
}

export interface ProxySpec {
  masterDbUid?: string;
  enabledProxies?: string[] | null;
  /**
   * Set by the sentinel while a switchover drains, until the promotion is done: proxies hold new
   * clients and drain the existing connections, then report `drained: id` in their info.
   */
  hold?: ProxyHold | null;
}

export interface ProxyHold {
  /** The switchover's id. */
  id: string;
  since: string;
  /** A Go duration string. */
  drainTimeout: string;
}

export interface Proxy {
  uid?: string;
  generation: number;
  changeTime: string;
  spec: ProxySpec;
  status: Record<string, never>;
}

export interface ClusterData {
  formatVersion: number;
  changeTime: string;
  cluster: Cluster;
  keepers: Record<string, Keeper>;
  dbs: Record<string, DB>;
  proxy: Proxy;
  /**
   * The leader sentinel's most recent decision, so `stolonctl status` can show why the cluster
   * looks the way it does. Not part of stolon's format; ignored by anything that does not know it.
   */
  lastDecision?: Decision;
  /** The current or the last switchover (a finished one stays until the next request). */
  switchover?: Switchover | null;
  /** Maintenance mode: written only by stolonctl pause / resume (the sentinel clears it once `until` has passed). */
  pause?: Pause | null;
}

export const SWITCHOVER_PHASES = [
  "requested",
  "draining",
  "stopping",
  "catching-up",
  "promoting",
  "done",
  "failed",
  "rolled-back",
] as const;
export type SwitchoverPhase = (typeof SWITCHOVER_PHASES)[number];
/** The phases a switchover ends in. */
export const SWITCHOVER_FINAL_PHASES: readonly SwitchoverPhase[] = ["done", "failed", "rolled-back"];
/** Step lines kept in Switchover.steps (the oldest are dropped). */
export const MAX_SWITCHOVER_STEPS = 50;
/** The longest step text, outcome or pause reason the cluster data holds (the sentinel clips its own). */
export const MAX_SWITCHOVER_TEXT_LENGTH = 4096;
export const DEFAULT_SWITCHOVER_TIMEOUT = "30s";
export const DEFAULT_SWITCHOVER_DRAIN_TIMEOUT = "5s";
/** Switchover.timeout: from acceptance until the promotion must have started. */
export const SWITCHOVER_TIMEOUT_BOUNDS: DurationBounds = { minMs: 1000, maxMs: 3_600_000 };
/** Switchover.drainTimeout / ProxyHold.drainTimeout; 0 cuts every connection at once. */
export const SWITCHOVER_DRAIN_TIMEOUT_BOUNDS: DurationBounds = { minMs: 100, maxMs: 600_000, zero: "cut at once" };
/** Keeper --priority: 0 = never elected automatically (still a switchover target). */
export const MAX_KEEPER_PRIORITY = 1_000_000;
export const DEFAULT_KEEPER_PRIORITY = 1;

/**
 * A planned master change. Written by `stolonctl switchover` (phase "requested") and from then on
 * only by the leader sentinel. Timestamps RFC 3339, durations Go duration strings.
 */
export interface Switchover {
  /** Random, from stolonctl (UID_RE). */
  id: string;
  requestedAt: string;
  /** The keeper uid the operator named. */
  to?: string;
  /** Default "30s": from acceptance until the promotion must have started. */
  timeout: string;
  /** Default "5s". */
  drainTimeout: string;
  phase: SwitchoverPhase;
  /** When this phase began. */
  phaseTime: string;
  acceptedAt?: string;
  /** The master db when accepted. */
  fromDb?: string;
  /** The target db chosen. */
  toDb?: string;
  /** The old master's shutdown checkpoint location, from its keeper. */
  stopLsn?: number;
  /**
   * Set by `stolonctl switchover --cancel` on an accepted switchover: the leader sentinel rolls it
   * back at its next tick, unless the promotion has already started.
   */
  cancelRequestedAt?: string;
  /** One line per step, what `stolonctl switchover --wait` prints (the last MAX_SWITCHOVER_STEPS). */
  steps: SwitchoverStep[];
  /** One sentence, set with done / failed / rolled-back. */
  outcome?: string;
}

export interface SwitchoverStep {
  time: string;
  text: string;
}

export interface Pause {
  since: string;
  /** Absent: until `stolonctl resume`. */
  until?: string;
  reason?: string;
}

export interface Decision {
  time: string;
  sentinelUID: string;
  notes: string[];
}

/** What a keeper reports about its PostgreSQL (stolon's PostgresState). */
export interface PostgresState {
  uid: string;
  generation: number;
  listenAddress: string;
  port: string;
  healthy: boolean;
  systemID: string;
  timelineID: number;
  xLogPos: number;
  timelinesHistory: TimelineHistoryEntry[] | null;
  pgParameters: Record<string, string> | null;
  /** Standby names reported in sync, without the stolon_ prefix. */
  synchronousStandbys: string[] | null;
  olderWalFile: string;
  /**
   * A standby's WAL receiver is streaming from its primary. Not in stolon's format: the sentinel
   * uses it to confirm, from the standbys' side, that a silent master is really gone.
   */
  receivingWal?: boolean;
  /**
   * A standby's last replayed WAL position in bytes (pg_last_wal_replay_lsn()); absent on a
   * primary and when unknown. Not in stolon's format: the proxy's read-only port measures a
   * standby's lag with it (xLogPos is what it has received, which keeps growing while replay is
   * paused with pg_wal_replay_pause(): only this field shows that lag).
   */
  replayedXLogPos?: number;
  /**
   * Reported by the master's keeper after the clean shutdown DBSpec.stopForSwitchover asked for
   * (kept while PostgreSQL stays down): pg_controldata's "Latest checkpoint location".
   */
  stoppedForSwitchover?: { id: string; lsn: number };
}

export interface KeeperInfo {
  /**
   * New random value whenever the info's content changes (stolon: on every publish). Our readers
   * take liveness from the info's lease (Store.leaseSilenceMs); a changed infoUID proves it only
   * where there is no lease reading, as for stolon's sentinel.
   */
  infoUID: string;
  uid: string;
  clusterUID: string;
  /** New per keeper process. */
  bootUUID: string;
  postgresBinaryVersion: PostgresBinaryVersion;
  /** null when stolon's keeper left it out (no state yet); see checkKeeperInfo. */
  postgresState: PostgresState | null;
  canBeMaster?: boolean | null;
  canBeSynchronousReplica?: boolean | null;
  /**
   * The keeper runs with --allow-trust-on-network and a trust auth method: anyone who can reach
   * its PostgreSQL port connects as that user with no password. Absent means no. Not in
   * stolon's format.
   */
  trustOnNetwork?: boolean;
  /** --priority, 0..MAX_KEEPER_PRIORITY; absent means DEFAULT_KEEPER_PRIORITY. Not in stolon's format. */
  priority?: number;
  /** The keeper's initialization of its db (pitr only for now), while it runs and after it failed. Not in stolon's format. */
  init?: KeeperInit;
}

/** The phases of KeeperInfo.init. */
export const KEEPER_INIT_PHASES = ["restoring", "recovering", "failed"] as const;
export type KeeperInitPhase = (typeof KEEPER_INIT_PHASES)[number];
/** KeeperInit.output holds at most this many characters (the last ones of the command's output). */
export const MAX_KEEPER_INIT_OUTPUT_LENGTH = 4000;

/**
 * The keeper's initialization of its db (pitr only for now), while it runs and after it failed.
 * Absent when the keeper is not initializing and nothing failed.
 */
export interface KeeperInit {
  dbUid: string;
  phase: KeeperInitPhase;
  /** ISO time the phase began. */
  since: string;
  /** One line: what it is doing, or why it failed (the command and its exit code). */
  detail: string;
  /** failed: the last lines of the command's output (at most 4000 characters). */
  output?: string;
  /** recovering: WAL replayed so far (pg_last_wal_replay_lsn, bytes) and the time of the last replayed transaction. */
  replayedXLogPos?: number;
  lastReplayTime?: string;
}

export interface SentinelInfo {
  UID: string;
}

export interface ProxyInfo {
  infoUID: string;
  UID: string;
  Generation: number;
  /** Nanoseconds, as Go's time.Duration marshals. */
  ProxyTimeout: number;
  /**
   * The ProxySpec.hold id, once every connection the proxy had when the hold began is closed.
   * Not in stolon's format.
   */
  drained?: string;
}
