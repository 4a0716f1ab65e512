/**
 * Clients that write one row per transaction through a PostgreSQL endpoint (the proxy) and record
 * every acknowledged write with the server port it landed on (inet_server_port()), for the
 * switchover benchmark and the stories that check "no error, no acknowledged write lost".
 *  - "pooled": one connection kept open (porsager postgres, max 1), as an application pool;
 *  - "per-transaction": a new connection for every transaction, as a short-lived job.
 * The table: `create table t (id bigint primary key, client text not null)` (ROW_TABLE_DDL).
 */
import postgres from "postgres";

export const ROW_TABLE_DDL = "create table if not exists t (id bigint primary key, client text not null)";

export interface Ack {
  id: number;
  port: number;
  /** performance.now() when acknowledged. */
  at: number;
  /** How long the write took: from sending it (a new connection included, if any) to its acknowledgement. */
  ms: number;
}

export interface WriterTarget {
  port: number;
  password: string;
  username?: string;
}

export function connectTo(t: WriterTarget, max = 1): postgres.Sql {
  return postgres({
    host: "127.0.0.1",
    port: t.port,
    database: "postgres",
    username: t.username ?? "stolon",
    password: t.password,
    max,
    // A connection left unable to send by postgres.js's write-scheduler bug (see replacePool)
    // fails after this and is replaced: a stall bounded to 5 s, counted as an error.
    connect_timeout: 5,
    fetch_types: false,
    onnotice: () => {},
  });
}

/** Ids shared by every writer of a process, so each acknowledged row has its own. */
let lastId = 0;

export class RowWriter {
  readonly acks: Ack[] = [];
  errors = 0;
  readonly errorSamples: string[] = [];
  /** The ids whose write failed (to check that none of them committed after all). */
  readonly failed: number[] = [];
  /** The write waiting for its answer now, and since when (performance.now()); null between writes. */
  inFlight: { id: number; since: number } | null = null;
  private stopped = false;
  private done: Promise<void> = Promise.resolve();
  private pooled: postgres.Sql | null;

  /**
   * `thinkMs`: a pause after each acknowledged write (0: the next write goes out the moment the
   * previous one is answered).
   */
  constructor(
    readonly name: string,
    readonly mode: "pooled" | "per-transaction",
    private readonly target: WriterTarget,
    private readonly thinkMs = 0,
  ) {
    this.pooled = mode === "pooled" ? connectTo(target) : null;
  }

  private async writeOne(id: number): Promise<number> {
    const sql = this.pooled ?? connectTo(this.target);
    try {
      const r = await sql`insert into t values (${id}, ${this.name}) returning inet_server_port() as port`;
      return Number(r[0]!.port);
    } finally {
      if (!this.pooled) await sql.end({ timeout: 1 }).catch(() => {});
    }
  }

  /**
   * After an error, the pooled client is replaced by a new one. postgres.js 3.4.9 defers small
   * writes to a setImmediate and, when the socket closes before it runs, cancels it without
   * resetting its "scheduled" marker (connection.js, closed() and terminate()): every later write
   * of that connection, its next startup message included, is buffered and never sent, so the
   * client waits for connect_timeout again and again (reported upstream: porsager/postgres#1208,
   * LanternOps/breeze#3225). A connection cut just as the client writes (a drain racing a client
   * that writes back to back, a failover's cut) hits it; an application would restart its pool.
   */
  private replacePool(): void {
    if (!this.pooled) return;
    const old = this.pooled;
    this.pooled = connectTo(this.target);
    old.end({ timeout: 0 }).catch(() => {});
  }

  start(): void {
    this.done = (async () => {
      while (!this.stopped) {
        const id = ++lastId;
        const since = performance.now();
        this.inFlight = { id, since };
        try {
          const port = await this.writeOne(id);
          this.inFlight = null;
          const at = performance.now();
          this.acks.push({ id, port, at, ms: at - since });
          if (this.thinkMs > 0) await Bun.sleep(this.thinkMs);
        } catch (err) {
          this.inFlight = null;
          this.errors++;
          this.failed.push(id);
          if (this.errorSamples.length < 5) this.errorSamples.push(err instanceof Error ? err.message : String(err));
          this.replacePool();
          await Bun.sleep(10);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    await this.pooled?.end({ timeout: 1 });
  }
}

/** The ids of the rows of t on the server at `target` now. */
export async function presentIds(target: WriterTarget): Promise<Set<number>> {
  const sql = connectTo(target);
  try {
    return new Set((await sql`select id from t`).map((r) => Number(r.id)));
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * The write gap of a master change from `oldPort`: the last write acknowledged by the old master
 * (before the first one elsewhere) to the first one acknowledged by another server, at or after
 * `since`; null while no write has landed elsewhere.
 */
export function writeGap(acks: Ack[], oldPort: number, since: number): { gapMs: number; first: Ack } | null {
  let first: Ack | undefined;
  for (const a of acks) if (a.at >= since && a.port !== oldPort && (!first || a.at < first.at)) first = a;
  if (!first) return null;
  let lastOld = since;
  for (const a of acks) if (a.port === oldPort && a.at <= first.at && a.at > lastOld) lastOld = a.at;
  return { gapMs: first.at - lastOld, first };
}
