/**
 * The keeper's SQL on its PostgreSQL: roles, replication slots, the fence's session cut, and the
 * state queries of its report. Each statement is one function over PgConnections.query, which
 * bounds it in time and names it in its error.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../lib/log.ts";
import { describeError } from "../lib/errors.ts";
import { MANAGED_PARAMETERS } from "./config.ts";
import { pgClient, type PgConnections } from "./connections.ts";
import type { Credentials } from "./pgdata.ts";
import { quoteIdent, quoteLiteral } from "./quote.ts";
import { SCRAM_SALT_BYTES, scramSha256Verifier } from "./scram.ts";
import { dbUidOfSlot } from "../cluster/slot-names.ts";
import { parseLsn } from "./lsn.ts";

export async function isInRecovery(c: PgConnections, timeoutMs: number): Promise<boolean> {
  const rows = await c.query("pg_is_in_recovery", (sql) => sql`select pg_is_in_recovery() as r`, timeoutMs);
  return rows[0]!.r === true;
}

/**
 * Creates the superuser's password and the replication role (the same role when names match).
 * The statements carry a SCRAM verifier computed here, never the password: PostgreSQL stores a
 * verifier as it is, and no server setting (log_transaction_sample_rate, log_min_error_statement,
 * an audit extension, pg_stat_activity) can then show the password.
 */
export async function setupRoles(c: PgConnections, su: Credentials, repl: Credentials, timeoutMs: number): Promise<void> {
  // A verifier is base64 and `$:`, nothing to escape; the quoting is for the form's sake.
  const pw = (cr: Credentials) =>
    cr.password !== undefined ? ` PASSWORD ${quoteLiteral(scramSha256Verifier(cr.password, randomBytes(SCRAM_SALT_BYTES)))}` : "";
  await c.query(
    "setting up roles",
    (sql) =>
      sql.begin(async (tx) => {
        // Not needed for the password any more; keeps the verifier (an offline guessing target)
        // out of the log when the logging settings allow it.
        await tx.unsafe("SET LOCAL log_statement = 'none'");
        await tx.unsafe("SET LOCAL log_min_duration_statement = -1");
        if (su.username === repl.username) {
          await tx.unsafe(`ALTER ROLE ${quoteIdent(su.username)} WITH LOGIN REPLICATION${pw(su)}`);
        } else {
          if (su.password !== undefined) await tx.unsafe(`ALTER ROLE ${quoteIdent(su.username)} WITH${pw(su)}`);
          await tx.unsafe(`CREATE ROLE ${quoteIdent(repl.username)} WITH LOGIN REPLICATION${pw(repl)}`);
        }
      }),
    timeoutMs,
  );
}

/**
 * The roles of a database restored from a backup (initMode pitr), once its recovery ended: the
 * backup has its own roles and passwords, so the superuser gets the configured password (and
 * LOGIN, and REPLICATION when it is also the replication user) and the replication role is
 * created, or altered when the backup has it already. The superuser must exist in the backup: the
 * keeper connects as it. Passwords as SCRAM verifiers, as setupRoles does.
 */
export async function setupRolesAfterRestore(c: PgConnections, su: Credentials, repl: Credentials, timeoutMs: number): Promise<void> {
  const pw = (cr: Credentials) =>
    cr.password !== undefined ? ` PASSWORD ${quoteLiteral(scramSha256Verifier(cr.password, randomBytes(SCRAM_SALT_BYTES)))}` : "";
  await c.query(
    "setting up roles after the restore",
    (sql) =>
      sql.begin(async (tx) => {
        await tx.unsafe("SET LOCAL log_statement = 'none'");
        await tx.unsafe("SET LOCAL log_min_duration_statement = -1");
        const same = su.username === repl.username;
        await tx.unsafe(`ALTER ROLE ${quoteIdent(su.username)} WITH LOGIN SUPERUSER${same ? " REPLICATION" : ""}${pw(su)}`);
        if (same) return;
        const found = await tx`select 1 from pg_roles where rolname = ${repl.username}`;
        const verb = found.length > 0 ? "ALTER" : "CREATE";
        await tx.unsafe(`${verb} ROLE ${quoteIdent(repl.username)} WITH LOGIN REPLICATION${pw(repl)}`);
      }),
    timeoutMs,
  );
}

/** Where an archive recovery is: still in recovery, the last WAL replayed (bytes) and its last transaction's commit time. */
export interface RecoveryProgress {
  inRecovery: boolean;
  replayLsn: number | null;
  /** ISO time; null when no transaction was replayed yet. */
  lastReplayTime: string | null;
}

