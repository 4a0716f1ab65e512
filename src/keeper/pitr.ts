/**
 * The keeper's pitr init (initMode pitr, planned by planKeeper as an `init-pitr` action): the data
 * dir is emptied, the dataRestoreCommand fills it from a backup, PostgreSQL runs the archive
 * recovery (recovery.signal with the restore_command and the target; standby.signal for a db that
 * follows an external primary) until it ends, the roles get the configured passwords, and
 * PostgreSQL is stopped with the db's own configuration in place: the plan's usual master (or
 * standby) path starts it then.
 *
 * What it is doing is published as KeeperInfo.init (phase restoring, then recovering with the
 * replay progress); a failure leaves init.phase "failed" with the command, its exit code and the
 * last of its output, and is not tried again for the same db (the sentinel decides: another
 * keeper, or the operator).
 */
import type { KeeperInit } from "../cluster/index.ts";
import { MAX_STRING_LENGTH } from "../cluster/info-check.ts";
import type { Clock } from "../lib/clock.ts";
import { describeError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { expandDataRestoreCommand, RESTORE_OUTPUT_CHARS } from "../postgres/index.ts";
import type { KeeperPg } from "./keeper.ts";
import type { KeeperAction } from "./plan.ts";

/** How often the recovery's progress is read while it runs. */
export const RECOVERY_POLL_MS = 1000;

/** What runPitrInit needs of the keeper. */
export interface PitrContext {
  pg: KeeperPg;
  log: Logger;
  clock: Clock;
  /** Bounds the archive recovery; 0: no bound (stolon's rule for syncTimeout). */
  syncTimeoutMs: number;
  requestTimeoutMs: number;
  /** Publishes the init's state (KeeperInfo.init). */
  setInit(init: KeeperInit): void;
}

/** A step of the pitr init that did not work: what is reported as init.phase "failed". */
class PitrFailure extends Error {
  constructor(
    readonly detail: string,
    readonly output: string,
  ) {
    super(detail);
  }
}

const lastChars = (s: string) => (s.length > RESTORE_OUTPUT_CHARS ? s.slice(s.length - RESTORE_OUTPUT_CHARS) : s);

/**
 * init.detail as the info schema takes it: one line (a command may span several), at most
 * MAX_STRING_LENGTH characters (a longer one would make the sentinel refuse the whole info).
 */
export function oneLine(s: string): string {
  const line = s.replace(/\s*[\r\n]+\s*/g, " ");
  return line.length > MAX_STRING_LENGTH ? `${line.slice(0, MAX_STRING_LENGTH - 3)}...` : line;
}

/**
 * Runs the whole pitr init. Resolves true when the db is restored (PostgreSQL stopped, its final
 * configuration written), false when it failed (reported through setInit; PostgreSQL stopped).
 * @throws when the signal aborts (the keeper stopping): the half-made data dir is redone later
 */
export async function runPitrInit(ctx: PitrContext, a: KeeperAction & { kind: "init-pitr" }, signal: AbortSignal): Promise<boolean> {
  const { pg, log } = ctx;
  const phase = (p: KeeperInit["phase"], detail: string, more: Partial<KeeperInit> = {}) =>
    ctx.setInit({ dbUid: a.db.uid, phase: p, since: new Date().toISOString(), detail: oneLine(detail), ...more });
  try {
    await restore(ctx, a, signal, phase);
    // A restore tool may have written its own recovery settings there (pgbackrest restore does):
    // ALTER SYSTEM's file is neutralised as always, so the keeper's settings are the ones that apply.
    const dropped = pg.neutraliseAutoConf();
    if (dropped) log.info(`db ${a.db.uid}: the restored postgresql.auto.conf is not used (the keeper's recovery settings apply); it held: ${dropped}`);
    pg.writeReplicationPassfile();
    pg.writeConfig(a.recoveryConfig);
    const what = a.recoveryConfig.standby ? "as a standby of its external primary" : a.recoveryConfig.recovery ? "in archive recovery" : "with the WAL the backup holds";
    phase("recovering", `PostgreSQL started ${what}`);
    log.info(`db ${a.db.uid}: the data is restored; starting PostgreSQL ${what}`);
    await startOrFail(ctx, signal);
    await waitRecovery(ctx, a, signal, phase);
    if (!a.config.standby) await pg.setupRolesAfterRestore(ctx.requestTimeoutMs);
    await pg.stop();
    pg.writeConfig(a.config);
    log.info(`db ${a.db.uid} restored (pitr)`);
    return true;
  } catch (err) {
    if (signal.aborted) throw err;
    await pg.stop().catch((e) => log.error(`cannot stop PostgreSQL: ${describeError(e)}`));
    const f = err instanceof PitrFailure ? err : new PitrFailure(`the pitr init failed: ${describeError(err)}`, pg.logTail(40));
    phase("failed", f.detail, { output: lastChars(f.output) });
    log.error(`db ${a.db.uid}: ${f.detail}; not tried again for this db (the sentinel decides)${f.output ? `; output:\n${f.output}` : ""}`);
    return false;
  }
}

/** Empties the data dir and runs the dataRestoreCommand into it; it must leave a database there. */
async function restore(ctx: PitrContext, a: KeeperAction & { kind: "init-pitr" }, signal: AbortSignal, phase: (p: KeeperInit["phase"], d: string) => void): Promise<void> {
  const { pg, log } = ctx;
  await pg.stop();
  log.warn(`removing the data dir for the pitr restore of db ${a.db.uid}`);
  await pg.wipe();
  const command = expandDataRestoreCommand(a.command, pg.dataDir);
  phase("restoring", `running the dataRestoreCommand: ${command}`);
  log.info(`db ${a.db.uid}: running the dataRestoreCommand as the PostgreSQL OS user: ${command}`);
  const r = await pg.dataRestore(command, signal);
  if (r.exitCode === null) throw new Error("the dataRestoreCommand was cancelled: the keeper is stopping");
  if (r.exitCode !== 0) throw new PitrFailure(`the dataRestoreCommand "${command}" exited with code ${r.exitCode}`, r.output);
  if (!pg.isInitialized())
    throw new PitrFailure(`the dataRestoreCommand "${command}" exited with code 0 but left no database in ${pg.dataDir} (no PG_VERSION or global/pg_control)`, r.output);
}

/**
 * The keeper connects as its superuser, which the backup must have: during the recovery a
 * missing role may still come with the WAL (SQLSTATE 28000 is no answer yet), but once a master's
 * recovery ended (recovery.signal gone) it never will.
 */
function noSuperuserAfterRecovery(ctx: PitrContext, a: KeeperAction & { kind: "init-pitr" }, err: unknown): void {
  const code = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (a.config.standby || code !== "28000" || ctx.pg.hasRecoverySignal()) return;
  throw new PitrFailure(
    `the recovery ended but the keeper cannot connect to the restored database: ${describeError(err)} (the backup must have the keeper's superuser role)`,
    ctx.pg.logTail(40),
  );
}

async function startOrFail(ctx: PitrContext, signal: AbortSignal): Promise<void> {
  try {
    await ctx.pg.start(signal);
  } catch (err) {
    if (signal.aborted) throw err;
    throw new PitrFailure(`PostgreSQL did not start on the restored data: ${describeError(err)}`, ctx.pg.logTail(40));
  }
}

/**
 * Waits for the end of the archive recovery (a master: pg_is_in_recovery() false, after the
 * promotion at the target or at the end of the archive), or for the first answer (a standby of
 * an external primary: consistent, it follows on its own), publishing the replay progress. A
 * PostgreSQL that exits meanwhile (a target beyond the archive: "recovery ended before configured
 * recovery target was reached") or a recovery longer than syncTimeout is a failure.
 */
async function waitRecovery(ctx: PitrContext, a: KeeperAction & { kind: "init-pitr" }, signal: AbortSignal, phase: (p: KeeperInit["phase"], d: string, more?: Partial<KeeperInit>) => void): Promise<void> {
  const { pg, clock } = ctx;
  const started = clock.now();
  const since = new Date().toISOString();
  for (;;) {
    if (signal.aborted) throw new Error("the keeper is stopping");
    if (!pg.isRunning()) throw new PitrFailure("PostgreSQL exited during the archive recovery", pg.logTail(40));
    try {
      const p = await pg.recoveryProgress(Math.min(ctx.requestTimeoutMs, 5000));
      if (a.config.standby || !p.inRecovery) return;
      phase("recovering", "archive recovery: replaying WAL", {
        since,
        ...(p.replayLsn !== null ? { replayedXLogPos: p.replayLsn } : {}),
        ...(p.lastReplayTime !== null ? { lastReplayTime: p.lastReplayTime } : {}),
      });
    } catch (err) {
      // Not consistent yet: PostgreSQL refuses connections until then.
      ctx.log.debug(`recovery progress: ${describeError(err)}`);
      await pg.closeSql();
      noSuperuserAfterRecovery(ctx, a, err);
    }
    if (ctx.syncTimeoutMs > 0 && clock.now() - started > ctx.syncTimeoutMs)
      throw new PitrFailure(`the archive recovery did not end within syncTimeout (${ctx.syncTimeoutMs / 1000} s)`, pg.logTail(40));
    await clock.sleep(RECOVERY_POLL_MS, signal);
  }
}
