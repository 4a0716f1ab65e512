/**
 * The keeper's data dir, and who may write what in it.
 *
 * When the keeper runs as root, PostgreSQL runs as an unprivileged OS user (--pg-os-user). That
 * user is not trusted by root: whatever it can write, it can turn into a link, a FIFO or a hard
 * link to make root write, chown or read something else. So the tree is split:
 *
 *   <data-dir>/          root:<pg group> 0750  root's; the PostgreSQL user may enter and list it
 *     keeperstate        root 0600             the keeper's identity
 *     dbstate            root 0600             the DB and generation it converged to
 *     lock               root 0600             flock while a keeper runs
 *     pgpass             <pg user> 0600        the walreceiver's passfile; libpq ignores a passfile
 *                                              that has group or other access, so it must be the
 *                                              PostgreSQL user's own. Root only replaces it (new
 *                                              file under a random name, rename), never reads it.
 *     postgres.log       <pg user> 0640        opened (append) by a shell running as that user
 *     pitr-restore.log   <pg user> 0640        the pitr init's dataRestoreCommand output, opened
 *                                              (truncated) by a shell running as that user
 *     pitrfailure        root 0600             a pitr init that failed here (local-state.ts)
 *     postgres/          <pg user> 0700        PGDATA
 *     run/               <pg user> 0700        the unix socket dir
 *     postgres.new/      <pg user> 0700        a pg_basebackup copy being made; swapped in for
 *     postgres.old/      <pg user> 0700        postgres/ once complete (the replaced data, removed after)
 *
 * The PostgreSQL user cannot create, rename or remove anything directly in the data dir (it is
 * root's, 0750), so the names there stay what root made them; it writes only inside postgres/ and
 * run/, and below those root reads and writes only through src/lib/files.ts (no link followed, FIFO
 * refused, type and owner checked on the descriptor, new files under random names).
 *
 * Without root (the Docker image), the keeper and PostgreSQL are one user: the data dir is 0700
 * and everything belongs to that user, as before.
 */
import { mkdirSync, readdirSync, realpathSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ConfigError, describeError } from "../lib/errors.ts";
import { ensureDir, lstatOrNull, reownFile, UnsafePathError, unsafeAncestors } from "../lib/files.ts";
import type { OsUser } from "../postgres/os-user.ts";

/** Unix socket paths are limited to 107 bytes; the socket's own name takes up to 20 more. */
export const MAX_SOCKET_DIR = 80;

const self = () => ({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });

/** Names in the data dir root of the passfiles the keeper writes for one program run. */
const TEMP_SECRET_RE = /^\.(pgpass|pwfile)-[a-z0-9]+(\.tmp-[0-9a-f]+)?$/;
/** Temp names of writeFileAtomic (random now, `<name>.tmp-<pid>` before), left by a crash. */
const TEMP_FILE_RE = /^(keeperstate|dbstate|pgpass)\.tmp-[0-9a-f]+$/;

/**
 * Makes the data dir (or takes over one left by an earlier version, where the PostgreSQL user
 * owned everything) and returns its real path. As root: refuses a data dir whose ancestors a
 * non-root user can change; makes the dir root's; re-owns root's files (refusing a link, a FIFO, a
 * directory or a hard link where one is expected, naming the path); makes run/ the PostgreSQL
 * user's, 0700.
 * @throws ConfigError naming the path and what is wrong with it
 */