export async function recoveryProgress(c: PgConnections, timeoutMs: number): Promise<RecoveryProgress> {
  const rows = await c.query(
    "reading the recovery progress",
    (sql) => sql`select pg_is_in_recovery() as r, pg_last_wal_replay_lsn()::text as lsn, pg_last_xact_replay_timestamp() as t`,
    timeoutMs,
  );
  const row = rows[0];
  const t = row?.t instanceof Date && Number.isFinite(row.t.getTime()) ? row.t.toISOString() : null;
  return { inRecovery: row?.r === true, replayLsn: typeof row?.lsn === "string" ? parseLsn(row.lsn) : null, lastReplayTime: t };
}

/**
 * Terminates every client session but the one running this query, chosen by backend PID:
 * application_name is the client's to choose (PGAPPNAME=stolon-keeper would escape a fence that
 * spared it). A walsender connected to a database (logical replication) can run SQL too and goes
 * as well; physical WAL senders stay. Returns how many were terminated.
 */
export async function terminateClientSessions(c: PgConnections, timeoutMs: number): Promise<number> {
  const rows = await c.query(
    "terminating client sessions",
    (sql) =>
      sql`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
          where pid <> pg_backend_pid()
            and (backend_type = 'client backend' or (backend_type = 'walsender' and datname is not null))`,
    timeoutMs,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Parameters set in the configuration files, managed ones excluded (what the keeper reports). */
export async function fileParameters(c: PgConnections, timeoutMs: number, sourceFile?: string): Promise<Record<string, string>> {
  const rows = await c.query(
    "reading pg_file_settings",
    (sql) => sql`select name, setting, sourcefile from pg_file_settings where error is null order by seqno`,
    timeoutMs,
  );
  const out: Record<string, string> = {};
  for (const r of rows) {
    if (sourceFile !== undefined && !String(r.sourcefile).endsWith(sourceFile)) continue;
    const name = String(r.name);
    if (!MANAGED_PARAMETERS.has(name)) out[name] = String(r.setting);
  }
  return out;
}

/** DB uids of the standbys pg_stat_replication reports in sync (application names with the stolon slot prefix). */
export async function inSyncStandbys(c: PgConnections, timeoutMs: number): Promise<string[]> {
  const rows = await c.query(
    "reading pg_stat_replication",
    (sql) => sql`select application_name from pg_stat_replication where sync_state = 'sync'`,
    timeoutMs,
  );
  return rows
    .map((r) => String(r.application_name))
    .map((n) => dbUidOfSlot(n))
    .filter((uid): uid is string => uid !== null)
    .sort();
}

export async function pendingRestart(c: PgConnections, timeoutMs: number): Promise<string[]> {
  const rows = await c.query("reading pg_settings", (sql) => sql`select name from pg_settings where pending_restart`, timeoutMs);
  return rows.map((r) => String(r.name));
}

export async function physicalSlots(c: PgConnections, timeoutMs: number): Promise<string[]> {
  const rows = await c.query(
    "listing replication slots",
    (sql) => sql`select slot_name from pg_replication_slots where slot_type = 'physical'`,
    timeoutMs,
  );
  return rows.map((r) => String(r.slot_name));
}

export async function createSlot(c: PgConnections, name: string, timeoutMs: number): Promise<void> {
  await c.query(`creating replication slot ${name}`, (sql) => sql`select pg_create_physical_replication_slot(${name})`, timeoutMs);
}

export async function dropSlot(c: PgConnections, name: string, timeoutMs: number): Promise<void> {
  await c.query(`dropping replication slot ${name}`, (sql) => sql`select pg_drop_replication_slot(${name})`, timeoutMs);
}

/**
 * CHECKPOINT on the rewind source. A standby promoted moments ago has not written a checkpoint
 * yet, so its control file still names the old timeline; pg_rewind reads that, sees no
 * divergence and does nothing ("no rewind required"), and the standby then cannot follow (seen
 * in the fault-injection runs, which ended in a full copy). PostgreSQL's pg_rewind page says to
 * checkpoint a recently promoted source first. A failure here is left to pg_rewind to report.
 */
export async function checkpointSource(su: Credentials, source: { host: string; port: string }, log: Logger): Promise<void> {
  const sql = pgClient(su, { host: source.host, port: Number(source.port) }, { database: "postgres", max: 1, connectTimeoutS: 10 });
  try {
    await sql`checkpoint`;
  } catch (err) {
    log.warn(`CHECKPOINT on the rewind source ${source.host}:${source.port} failed: ${describeError(err)}`);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}
