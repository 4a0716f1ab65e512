/**
 * The pure part of scripts/backrest.ts: pgbackrest.conf for a cluster, the archive_command
 * for the spec's pgParameters, a pgpass line, and WAL segment names along a timeline history
 * (to check that an archive has no gap). No I/O: unit-tested in test/unit/harness-backrest.test.ts.
 */

/** One PostgreSQL instance as pgBackRest's pgN options name it (pgN-path, pgN-port, pgN-socket-path). */
export interface BackrestPg {
  /** The data dir (the keeper's <data-dir>/postgres). */
  path: string;
  port: number;
  /** The dir of its Unix socket (pgBackRest connects only through the socket). */
  socketPath: string;
}

/** What pgbackrest.conf says: the [global] dirs and one stanza. */
export interface BackrestConfigInput {
  stanza: string;
  repoPath: string;
  lockPath: string;
  logPath: string;
  spoolPath: string;
  /** The cluster's keepers, pg1 first; pgBackRest finds which one is the primary itself. */
  pgs: BackrestPg[];
  /** The PostgreSQL role pgBackRest connects as (our superuser; the socket's pg_hba line is md5). */
  pgUser: string;
  /** Full backups kept (older ones, and the WAL only they need, are expired after a backup). */
  retentionFull?: number;
}

/**
 * pgbackrest.conf for one cluster. Pure. Every keeper is a pgN of the stanza: a backup connects
 * to each, takes the primary as the source (or, with --backup-standby, copies from a standby and
 * only starts and stops the backup on the primary), and warns about the ones it cannot reach.
 */
export function renderBackrestConfig(c: BackrestConfigInput): string {
  for (const v of [c.stanza, c.repoPath, c.lockPath, c.logPath, c.spoolPath, c.pgUser, ...c.pgs.flatMap((p) => [p.path, p.socketPath])])
    if (/[\n\r\0]/.test(v)) throw new Error(`pgbackrest.conf: ${JSON.stringify(v)} contains a newline or NUL`);
  checkStanza(c.stanza);
  const lines = [
    "[global]",
    `repo1-path=${c.repoPath}`,
    `repo1-retention-full=${c.retentionFull ?? 2}`,
    `lock-path=${c.lockPath}`,
    `log-path=${c.logPath}`,
    `spool-path=${c.spoolPath}`,
    "log-level-console=warn",
    "log-level-file=info",
    // A backup starts with an immediate checkpoint rather than waiting for the next one.
    "start-fast=y",
    "",
    `[${c.stanza}]`,
    ...c.pgs.flatMap((p, i) => [`pg${i + 1}-path=${p.path}`, `pg${i + 1}-port=${p.port}`, `pg${i + 1}-socket-path=${p.socketPath}`, `pg${i + 1}-user=${c.pgUser}`]),
  ];
  return lines.join("\n") + "\n";
}

/** A stanza name is used unquoted in commands and as a section name: letters, digits, "_", "." and "-". */
function checkStanza(stanza: string): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(stanza)) throw new Error(`pgbackrest stanza ${JSON.stringify(stanza)}: letters, digits, "_", "." and "-" only`);
}

/**
 * `pgbackrest --config=... --stanza=...`, the start of every command PostgreSQL or the keeper
 * runs: a "%" in the config path would be read as a placeholder there, so it is refused.
 */
function commandPrefix(configPath: string, stanza: string): string {
  checkStanza(stanza);
  if (configPath.includes("%")) throw new Error(`pgbackrest config path ${JSON.stringify(configPath)}: a "%" would be read as a placeholder`);
  return `pgbackrest --config=${shellQuote(configPath)} --stanza=${stanza}`;
}

/** A POSIX shell word: `s` in single quotes. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The archive_command for the cluster spec's pgParameters, the same on every keeper. PostgreSQL
 * runs it through /bin/sh with the data dir as its working directory (the postmaster changes to
 * it at start and the archiver inherits it) and %p relative to it; pgBackRest needs the data dir
 * as an absolute pg1-path (to read pg_control and to find %p), so "$PWD", which the shell sets to
 * its working directory, names whichever keeper's data dir runs it: the one that is master now.
 */
export function archiveCommand(configPath: string, stanza: string): string {
  return `${commandPrefix(configPath, stanza)} --pg1-path="$PWD" archive-push %p`;
}

/**
 * The restore_command for a restore from the repository (archiveRecoverySettings.restoreCommand
 * of a pitr or standby cluster): like archive_command, PostgreSQL runs it through /bin/sh in the
 * data dir, so "$PWD" is the pg1-path pgBackRest needs (it reads pg_control there).
 */
