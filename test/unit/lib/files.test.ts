/**
 * The safe file operations of src/lib/files.ts against what the PostgreSQL OS user could plant
 * where it can write: a link at the target or at a temp name, a FIFO, a directory, a hard link, a
 * file of another owner. Run as root, the tests play that user by chowning what they plant to it;
 * every victim (a file or dir the planted thing points at) must come out unchanged.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, closeSync, lchownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createExclusive,
  ensureDir,
  openNoFollow,
  openOrCreateFile,
  readFileNoFollow,
  reownFile,
  UnsafePathError,
  unsafeAncestors,
  writeFileAtomic,
} from "../../../src/lib/files.ts";
import { asAttacker, attacker, mkfifo, snapshot, type Snapshot } from "../../attacker.ts";

const root = mkdtempSync(join(tmpdir(), "stolon-test-files-"));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh dir (owned by the attacker when there is one, as PGDATA is) with a victim file and dir beside it. */
function scene(): { dir: string; victimFile: string; victimDir: string; before: () => Snapshot[] } {
  const base = join(root, `s${n++}`);
  mkdirSync(base);
  const dir = join(base, "tree");
  mkdirSync(dir, { mode: 0o700 });
  if (attacker) chownSync(dir, attacker.uid, attacker.gid);
  const victimFile = join(base, "victim-file");
  writeFileSync(victimFile, "precious\n", { mode: 0o600 });
  const victimDir = join(base, "victim-dir");
  mkdirSync(victimDir, { mode: 0o700 });
  writeFileSync(join(victimDir, "inside"), "precious too\n", { mode: 0o600 });
  const snap = () => [snapshot(victimFile), snapshot(victimDir), snapshot(join(victimDir, "inside"))];
  const first = snap();
  return { dir, victimFile, victimDir, before: () => first };
}

function unchanged(s: ReturnType<typeof scene>): void {
  expect([snapshot(s.victimFile), snapshot(s.victimDir), snapshot(join(s.victimDir, "inside"))]).toEqual(s.before());
}

/** Plants, as the attacker, a link at `path` to `to`. */
function plantLink(path: string, to: string): void {
  symlinkSync(to, path);
  if (attacker) lchownSync(path, attacker.uid, attacker.gid);
}

describe("writeFileAtomic", () => {
  test("a link at the target is replaced, not written through", () => {
    const s = scene();
    const target = join(s.dir, "postgresql.conf");
    plantLink(target, s.victimFile);
    writeFileAtomic(target, "ours\n", { owner: attacker });
    expect(lstatSync(target).isFile()).toBe(true);
    expect(readFileSync(target, "utf8")).toBe("ours\n");
    unchanged(s);
  });

  test("the temp name is random: links at the old predictable <file>.tmp-<pid> are not used", () => {
    const s = scene();
    const target = join(s.dir, "dbstate");
    plantLink(`${target}.tmp-${process.pid}`, s.victimFile);
    writeFileAtomic(target, "ours\n", { owner: attacker });
    expect(readFileSync(target, "utf8")).toBe("ours\n");
    unchanged(s);
    // Nothing of ours is left beside it, only the planted link.
    expect(readdirSync(s.dir).sort()).toEqual(["dbstate", `dbstate.tmp-${process.pid}`]);
  });

  test("the owner and mode are set on the new file (fchown on the descriptor), whatever the umask", () => {
    const s = scene();
    const target = join(s.dir, "pgpass");
    writeFileAtomic(target, "x\n", { mode: 0o640, owner: attacker });
    const st = statSync(target);
    expect(st.mode & 0o777).toBe(0o640);
    if (attacker) expect([st.uid, st.gid]).toEqual([attacker.uid, attacker.gid]);
  });
});

