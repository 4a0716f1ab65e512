/**
 * prepareDataDir and prepareSocketDir as root: the data dir of the previous version (the
 * PostgreSQL user owned all of it) is taken over, and whatever that user planted there (links, a
 * FIFO, a hard link) is refused by name or removed, never followed; the fallback socket dir in the
 * tmp dir is refused unless it is the keeper's.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, lchownSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareDataDir, prepareSocketDir, removeLeftovers } from "../../../src/keeper/data-dir.ts";
import { ConfigError } from "../../../src/lib/errors.ts";
import { attacker, mkfifo, snapshot } from "../../attacker.ts";

const root = mkdtempSync(join(tmpdir(), "stolon-test-datadir-"));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A data dir as the previous version left it: the PostgreSQL user's throughout; and victims. */
function oldLayout() {
  const base = join(root, `s${n++}`);
  mkdirSync(base, { mode: 0o755 });
  const dd = join(base, "keeper1");
  const pg = attacker!;
  mkdirSync(join(dd, "postgres"), { recursive: true, mode: 0o700 });
  mkdirSync(join(dd, "run"), { mode: 0o700 });
  writeFileSync(join(dd, "keeperstate"), '{"UID":"keeper1","ClusterUID":"c1"}\n', { mode: 0o600 });
  writeFileSync(join(dd, "dbstate"), '{"UID":"d1","Generation":1,"Initializing":false,"InitPGParameters":null}\n', { mode: 0o600 });
  writeFileSync(join(dd, "lock"), "", { mode: 0o600 });
  writeFileSync(join(dd, "pgpass"), "*:*:*:repl:pw\n", { mode: 0o600 });
  writeFileSync(join(dd, "postgres.log"), "log\n", { mode: 0o640 });
  writeFileSync(join(dd, ".pgpass-abc"), "*:*:*:repl:pw\n", { mode: 0o600 });
  for (const p of [dd, "postgres", "run", "keeperstate", "dbstate", "lock", "pgpass", "postgres.log", ".pgpass-abc"])
    chownSync(p === dd ? dd : join(dd, p), pg.uid, pg.gid);
  chmodSync(dd, 0o700);
  const victimFile = join(base, "victim-file");
  writeFileSync(victimFile, "precious\n", { mode: 0o644 });
  const victimDir = join(base, "victim-dir");
  mkdirSync(victimDir, { mode: 0o755 });
  const victims = () => [snapshot(victimFile), snapshot(victimDir)];
  return { dd, victimFile, victimDir, before: victims(), victims };
}

const plantLink = (path: string, to: string) => {
  rmSync(path, { recursive: true, force: true });
  symlinkSync(to, path);
  lchownSync(path, attacker!.uid, attacker!.gid);
};

const owner = (p: string) => {
  const st = statSync(p);
  return [st.uid, st.gid, (st.mode & 0o7777).toString(8)];
};

