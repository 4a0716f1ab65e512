/**
 * Safe file operations: the one module through which the keeper creates, opens, reads and writes
 * files, so that a keeper running as root never follows a path that a less privileged user (the
 * PostgreSQL OS user) can change.
 *
 * The rules, each kept by one function here:
 *  - A file is created under a random name with O_CREAT|O_EXCL|O_NOFOLLOW, so a link or a file
 *    planted at a guessable name makes the open fail instead of writing through it; its owner is
 *    set with fchown on the open descriptor, never by path.
 *  - A file is replaced by rename(2), which replaces a link at the target instead of following it,
 *    and the directory is fsynced, so a crash leaves the old or the new content, never half.
 *  - An existing file or directory is opened with O_NOFOLLOW and O_NONBLOCK (a FIFO does not hang
 *    the open) and checked on the descriptor (fstat): its type, its owner, and for a file a single
 *    link (a hard link would make it another file too). Only then is it read or re-owned.
 *  - Directories are re-owned and re-moded through a descriptor (fchown, fchmod), never by path.
 *
 * What it does not do: guard a path whose parent directories the other user can write (it could
 * rename them between two calls). The keeper keeps its data dir and the ancestors of it out of that
 * user's reach (see unsafeAncestors) and uses these functions below that point only.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  type Stats,
} from "node:fs";
import { dirname, resolve, sep } from "node:path";
import { StolonError } from "./errors.ts";

export interface FileOwner {
  uid: number;
  gid: number;
}

/** A path that is not what it must be (a link, a FIFO, a directory, a foreign owner, a hard link). */
export class UnsafePathError extends StolonError {
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("EUNSAFEPATH", message, options);
  }
}

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY, O_NOCTTY } = constants;

/** What kind of file a stat describes, for error messages. */
export function fileKind(st: Stats): string {
  if (st.isFile()) return "a regular file";
  if (st.isDirectory()) return "a directory";
  if (st.isSymbolicLink()) return "a symbolic link";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "an unknown kind of file";
}

