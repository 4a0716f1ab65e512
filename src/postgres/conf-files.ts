/**
 * The configuration files in PGDATA: postgresql.conf, pg_hba.conf, the signal files, and the
 * ALTER SYSTEM guard on postgresql.auto.conf. What goes in them is rendered in config.ts; this
 * module only puts it in place, through PgData's safe writes.
 */
import { readlinkSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { fileKind, lstatOrNull, readFileNoFollow, UnsafePathError } from "../lib/files.ts";
import { MAX_CONF_BYTES, type PgData } from "./pgdata.ts";

/**
 * Writes postgresql.conf, pg_hba.conf, standby.signal (present for a standby) and recovery.signal
 * (present for an archive recovery: a pitr init; standby.signal wins when both are asked).
 */
export function writeConfig(d: PgData, c: { postgresqlConf: string; hba: string; standby: boolean; recovery?: boolean }): void {
  d.writeOwned(join(d.dataDir, "postgresql.conf"), c.postgresqlConf);
  writeHba(d, c.hba);
  const signal = join(d.dataDir, "standby.signal");
  if (c.standby) d.writeOwned(signal, "");
  else rmSync(signal, { force: true });
  const recovery = join(d.dataDir, "recovery.signal");
  if (c.recovery && !c.standby) d.writeOwned(recovery, "");
  else rmSync(recovery, { force: true });
}

/** Writes pg_hba.conf alone (the fence); PostgreSQL reads it on the next reload. */
export function writeHba(d: PgData, hba: string): void {
  d.writeOwned(join(d.dataDir, "pg_hba.conf"), hba);
}

/**
 * ALTER SYSTEM is neutralised as stolon does: postgresql.auto.conf is a symlink to /dev/null, so
 * nothing written there survives. ALTER SYSTEM can still replace the link with a file; this puts
 * the link back and says what was dropped. Returns the dropped content, if any.
 */
export function neutraliseAutoConf(d: PgData): string | null {
  const p = autoConfPath(d);
  const st = lstatOrNull(p);
  if (st?.isSymbolicLink() && readlinkSync(p) === "/dev/null") return null;
  let dropped: string | null = null;
  if (st) {
    if (st.isDirectory()) throw new UnsafePathError(p, `${p} is a directory; remove it (ALTER SYSTEM is neutralised with a link to /dev/null there)`);
    dropped = st.isFile()
      ? droppedSettings(d, p)
      : // A link elsewhere or a FIFO is not read: it is only removed.
        `(${fileKind(st)}${st.isSymbolicLink() ? ` to ${readlinkSync(p)}` : ""}, not read)`;
    // unlink removes the name and follows nothing.
    try {
      unlinkSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  // The link stays root's when the keeper is root: PostgreSQL does not care who owns it, and a
  // chown by path could be made to land on something else.
  symlinkSync("/dev/null", p);
  return dropped;
}

/**
 * Removes the guard's link, for pg_rewind: it copies the source's files and must not follow the
 * link into /dev/null. neutraliseAutoConf puts it back.
 */
export function removeAutoConf(d: PgData): void {
  rmSync(autoConfPath(d), { force: true });
}

function autoConfPath(d: PgData): string {
  return join(d.dataDir, "postgresql.auto.conf");
}

/** The settings an ALTER SYSTEM wrote into a regular postgresql.auto.conf, "; "-joined; null when none. */
function droppedSettings(d: PgData, p: string): string | null {
  try {
    const text = readFileNoFollow(p, { owners: d.pgOwners, maxBytes: MAX_CONF_BYTES }) ?? "";
    const settings = text.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
    return settings.length > 0 ? settings.join("; ") : null;
  } catch (err) {
    if (!(err instanceof UnsafePathError)) throw err;
    return `(unread: ${err.message})`;
  }
}
