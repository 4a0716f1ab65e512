/**
 * The data restore of a pitr init: pitrConfig.dataRestoreCommand, run through `/bin/sh -c` as the
 * PostgreSQL OS user (stolon's rule), to fill the empty data dir from a backup. Its stdout and
 * stderr go to a log file in the keeper's dir (opened by the shell running as that user, as the
 * postmaster's log is), so a chatty restore tool (tar -v, pgbackrest) costs no memory; the last
 * RESTORE_OUTPUT_CHARS of it are what the keeper reports.
 */
import { closeSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describeError } from "../lib/errors.ts";
import { openOrCreateFile, readFileNoFollow } from "../lib/files.ts";
import type { PgData } from "./pgdata.ts";
import { PgCommandError, type CommandRunner } from "./runner.ts";

/** How much of the restore's output is kept for the report (KeeperInfo.init.output). */
export const RESTORE_OUTPUT_CHARS = 4000;
/** util-linux's setsid (Debian: always there); without it the restore runs in the keeper's process group. */
const SETSID = "/usr/bin/setsid";
/** The restore's log, in the keeper's dir (beside postgres.log); each restore starts it afresh. */
export const RESTORE_LOG = "pitr-restore.log";

/**
 * The dataRestoreCommand with stolon's substitutions: `%d` becomes the data dir, `%%` a single
 * `%`; any other `%x` stays as it is (restore tools have their own % codes). The data dir is put in
 * as it is, not quoted: as in stolon, the command quotes it ("%d") if it needs to.
 */
export function expandDataRestoreCommand(command: string, dataDir: string): string {
  return command.replace(/%([d%])/g, (_, c: string) => (c === "d" ? dataDir : "%"));
}

export interface RestoreResult {
  /** The shell's exit code; null when it was killed (the keeper stopping). */
  exitCode: number | null;
  /** The last RESTORE_OUTPUT_CHARS characters of its stdout and stderr, interleaved as written. */
  output: string;
}

/**
 * Runs the (expanded) command into the data dir, which the caller has emptied. Resolves with its
 * exit code and output tail whatever the exit; an abort kills its whole process group.
 * @throws PgCommandError when the shell cannot be started
 */
export async function runDataRestore(d: PgData, runner: CommandRunner, command: string, signal?: AbortSignal): Promise<RestoreResult> {
  const logPath = join(d.stateDir, RESTORE_LOG);
  // Made (or checked) here, the PostgreSQL user's; truncated and written by the shell running as that user.
  closeSync(openOrCreateFile(logPath, { mode: 0o640, owner: d.owner, owners: d.pgOwners }));
  if (signal?.aborted) throw new PgCommandError("dataRestoreCommand", null, "", "was not started: the keeper is stopping");
  // setsid: the restore runs in a process group of its own (setsid execs in place: its pid is the
  // group's), so a keeper that stops kills the tools the shell started too, not only the shell.
  const shell = ["/bin/sh", "-c", 'log=$1; exec >"$log" 2>&1 </dev/null; exec /bin/sh -c "$2"', "stolon-pitr-restore", logPath, command];
  const child = runner.spawn(existsSync(SETSID) ? [SETSID, ...shell] : shell, { env: { PGDATA: d.dataDir } });
  let killed = false;
  const onAbort = () => {
    killed = true;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const code = await child.exited;
    return { exitCode: killed ? null : code, output: readOutputTail(d, logPath) };
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

function readOutputTail(d: PgData, logPath: string): string {
  try {
    const text = readFileNoFollow(logPath, { owners: d.pgOwners, maxBytes: RESTORE_OUTPUT_CHARS * 4, tail: true }) ?? "";
    return text.length > RESTORE_OUTPUT_CHARS ? text.slice(text.length - RESTORE_OUTPUT_CHARS) : text;
  } catch (err) {
    return `(cannot read ${logPath}: ${describeError(err)})`;
  }
}