export interface CheckOptions {
  /** Uids that may own it; any owner when absent. */
  owners?: readonly number[];
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Throws UnsafePathError unless `st` (from fstat of what was opened) is a `want` owned as allowed. */
function check(path: string, st: Stats, want: "file" | "dir", o: CheckOptions): void {
  const ok = want === "file" ? st.isFile() : st.isDirectory();
  if (!ok) throw new UnsafePathError(path, `${path} is ${fileKind(st)}, not ${want === "file" ? "a regular file" : "a directory"}; refusing to use it (remove it)`);
  if (o.owners && !o.owners.includes(st.uid))
    throw new UnsafePathError(path, `${path} is owned by uid ${st.uid}, not by ${o.owners.map((u) => `uid ${u}`).join(" or ")}; refusing to use it`);
  if (want === "file" && st.nlink !== 1)
    throw new UnsafePathError(path, `${path} has ${st.nlink} hard links, so it is also another file; refusing to use it (remove it)`);
}

/** Opens with O_NOFOLLOW|O_NONBLOCK and the given flags; a link at `path` is an UnsafePathError. */
function openNoFollowRaw(path: string, flags: number, mode?: number): number {
  try {
    return openSync(path, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, mode);
  } catch (err) {
    if (errno(err) === "ELOOP") throw new UnsafePathError(path, `${path} is a symbolic link; refusing to follow it (remove it)`, { cause: err });
    if (errno(err) === "ENXIO") throw new UnsafePathError(path, `${path} is a FIFO or socket with nothing behind it; refusing to use it (remove it)`, { cause: err });
    throw err;
  }
}

/**
 * Opens an existing regular file or directory without following a link at `path` and without
 * blocking on a FIFO, then checks what was opened (type, owner, single link for a file). The
 * caller closes the descriptor.
 * @throws UnsafePathError when it is not what it must be; the fs error (ENOENT...) otherwise
 */
export function openNoFollow(path: string, want: "file" | "dir", o: CheckOptions = {}): number {
  const flags = want === "dir" ? O_RDONLY | O_DIRECTORY : O_RDONLY;
  let fd: number;
  try {
    fd = openNoFollowRaw(path, flags);
  } catch (err) {
    if (errno(err) === "ENOTDIR" && want === "dir") {
      const st = lstatSync(path);
      throw new UnsafePathError(path, `${path} is ${fileKind(st)}, not a directory; refusing to use it (remove it)`, { cause: err });
    }
    throw err;
  }
  try {
    check(path, fstatSync(fd), want, o);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Reads a regular file with openNoFollow's checks; null when it does not exist. At most `maxBytes`
 * are read (the last ones with `tail`); a longer file is an error unless `tail` is set.
 * @throws UnsafePathError when it is not a regular file of an allowed owner, or too long
 */
export function readFileNoFollow(path: string, o: CheckOptions & { maxBytes?: number; tail?: boolean } = {}): string | null {
  let fd: number;
  try {
    fd = openNoFollow(path, "file", o);
  } catch (err) {
    if (errno(err) === "ENOENT") return null;
    throw err;
  }
  try {
    const max = o.maxBytes ?? 1024 * 1024;
    const size = fstatSync(fd).size;
    if (size > max && !o.tail) throw new UnsafePathError(path, `${path} is ${size} bytes, more than the ${max} expected; refusing to read it`);
    const start = Math.max(0, size - max);
    const buf = Buffer.alloc(Math.min(size, max));
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, start + off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** A temp name beside `path` that nobody can guess: `<path>.tmp-<16 hex digits>`. */
export function tempNameFor(path: string): string {
  return `${path}.tmp-${randomBytes(8).toString("hex")}`;
}

/**
 * Creates a new file that must not exist yet (O_CREAT|O_EXCL|O_NOFOLLOW), sets its mode and owner
 * on the descriptor, and returns the descriptor (write-only).
 * @throws the fs error (EEXIST when anything, a link included, is at `path`)
 */
export function createExclusive(path: string, o: { mode: number; owner?: FileOwner | null }): number {
  const fd = openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, o.mode);
  try {
    if (o.owner) fchownSync(fd, o.owner.uid, o.owner.gid);
    // The umask may have taken bits from the mode given to open.
    fchmodSync(fd, o.mode);
    return fd;
  } catch (err) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw err;
  }
}

/**
 * Atomic write: a new file under a random temp name (createExclusive: owner set on the
 * descriptor), written, fsynced, renamed over `path` (a link there is replaced, not followed),
 * directory fsynced. A crash leaves the old or the new content.
 */
export function writeFileAtomic(path: string, content: string, opts: { mode?: number; owner?: FileOwner | null } = {}): void {
  const tmp = tempNameFor(path);
  const fd = createExclusive(tmp, { mode: opts.mode ?? 0o600, owner: opts.owner });
  try {
    const buf = Buffer.from(content);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    fsyncSync(fd);
    closeSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(path));
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface EnsureDirOptions {
  /** Mode when created; also forced on an existing dir with `forceMode`. */
  mode: number;
  forceMode?: boolean;
  /** Owner to give it (through the descriptor); none: whoever creates it. */
  owner?: FileOwner | null;
  /** Uids an existing dir may be owned by before it is re-owned; any when absent. */
  owners?: readonly number[];
}

/**
 * Creates a directory (its parent must exist) or checks the existing one, without following a
 * link: it is opened with O_DIRECTORY|O_NOFOLLOW, checked on the descriptor, and re-owned and
 * re-moded through it.
 * @throws UnsafePathError when a link or anything but a directory is there, or its owner is not allowed
 */
export function ensureDir(path: string, o: EnsureDirOptions): void {
  let created = false;
  try {
    mkdirSync(path, { mode: o.mode });
    created = true;
  } catch (err) {
    if (errno(err) !== "EEXIST") throw err;
  }
  const fd = openNoFollow(path, "dir", { owners: created ? undefined : o.owners });
  try {
    const st = fstatSync(fd);
    if (o.owner && (st.uid !== o.owner.uid || st.gid !== o.owner.gid)) fchownSync(fd, o.owner.uid, o.owner.gid);
    if ((created || o.forceMode) && (st.mode & 0o7777) !== o.mode) fchmodSync(fd, o.mode);
  } finally {
    closeSync(fd);
  }
}

/**
 * Takes over an existing regular file: checked on an O_NOFOLLOW descriptor (owner among `owners`,
 * one link), then given `owner` and `mode` through it. Nothing when it does not exist.
 * @throws UnsafePathError when it is a link, a FIFO, a directory, has a foreign owner or hard links
 */
export function reownFile(path: string, o: { owners: readonly number[]; owner: FileOwner; mode: number }): boolean {
  let fd: number;
  try {
    fd = openNoFollow(path, "file", { owners: o.owners });
  } catch (err) {
    if (errno(err) === "ENOENT") return false;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (st.uid !== o.owner.uid || st.gid !== o.owner.gid) fchownSync(fd, o.owner.uid, o.owner.gid);
    if ((st.mode & 0o7777) !== o.mode) fchmodSync(fd, o.mode);
    return true;
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens a file that may already exist, for keeping open (the lock) or for another process to
 * write (the log): created with createExclusive when absent, else opened with openNoFollow's
 * checks (owner among `owners`, regular, one link) and given `owner` and `mode` on the descriptor.
 * The caller closes the returned descriptor (write-only when just created, else read-write).
 * @throws UnsafePathError when what is there is not such a file
 */
export function openOrCreateFile(path: string, o: { mode: number; owner?: FileOwner | null; owners: readonly number[] }): number {
  try {
    return createExclusive(path, { mode: o.mode, owner: o.owner });
  } catch (err) {
    if (errno(err) !== "EEXIST") throw err;
  }
  let fd: number;
  try {
    fd = openNoFollowRaw(path, O_RDWR);
  } catch (err) {
    if (errno(err) === "EISDIR") throw new UnsafePathError(path, `${path} is a directory, not a regular file; refusing to use it (remove it)`, { cause: err });
    throw err;
  }
  try {
    const st = fstatSync(fd);
    check(path, st, "file", { owners: o.owners });
    if (o.owner && (st.uid !== o.owner.uid || st.gid !== o.owner.gid)) fchownSync(fd, o.owner.uid, o.owner.gid);
    if ((st.mode & 0o7777) !== o.mode) fchmodSync(fd, o.mode);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** lstat, or null when nothing is there. */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if (errno(err) === "ENOENT") return null;
    throw err;
  }
}

/**
 * The directories from `/` down to the parent of `path` (and, when the path goes through links,
 * down to the parent of the path they lead to) that a user other than root could change: not owned
 * by root, or writable by a group other than root's or by everyone without the sticky bit (with
 * it, only an entry owned by root below it is safe). In such a directory that user could rename
 * `path` away and put a link in its place. Each comes with the reason; none when the path is safe.
 */
export function unsafeAncestors(path: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = (p: string) => {
    const parts = p.split(sep).filter(Boolean);
    let cur = "/";
    for (const part of parts) {
      const child = cur === "/" ? `/${part}` : `${cur}/${part}`;
      if (!seen.has(cur)) {
        seen.add(cur);
        let st: Stats;
        try {
          st = statSync(cur);
        } catch {
          break;
        }
        const childSt = lstatOrNull(child);
        const sticky = (st.mode & 0o1000) !== 0;
        const otherWritable = (st.mode & 0o002) !== 0 || ((st.mode & 0o020) !== 0 && st.gid !== 0);
        if (st.uid !== 0) out.push(`${cur} (owned by uid ${st.uid}, not root)`);
        else if (otherWritable && !(sticky && childSt !== null && childSt.uid === 0))
          out.push(`${cur} (writable by ${st.mode & 0o002 ? "everyone" : `group ${st.gid}`}${sticky ? ` and ${child} is not root's` : ""})`);
      }
      cur = child;
    }
  };
  const abs = resolve(path);
  walk(abs);
  let real: string | null = null;
  try {
    real = realpathSync.native(abs);
  } catch {
    // does not exist yet: the lexical path is all there is
  }
  if (real !== null && real !== abs) walk(real);
  return out;
}