describe("createExclusive", () => {
  test("a link (even a dangling one) at the name makes it fail, and nothing is written through it", () => {
    const s = scene();
    const p = join(s.dir, ".pgpass-abc");
    plantLink(p, s.victimFile);
    expect(() => createExclusive(p, { mode: 0o600, owner: attacker })).toThrow(/EEXIST/);
    const dangling = join(s.dir, ".pwfile-abc");
    plantLink(dangling, join(s.victimDir, "new-file"));
    expect(() => createExclusive(dangling, { mode: 0o600 })).toThrow(/EEXIST/);
    expect(readdirSync(s.victimDir)).toEqual(["inside"]);
    unchanged(s);
  });
});

describe("readFileNoFollow", () => {
  const cases: [string, (p: string, s: ReturnType<typeof scene>) => void, RegExp][] = [
    ["a link to a file", (p, s) => plantLink(p, s.victimFile), /is a symbolic link; refusing to follow it/],
    ["a link to a dir", (p, s) => plantLink(p, s.victimDir), /is a symbolic link/],
    ["a FIFO (the open must not hang)", (p) => mkfifo(p), /is a FIFO, not a regular file/],
    ["a directory", (p) => mkdirSync(p), /is a directory, not a regular file/],
    ["a hard link", (p, s) => linkSync(s.victimFile, p), /has 2 hard links/],
  ];
  test.each(cases)("%s is refused with an error naming the path", (_, plant, msg) => {
    const s = scene();
    const p = join(s.dir, "postgresql.conf");
    plant(p, s);
    let err: unknown;
    try {
      readFileNoFollow(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsafePathError);
    expect((err as Error).message).toMatch(msg);
    expect((err as Error).message).toContain(p);
    unchanged(s);
  });

  // chown to another uid needs root.
  test.skipIf(!attacker)("a file of another owner is refused", () => {
    const s = scene();
    const p = join(s.dir, "keeperstate");
    writeFileSync(p, "{}");
    chownSync(p, 4242, 4242);
    expect(() => readFileNoFollow(p, { owners: [process.getuid!()] })).toThrow(/owned by uid 4242, not by uid/);
  });

  test("absent is null; a too long file is refused; tail reads the end", () => {
    const s = scene();
    const p = join(s.dir, "postgres.log");
    expect(readFileNoFollow(p)).toBeNull();
    writeFileSync(p, "0123456789");
    expect(() => readFileNoFollow(p, { maxBytes: 4 })).toThrow(/10 bytes, more than the 4 expected/);
    expect(readFileNoFollow(p, { maxBytes: 4, tail: true })).toBe("6789");
    expect(readFileNoFollow(p)).toBe("0123456789");
  });
});

describe("ensureDir", () => {
  test("a link at the dir is refused and its target is neither chowned nor chmodded", () => {
    const s = scene();
    const p = join(s.dir, "run");
    plantLink(p, s.victimDir);
    expect(() => ensureDir(p, { mode: 0o700, forceMode: true, owner: attacker ?? { uid: 4242, gid: 4242 } })).toThrow(/run is a symbolic link/);
    unchanged(s);
  });

  test("a file where the dir should be is refused", () => {
    const s = scene();
    const p = join(s.dir, "run");
    mkfifo(p);
    expect(() => ensureDir(p, { mode: 0o700 })).toThrow(/run is a FIFO, not a directory/);
  });

  // chown to another uid needs root.
  test.skipIf(!attacker)("an existing dir of a user not allowed is refused; an allowed one is re-owned and re-moded", () => {
    const s = scene();
    const p = join(s.dir, "sock");
    mkdirSync(p, { mode: 0o777 });
    chownSync(p, 4242, 4242);
    expect(() => ensureDir(p, { mode: 0o700, owners: [0] })).toThrow(/owned by uid 4242/);
    ensureDir(p, { mode: 0o700, forceMode: true, owner: { uid: 0, gid: 0 }, owners: [0, 4242] });
    const st = statSync(p);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o700]);
  });

  test("a new dir gets the mode and the owner", () => {
    const s = scene();
    const p = join(s.dir, "postgres");
    ensureDir(p, { mode: 0o700, owner: attacker });
    const st = statSync(p);
    expect(st.mode & 0o7777).toBe(0o700);
    if (attacker) expect(st.uid).toBe(attacker.uid);
  });
});

