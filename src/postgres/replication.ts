/**
 * Replication state of the local instance: identity and position (IDENTIFY_SYSTEM), the timeline
 * history (TIMELINE_HISTORY), and a standby's WAL receiver and replay figures.
 */
import { StolonError, describeError } from "../lib/errors.ts";
import { parseLsn, parseTimelineHistory, type TimelineHistoryEntry } from "./lsn.ts";
import { pgTimeout, PgQueryError, type PgConnections } from "./connections.ts";

export interface Identity {
  systemID: string;
  timelineID: number;
  xLogPos: number;
  timelinesHistory: TimelineHistoryEntry[];
}

/** A standby's receiver and replay figures, as LocalPgState reports them. */
export interface WalReceiverState {
  receivingWal: boolean;
  replayLsn: number | null;
  replayLagSeconds: number | null;
}

/**
 * Identity and position through a replication connection (IDENTIFY_SYSTEM, TIMELINE_HISTORY, as
 * stolon does); the last two history entries. A failed connection is dropped, so the next call
 * starts on a fresh one.
 */
export async function identify(c: PgConnections, timeoutMs: number): Promise<Identity> {
  const repl = c.repl(timeoutMs);
  const work = async () => {
    const rows = await repl.unsafe("IDENTIFY_SYSTEM").simple();
    const r = rows[0];
    if (!r) throw new PgQueryError("IDENTIFY_SYSTEM returned no row");
    const timelineID = Number(r.timeline);
    let timelinesHistory: TimelineHistoryEntry[] = [];
    if (timelineID > 1) {
      const h = await repl.unsafe(`TIMELINE_HISTORY ${timelineID}`).simple();
      const content = h[0]?.content;
      const text = typeof content === "string" ? content : content instanceof Uint8Array ? new TextDecoder().decode(content) : "";
      timelinesHistory = parseTimelineHistory(text).slice(-2);
    }
    return { systemID: String(r.systemid), timelineID, xLogPos: parseLsn(String(r.xlogpos)), timelinesHistory };
  };
  try {
    return await pgTimeout(work(), timeoutMs, "IDENTIFY_SYSTEM");
  } catch (err) {
    await c.dropRepl(repl);
    if (err instanceof StolonError) throw err;
    throw new PgQueryError(`IDENTIFY_SYSTEM: ${describeError(err)}`, { cause: err });
  }
}

/**
 * A standby's WAL receiver status and replay figures, in one query.
 * One row whatever the receiver does (pg_stat_wal_receiver has none when it is not running), and
 * the replay figures in the same round trip: the report path gets no extra query.
 * pg_last_xact_replay_timestamp() is when the master committed the last replayed transaction:
 * its age is the delay only while replay is behind; caught up, an idle master would make it grow.
 */
export async function walReceiverState(c: PgConnections, timeoutMs: number): Promise<WalReceiverState> {
  const wr = await c.query(
    "reading pg_stat_wal_receiver",
    (sql) => sql`select (select status from pg_stat_wal_receiver) as status,
                        pg_last_wal_replay_lsn()::text as replay,
                        case when pg_last_wal_receive_lsn() is null or pg_last_wal_replay_lsn() is null then null
                             when pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()
                               then extract(epoch from now() - pg_last_xact_replay_timestamp())::float8
                             else 0 end as lag_s`,
    timeoutMs,
  );
  const row = wr[0];
  return {
    receivingWal: row?.status === "streaming",
    replayLsn: typeof row?.replay === "string" ? parseLsn(row.replay) : null,
    replayLagSeconds: replayLag(row?.lag_s),
  };
}

/** The replay delay column: seconds, never negative (clocks of master and standby differ); null when unknown. */
export function replayLag(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? Math.max(0, n) : null;
}