describe.skipIf(!attacker)("prepareDataDir as root", () => {
  test("an old data dir is taken over: root keeps its state, the PostgreSQL user PGDATA, run/, pgpass and the log; removeLeftovers takes leftover passfiles", () => {
    const l = oldLayout();
    const pg = attacker!;
    expect(prepareDataDir(l.dd, pg)).toBe(l.dd);
    removeLeftovers(l.dd);
    expect(owner(l.dd)).toEqual([0, pg.gid, "750"]);
    for (const f of ["keeperstate", "dbstate", "lock"]) expect(owner(join(l.dd, f))).toEqual([0, 0, "600"]);
    expect(owner(join(l.dd, "pgpass"))).toEqual([pg.uid, pg.gid, "600"]);
    expect(owner(join(l.dd, "postgres.log"))).toEqual([pg.uid, pg.gid, "640"]);
    expect(owner(join(l.dd, "postgres"))).toEqual([pg.uid, pg.gid, "700"]);
    expect(owner(join(l.dd, "run"))).toEqual([pg.uid, pg.gid, "700"]);
    expect(readdirSync(l.dd)).not.toContain(".pgpass-abc");
    // Again: nothing to change, nothing refused.
    prepareDataDir(l.dd, pg);
  });

  test("a new data dir is made root's, with run/ for PostgreSQL", () => {
    const dd = join(root, `new-${n++}`, "k");
    mkdirSync(join(dd, ".."), { mode: 0o755 });
    prepareDataDir(dd, attacker!);
    expect(owner(dd)).toEqual([0, attacker!.gid, "750"]);
    expect(owner(join(dd, "run"))).toEqual([attacker!.uid, attacker!.gid, "700"]);
  });

  const attacks: [string, (l: ReturnType<typeof oldLayout>) => void, RegExp][] = [
    ["run -> a victim dir", (l) => plantLink(join(l.dd, "run"), l.victimDir), /run is a symbolic link/],
    ["postgres -> a victim dir", (l) => plantLink(join(l.dd, "postgres"), l.victimDir), /postgres is a symbolic link/],
    ["keeperstate -> a victim file", (l) => plantLink(join(l.dd, "keeperstate"), l.victimFile), /keeperstate is a symbolic link/],
    ["dbstate as a hard link to a victim", (l) => (rmSync(join(l.dd, "dbstate")), linkSync(l.victimFile, join(l.dd, "dbstate"))), /dbstate has 2 hard links/],
    ["lock -> a victim file", (l) => plantLink(join(l.dd, "lock"), l.victimFile), /lock is a symbolic link/],
    ["pgpass -> a victim file", (l) => plantLink(join(l.dd, "pgpass"), l.victimFile), /pgpass is a symbolic link/],
    ["postgres.log -> a victim file", (l) => plantLink(join(l.dd, "postgres.log"), l.victimFile), /postgres.log is a symbolic link/],
    ["postgres.log as a FIFO", (l) => (rmSync(join(l.dd, "postgres.log")), mkfifo(join(l.dd, "postgres.log"))), /postgres.log is a FIFO/],
    ["postgres.log.1 -> a victim file", (l) => plantLink(join(l.dd, "postgres.log.1"), l.victimFile), /postgres.log.1 is a symbolic link/],
  ];
  test.each(attacks)("planted %s: refused with a ConfigError naming it; the victim is unchanged", (_, plant, msg) => {
    const l = oldLayout();
    plant(l);
    let err: unknown;
    try {
      prepareDataDir(l.dd, attacker!);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(msg);
    expect((err as Error).message).toContain(`--data-dir ${l.dd}`);
    expect(l.victims()).toEqual(l.before);
  });

  test("temp names planted at the old predictable names (<file>.tmp-<pid>) are removed, not followed", () => {
    const l = oldLayout();
    for (let pid = process.pid; pid < process.pid + 20; pid++)
      for (const f of ["keeperstate", "dbstate", "pgpass"]) plantLink(join(l.dd, `${f}.tmp-${pid}`), l.victimFile);
    plantLink(join(l.dd, ".pwfile-x1"), l.victimFile);
    prepareDataDir(l.dd, attacker!);
    removeLeftovers(l.dd);
    expect(readdirSync(l.dd).filter((f) => f.includes(".tmp-") || f.startsWith(".pwfile"))).toEqual([]);
    expect(l.victims()).toEqual(l.before);
  });

  test("a data dir below a dir the PostgreSQL user owns is refused: that user could swap it for a link", () => {
    const base = join(root, `pgowned-${n++}`);
    mkdirSync(base, { mode: 0o755 });
    chownSync(base, attacker!.uid, attacker!.gid);
    expect(() => prepareDataDir(join(base, "keeper1"), attacker!)).toThrow(new RegExp(`${base} \\(owned by uid ${attacker!.uid}, not root\\).*only root can write`));
  });
});

describe.skipIf(!attacker)("prepareSocketDir: the fallback in the tmp dir (data dir path too long)", () => {
  const longDataDir = "/" + "d".repeat(100);

  test("created fresh, 0700, the PostgreSQL user's; the same dir is accepted at the next start", () => {
    const tmp = mkdtempSync(join(root, "tmp-"));
    const d = prepareSocketDir(longDataDir, "k1", attacker!, tmp);
    expect(d).toBe(join(tmp, "stolon-keeper-k1"));
    expect(owner(d)).toEqual([attacker!.uid, attacker!.gid, "700"]);
    expect(prepareSocketDir(longDataDir, "k1", attacker!, tmp)).toBe(d);
  });

  test.each([
    ["a link to a victim dir", (p: string, v: string) => plantLink(p, v), /exists and is not this keeper's \(a non-directory/],
    ["another user's dir", (p: string) => (mkdirSync(p, { mode: 0o700 }), chownSync(p, 4242, 4242)), /a directory of uid 4242, mode 700/],
    ["the PostgreSQL user's dir, open to all", (p: string) => (mkdirSync(p), chmodSync(p, 0o777), chownSync(p, attacker!.uid, attacker!.gid)), /mode 777/],
    ["a FIFO", (p: string) => mkfifo(p), /a non-directory/],
  ] as const)("refused when %s is already there; the victim is unchanged", (_, plant, msg) => {
    const tmp = mkdtempSync(join(root, "tmp-"));
    chmodSync(tmp, 0o1777);
    const victim = join(tmp, "victim");
    mkdirSync(victim, { mode: 0o755 });
    const before = snapshot(victim);
    plant(join(tmp, "stolon-keeper-k1"), victim);
    expect(() => prepareSocketDir(longDataDir, "k1", attacker!, tmp)).toThrow(msg);
    expect(snapshot(victim)).toEqual(before);
  });

  test("a short data dir path uses <data-dir>/run", () => {
    expect(prepareSocketDir("/var/lib/stolon/k1", "k1", attacker!, "/tmp")).toBe("/var/lib/stolon/k1/run");
  });
});