describe("openOrCreateFile and reownFile", () => {
  test.each([
    ["a link", (p: string, s: ReturnType<typeof scene>) => plantLink(p, s.victimFile), /symbolic link/],
    ["a FIFO", (p: string) => mkfifo(p), /FIFO/],
    ["a hard link", (p: string, s: ReturnType<typeof scene>) => linkSync(s.victimFile, p), /hard links/],
    ["a directory", (p: string) => mkdirSync(p), /directory/],
  ] as const)("%s at the lock or log name is refused, the victim untouched", (_, plant, msg) => {
    const s = scene();
    const p = join(s.dir, "lock");
    plant(p, s);
    const me = process.getuid!();
    expect(() => openOrCreateFile(p, { mode: 0o600, owner: attacker, owners: [me, attacker?.uid ?? me] })).toThrow(msg);
    expect(() => reownFile(p, { owners: [me, attacker?.uid ?? me], owner: { uid: me, gid: 0 }, mode: 0o600 })).toThrow(msg);
    unchanged(s);
  });

  test("openOrCreateFile creates the file with its owner, then reopens it", () => {
    const s = scene();
    const p = join(s.dir, "postgres.log");
    closeSync(openOrCreateFile(p, { mode: 0o640, owner: attacker, owners: [process.getuid!()] }));
    const st = statSync(p);
    expect(st.mode & 0o777).toBe(0o640);
    if (attacker) {
      expect(st.uid).toBe(attacker.uid);
      expect(() => openOrCreateFile(p, { mode: 0o640, owners: [process.getuid!()] })).toThrow(/owned by uid/);
    }
    closeSync(openOrCreateFile(p, { mode: 0o640, owner: attacker, owners: [process.getuid!(), attacker?.uid ?? 0] }));
  });

  test("openNoFollow on a dir refuses a link to a dir", () => {
    const s = scene();
    const p = join(s.dir, "d");
    plantLink(p, s.victimDir);
    expect(() => openNoFollow(p, "dir")).toThrow(/symbolic link/);
  });
});

// Needs root: a root-owned tree to call safe, and chown to play other users.
describe.skipIf(!attacker)("unsafeAncestors", () => {
  test("a dir below one the attacker owns, or below a world-writable one, is unsafe; below root's 0755 it is safe", () => {
    const s = scene();
    // s.dir is the attacker's (or 0700 root's without one).
    const below = join(s.dir, "keeper1");
    if (attacker) expect(unsafeAncestors(below).join()).toContain(`${s.dir} (owned by uid ${attacker.uid}, not root)`);
    const open = join(root, "open");
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    expect(unsafeAncestors(join(open, "k")).join()).toContain(`${open} (writable by everyone)`);
    expect(unsafeAncestors(join(root, "k"))).toEqual([]);
  });

  test("sticky and world-writable (like /tmp): safe only when the entry below it is root's", () => {
    const sticky = join(root, "sticky");
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    mkdirSync(join(sticky, "mine"));
    expect(unsafeAncestors(join(sticky, "mine", "k"))).toEqual([]);
    mkdirSync(join(sticky, "theirs"));
    chownSync(join(sticky, "theirs"), 4242, 4242);
    expect(unsafeAncestors(join(sticky, "theirs", "k")).join()).toContain(`${sticky} (writable by everyone and ${join(sticky, "theirs")} is not root's)`);
  });

  test("a path through a link is checked along the link's target too", () => {
    const s = scene();
    const link = join(root, `via-${n++}`);
    symlinkSync(s.dir, link);
    mkdirSync(join(s.dir, "keeper1"));
    // The link itself is root's, in root's dir; where it leads is the attacker's.
    if (attacker) expect(unsafeAncestors(join(link, "keeper1")).join()).toContain(`${s.dir} (owned by uid ${attacker.uid}`);
  });
});

test("asAttacker runs as the attacker (the helper works)", () => {
  if (!attacker) return;
  const r = asAttacker(["id", "-u"]);
  expect(r.trim()).toBe(String(attacker.uid));
});
