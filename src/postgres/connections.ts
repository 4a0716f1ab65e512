/**
 * The keeper's SQL connections to PostgreSQL: the superuser pool on the local socket, the kept
 * replication connection, one-off clients to another instance, and `query`, which bounds a
 * statement in time and turns every failure into a PgQueryError.
 */
import { join } from "node:path";
import postgres from "postgres";
import { describeError, StolonError } from "../lib/errors.ts";
import { withTimeout } from "../lib/timeout.ts";
import type { Credentials } from "./pgdata.ts";

/** A PostgreSQL connection or query that failed. */
export class PgQueryError extends StolonError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("EPGQUERY", message, options);
  }
}

export type Sql = ReturnType<typeof postgres>;

export interface ClientOptions {
  database: string;
  max: number;
  connectTimeoutS: number;
  replication?: boolean;
}

/** Rejects with a PgQueryError naming `what` when `p` takes longer than `ms`. */
export function pgTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return withTimeout(p, ms, () => new PgQueryError(`${what}: timed out after ${ms} ms`));
}

/** A client of the keeper's, on a unix socket or over TCP; every setting explicit, so no PG* variable applies. */
export function pgClient(c: Credentials, where: { path: string; port: number } | { host: string; port: number }, o: ClientOptions): Sql {
  return postgres({
    ...where,
    database: o.database,
    username: c.username,
    password: c.password ?? "",
    max: o.max,
    idle_timeout: 30,
    connect_timeout: o.connectTimeoutS,
    fetch_types: false,
    prepare: false,
    onnotice: () => {},
    connection: { application_name: "stolon-keeper", ...(o.replication ? { replication: "true" } : {}) },
  });
}

export interface PgConnectionsOptions {
  socketDir: string;
  port: number;
  su: Credentials;
  repl: Credentials;
}

export class PgConnections {
  private sqlPool: Sql | null = null;
  private replPool: Sql | null = null;

  constructor(private readonly o: PgConnectionsOptions) {}

  /** A client on the local unix socket. */
  private localClient(c: Credentials, o: ClientOptions): Sql {
    return pgClient(c, { path: join(this.o.socketDir, `.s.PGSQL.${this.o.port}`), port: this.o.port }, o);
  }

  /** The SQL client on the unix socket, as the superuser. */
  sql(): Sql {
    this.sqlPool ??= this.localClient(this.o.su, { database: "postgres", max: 2, connectTimeoutS: 5 });
    return this.sqlPool;
  }

  /** The replication connection, kept open between reports: a new walsender each time would cost a backend start. */
  repl(timeoutMs: number): Sql {
    this.replPool ??= this.localClient(this.o.repl, {
      database: "replication",
      max: 1,
      connectTimeoutS: Math.max(1, Math.ceil(timeoutMs / 1000)),
      replication: true,
    });
    return this.replPool;
  }

  /** Ends a replication connection that failed, so the next repl() opens a fresh one. */
  async dropRepl(repl: Sql): Promise<void> {
    if (this.replPool === repl) this.replPool = null;
    await repl.end({ timeout: 1 }).catch(() => {});
  }

  async close(): Promise<void> {
    const pools = [this.sqlPool, this.replPool];
    this.sqlPool = null;
    this.replPool = null;
    await Promise.all(pools.map((p) => p?.end({ timeout: 1 }).catch(() => {})));
  }

  /** Runs `f` on the superuser pool within `timeoutMs`; every failure is a PgQueryError naming `what`. */
  async query<T>(what: string, f: (sql: Sql) => Promise<T>, timeoutMs: number): Promise<T> {
    try {
      return await pgTimeout(f(this.sql()), timeoutMs, what);
    } catch (err) {
      if (err instanceof PgQueryError) {
        // A timed-out connection may be wedged: start from a fresh pool.
        await this.close();
        throw err;
      }
      throw new PgQueryError(`${what}: ${describeError(err)}`, { cause: err });
    }
  }
}