export function restoreCommand(configPath: string, stanza: string): string {
  return `${commandPrefix(configPath, stanza)} --pg1-path="$PWD" archive-get %f "%p"`;
}

/**
 * The dataRestoreCommand of an initMode pitr spec: `pgbackrest restore` into %d, the data dir the
 * keeper names (pgBackRest creates it when missing and refuses one that holds files). `targetTime`
 * (the spec's recoveryTargetTime) lets pgBackRest choose the last backup that ended before it;
 * without it the latest backup is restored (`--set=LABEL` in `extra` picks another). pgBackRest
 * also writes recovery settings into postgresql.auto.conf: the keeper's own must win over them.
 */
export function dataRestoreCommand(configPath: string, stanza: string, o: { targetTime?: string; extra?: string[] } = {}): string {
  for (const v of [o.targetTime ?? "", ...(o.extra ?? [])])
    if (v.includes("%")) throw new Error(`dataRestoreCommand: ${JSON.stringify(v)}: a "%" would be read as a placeholder`);
  const target = o.targetTime === undefined ? ["--type=none"] : ["--type=time", shellQuote(`--target=${o.targetTime}`)];
  return [commandPrefix(configPath, stanza), "--pg1-path=%d", ...target, ...(o.extra ?? []).map(shellQuote), "restore"].join(" ");
}

/** The PostgreSQL parameters that turn WAL archiving to the repository on, for the spec's pgParameters. */
export function archivingParameters(configPath: string, stanza: string): Record<string, string> {
  return { archive_mode: "on", archive_command: archiveCommand(configPath, stanza) };
}

/** One line of a .pgpass file: `*` for host, port and database; `:` and `\` escaped. */
export function pgpassLine(user: string, password: string): string {
  const esc = (s: string) => s.replace(/[\\:]/g, (c) => `\\${c}`);
  return `*:*:*:${esc(user)}:${esc(password)}\n`;
}

/** WAL segment size: initdb's default (16 MiB), which the keepers use. */
export const WAL_SEGMENT_BYTES = 16 * 1024 * 1024;

/** An LSN ("16/B374D848") as a byte position. */
export function parseLsn(lsn: string): number {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m) throw new Error(`not an LSN: ${JSON.stringify(lsn)}`);
  return parseInt(m[1]!, 16) * 2 ** 32 + parseInt(m[2]!, 16);
}

/** A WAL segment file name (24 hex digits: timeline, then the segment number in two halves). */
export function walFileName(tli: number, segno: number): string {
  const perId = 2 ** 32 / WAL_SEGMENT_BYTES;
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
  return hex(tli) + hex(Math.floor(segno / perId)) + hex(segno % perId);
}

/** The timeline and segment number of a WAL segment file name. */
export function parseWalFileName(name: string): { tli: number; segno: number } {
  if (!/^[0-9A-F]{24}$/.test(name)) throw new Error(`not a WAL segment file name: ${JSON.stringify(name)}`);
  const perId = 2 ** 32 / WAL_SEGMENT_BYTES;
  return { tli: parseInt(name.slice(0, 8), 16), segno: parseInt(name.slice(8, 16), 16) * perId + parseInt(name.slice(16), 16) };
}

/** A timeline history file (`<parent tli> <switch LSN> <reason>` per line) as its switch points, oldest first. */
export function parseTimelineHistory(text: string): { tli: number; switchLsn: number }[] {
  const out: { tli: number; switchLsn: number }[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    const [tli, lsn] = t.split(/\s+/);
    if (!/^\d+$/.test(tli ?? "") || lsn === undefined) throw new Error(`timeline history: cannot read the line ${JSON.stringify(t)}`);
    out.push({ tli: Number(tli), switchLsn: parseLsn(lsn) });
  }
  return out;
}

/**
 * Every WAL segment recovery reads from `min` to `max` (file names, as pgbackrest info gives
 * them), following the timeline history of max's timeline: a segment before a switch point's
 * segment is the parent timeline's, the segment holding the switch point and those after it the
 * child's (the promoted server writes that segment anew on its timeline). An archive holds all of
 * them when it has no gap.
 */
export function segmentsOnPath(min: string, max: string, history: { tli: number; switchLsn: number }[]): string[] {
  const lo = parseWalFileName(min);
  const hi = parseWalFileName(max);
  const out: string[] = [];
  for (let segno = lo.segno; segno <= hi.segno; segno++) {
    const owner = history.find((h) => segno < Math.floor(h.switchLsn / WAL_SEGMENT_BYTES));
    out.push(walFileName(owner?.tli ?? hi.tli, segno));
  }
  return out;
}
