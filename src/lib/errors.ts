/**
 * Typed errors. Every error that crosses a module boundary is a StolonError with a stable `code`,
 * a message that names the problem, and the underlying error as `cause`.
 */
export class StolonError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
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
