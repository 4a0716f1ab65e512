/**
 * Atomic, owned file writes. A state file is written to a temp file, fsynced, renamed over the
 * target and the directory fsynced, so a crash leaves the old or the new content, never half.
 */
import { chownSync, closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";


export function writeFileAtomic(path: string, content: string, opts: { mode?: number; owner?: { uid: number; gid: number } | null } = {}): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", opts.mode ?? 0o600);
  try {
    if (opts.owner) chownSync(tmp, opts.owner.uid, opts.owner.gid);
    const buf = Buffer.from(content);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