export function prepareDataDir(dataDirFlag: string, pgUser: OsUser | null): string {
  const abs = resolve(dataDirFlag);
  try {
    mkdirSync(dirname(abs), { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new ConfigError(`--data-dir ${abs}: cannot create its parent: ${describeError(err)}`, { cause: err });
  }
  if (pgUser) {
    const unsafe = unsafeAncestors(abs);
    if (unsafe.length > 0)
      throw new ConfigError(
        `--data-dir ${abs}: ${unsafe.join(", ")}: a user other than root could replace the data dir with a link there and have the keeper, running as root, write where it points; use a data dir whose every parent only root can write`,
      );
  }
  let dir = abs;
  try {
    if (lstatOrNull(abs)) dir = realpathSync.native(abs);
    const me = self();
    if (!pgUser) {
      ensureDir(dir, { mode: 0o700 });
    } else {
      const takeOver = [me.uid, pgUser.uid];
      // First the dir itself: once it is root's, nothing in it can be renamed or replaced by the
      // PostgreSQL user, so what is checked below stays as checked.
      ensureDir(dir, { mode: 0o750, forceMode: true, owner: { uid: me.uid, gid: pgUser.gid }, owners: takeOver });
      for (const name of ["keeperstate", "dbstate", "lock"]) reownFile(join(dir, name), { owners: takeOver, owner: me, mode: 0o600 });
      const pg = { uid: pgUser.uid, gid: pgUser.gid };
      reownFile(join(dir, "pgpass"), { owners: takeOver, owner: pg, mode: 0o600 });
      for (const name of ["postgres.log", "postgres.log.1"]) reownFile(join(dir, name), { owners: takeOver, owner: pg, mode: 0o640 });
      if (lstatOrNull(join(dir, "postgres"))) ensureDir(join(dir, "postgres"), { mode: 0o700, owner: pg, owners: takeOver });
      ensureDir(join(dir, "run"), { mode: 0o700, forceMode: true, owner: pg, owners: takeOver });
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const what = err instanceof UnsafePathError ? "" : "cannot prepare it: ";
    throw new ConfigError(`--data-dir ${dir}: ${what}${describeError(err)}`, { cause: err });
  }
  return dir;
}

/**
 * Removes the passfiles and temp files a killed keeper left in the data dir root (by the previous
 * version too, at its predictable names). Called with the data dir lock held, so that they are
 * not those of a keeper at work.
 */
export function removeLeftovers(dataDir: string): void {
  try {
    // unlink removes a name, whatever it is, and follows nothing.
    for (const name of readdirSync(dataDir)) if (TEMP_SECRET_RE.test(name) || TEMP_FILE_RE.test(name)) unlinkSync(join(dataDir, name));
  } catch (err) {
    throw new ConfigError(`--data-dir ${dataDir}: cannot remove what a killed keeper left: ${describeError(err)}`, { cause: err });
  }
}

/**
 * The socket dir: `<data-dir>/run`, or, when that path is too long for a unix socket,
 * `<tmpdir>/stolon-keeper-<uid>`. That name is predictable in a world-writable dir, so it is
 * created here, 0700 and the PostgreSQL user's, and refused when something else is already there:
 * a link, a file, or a dir of another user or with another mode (another user could have put a
 * fake server's socket in it to catch the keeper's password).
 * @throws ConfigError naming the dir and what is wrong with it
 */
export function prepareSocketDir(dataDir: string, keeperUid: string, pgUser: OsUser | null, tmp: string): string {
  const runDir = join(dataDir, "run");
  if (runDir.length <= MAX_SOCKET_DIR) {
    if (!pgUser) {
      try {
        ensureDir(runDir, { mode: 0o700 });
      } catch (err) {
        throw new ConfigError(`socket dir ${runDir}: ${describeError(err)}`, { cause: err });
      }
    }
    return runDir;
  }
  const dir = join(tmp, `stolon-keeper-${keeperUid}`);
  const me = self();
  const owner = pgUser ? { uid: pgUser.uid, gid: pgUser.gid } : me;
  const existed = lstatOrNull(dir);
  if (existed && !(existed.isDirectory() && existed.uid === owner.uid && (existed.mode & 0o7777) === 0o700))
    throw new ConfigError(
      `socket dir ${dir} (the data dir path is too long for a unix socket in ${runDir}): it exists and is not this keeper's (a ${existed.isDirectory() ? `directory of uid ${existed.uid}, mode ${(existed.mode & 0o7777).toString(8)}` : "non-directory"}, where a directory of uid ${owner.uid}, mode 700 is expected); remove it, or use a shorter --data-dir`,
    );
  try {
    ensureDir(dir, { mode: 0o700, forceMode: true, owner: pgUser ? owner : null, owners: [owner.uid] });
  } catch (err) {
    throw new ConfigError(`socket dir ${dir}: ${describeError(err)}`, { cause: err });
  }
  return dir;
}
