/**
 * Typed errors. Every error that crosses a module boundary is a StolonError with a stable `code`,
 * a message that names the problem, and the underlying error as `cause`.
 */
/**
 * Every error code, each with one meaning. A new kind of failure gets its own code here rather
 * than reusing one whose meaning is close.
 */
export type ErrorCode =
  // start-up and input
  | "ECONFIG" // bad flags, environment or files given at start-up
  | "ESPEC" // a cluster spec that breaks a rule
  | "EUNSAFEPATH" // a path that is not safe to write (src/lib/files.ts)
  // cluster data
  | "ECLUSTERDATA" // stored cluster data that cannot be used
  | "ENOCLUSTER" // no cluster data at all (stolonctl on an uninitialized cluster)
  | "EEXISTS" // cluster data already exists where a new one would be written
  // store
  | "ESTORE" // a store request failed (etcd.ts)
  | "ESTOREUNAVAILABLE" // the store did not answer
  | "EKEYMODIFIED" // a compare-and-swap lost
  | "ELEASEEXPIRED" // a lease was not found or has expired
  | "EELECTIONKEY" // the candidate's election key exists already
  | "ECAMPAIGNENDED" // a campaign ended (lease lost or cancelled) before being elected
  // PostgreSQL
  | "EPGPARSE" // PostgreSQL output (an LSN, a timeline history, a version) that cannot be read
  | "EPGQUERY" // an SQL query failed
  | "EPGCOMMAND" // a PostgreSQL tool (initdb, pg_ctl, pg_basebackup, ...) failed
  | "EPGNOTREADY" // the postmaster did not accept connections in time
  | "EOSUSER" // the operating-system user cannot be looked up
  // keeper
  | "ELOCALSTATE" // the keeper's local state file is unusable
  | "ERESYNC" // copying a db from its master failed
  // stolonctl
  | "ENOKEEPER" // the named keeper is not in the cluster
  | "ENOKEEPERINFO" // the named keeper publishes no info
  | "EMASTERKEEPER" // the operation is refused on the master's keeper
  | "EMASTERDATA" // the operation would wipe the master's data
  | "ENOTSTANDBY" // the cluster is not a standby cluster
  | "ENOREQUEST" // nothing waits for the confirmation asked for
  | "ENOTREADY" // the cluster is initializing or has no master (a switchover needs one)
  | "EPAUSED" // the operation is refused while the cluster is paused
  | "ESWITCHOVERBUSY" // a switchover is already in progress
  | "ESWITCHOVERFAILED" // the switchover followed with --wait failed or was rolled back
  | "ESWITCHOVERWAIT" // --wait gave up (deadline passed, request gone)
  | "ENOSWITCHOVER" // --cancel: no switchover is in progress, or it is past the point of no return
  | "ECANCELLED"; // the operator answered no

export class StolonError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad flags, environment or files given at start-up. */
export class ConfigError extends StolonError {
  readonly problems: readonly string[];
  constructor(problems: string | readonly string[], options?: { cause?: unknown }) {
    const list = typeof problems === "string" ? [problems] : problems;
    super("ECONFIG", list.join("; "), options);
    this.problems = list;
  }
}

/** A cluster specification that breaks one or more rules; `problems` lists every one. */
export class SpecError extends StolonError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], what = "invalid cluster spec") {
    super("ESPEC", `${what}: ${problems.join("; ")}`);
    this.problems = problems;
  }
}

/** Cluster data that cannot be used: not JSON, unknown formatVersion, wrong shape, invalid spec. */
export class ClusterDataError extends StolonError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ECLUSTERDATA", message, options);
  }
}

/** Base of every store failure. */
export class StoreError extends StolonError {}

/** A compare-and-swap lost: the key changed (or was created) since it was read. */
export class KeyModifiedError extends StoreError {
  constructor(key: string) {
    super("EKEYMODIFIED", `key ${key} was modified concurrently`);
  }
}

/** The store did not answer (unreachable, timed out, no quorum). Retrying later may succeed. */
export class StoreUnavailableError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ESTOREUNAVAILABLE", message, options);
  }
}

/** A lease (TTL) was not found or has expired. */
export class LeaseExpiredError extends StoreError {
  constructor(message: string) {
    super("ELEASEEXPIRED", message);
  }
}

/** Short human description of any thrown value, for one-line error output. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
