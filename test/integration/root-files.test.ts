/**
 * Story: a keeper running as root with PostgreSQL as the postgres OS user, and that user turned
 * hostile. It plants links to files and dirs of root's (the victims) and a FIFO wherever it can
 * write, the keeper restarts, and every victim comes out unchanged (content, owner, mode) while the
 * keeper either keeps working or stops with an error that names the planted path.
 *
 *  1. In what the postgres user owns today (PGDATA): postgresql.conf and postgresql.auto.conf as
 *     links to a victim, pg_hba.conf as a FIFO, links at temp names. The keeper replaces them and
 *     serves again.
 *  2. In the data dir root, which that user can no longer write: every attempt fails.
 *  3. A data dir as the previous version left it (the postgres user's throughout), with `run` and
 *     `postgres.log` as links and links at the old predictable temp names (`dbstate.tmp-<pid>`),
 *     then once more with the log as a FIFO: the keeper refuses to start, naming each in turn, and
 *     the refused start has already made the data dir root's (the postgres user can plant nothing
 *     more); once the operator has removed them, it takes the dir over and serves.
 *
 * Needs root and the postgres OS user: skipped with the reason printed otherwise, failed in CI.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ClusterData, ClusterSpec, KeeperInfo } from "../../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { attacker, snapshot } from "../attacker.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { KeeperProcess, makeTestRoot, query, requirePostgres } from "./harness/keeper.ts";
import { makeClusterData, makeDbFromSpec } from "../harness/builders.ts";

requirePostgres();

const CLUSTER = "rf";
const spec: ClusterSpec = { initMode: "new", sleepInterval: "1s" };

let etcd: EtcdProcess;
let store: KvStore;
let root: string;
let dd: string;
let keeper: KeeperProcess | null = null;
const port = freePort();
let cd: ClusterData;
let victimFile: string;
let victimDir: string;
let victimsBefore: ReturnType<typeof snapshot>[];
const victims = () => [snapshot(victimFile), snapshot(victimDir), snapshot(join(victimDir, "inside"))];

/** Runs a shell command as the postgres user; returns its exit code and stderr. */
function asPostgres(script: string): { code: number; stderr: string } {
  const r = Bun.spawnSync(["/bin/sh", "-c", script], { uid: attacker!.uid, gid: attacker!.gid, stdout: "pipe", stderr: "pipe" } as never);
  return { code: r.exitCode ?? -1, stderr: r.stderr.toString() };
}

/** Starts k1, after stopping the one a failed test may have left running. */
async function startKeeper(): Promise<KeeperProcess> {
  await keeper?.stop();
  keeper = KeeperProcess.start({ uid: "k1", dataDir: dd, pgPort: port, etcd: etcd.endpoint, cluster: CLUSTER }, root);
  return keeper;
}

async function serving(k: KeeperProcess): Promise<void> {
  await waitFor(
    "k1 healthy and converged on d1, answering queries",
    async () => {
      const info: KeeperInfo | undefined = (await store.getKeepersInfo()).items.k1;
      if (info && cd.keepers.k1!.status.bootUUID !== info.bootUUID) {
        // As the sentinel would: the view now knows this keeper process.
        cd.keepers.k1!.status.bootUUID = info.bootUUID;
        const cur = await store.getClusterData();
        await store.putClusterData(cd, cur!.revision);
      }
      if (!info?.postgresState?.healthy || info.postgresState.generation !== 1) return null;
      return (await query(port, "select 1 as one"))[0]?.one === 1;
    },
    90_000,
    250,
  );
}

describe.skipIf(!attacker)("root mode: what the postgres user plants is never followed", () => {
  beforeAll(async () => {
    etcd = await EtcdProcess.start();
    store = new KvStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: CLUSTER });
    root = makeTestRoot("root-files");
    dd = join(root, "k1");
    const v = join(root, "victims");
    mkdirSync(v, { mode: 0o755 });
    victimFile = join(v, "file");
    writeFileSync(victimFile, "root's precious file\n", { mode: 0o644 });
    victimDir = join(v, "dir");
    mkdirSync(victimDir, { mode: 0o755 });
    writeFileSync(join(victimDir, "inside"), "root's precious dir\n", { mode: 0o600 });
    victimsBefore = victims();
    cd = makeClusterData("c0ffee02", spec);
    cd.keepers.k1 = { uid: "k1", generation: 1, changeTime: new Date().toISOString(), spec: {}, status: { healthy: true } };
    cd.dbs.d1 = makeDbFromSpec(spec, { uid: "d1", keeperUID: "k1", role: "master", initMode: "new" });
    cd.cluster.status.master = "d1";
    await store.putClusterData(cd, 0);
  });
  afterAll(async () => {
    await keeper?.stop();
    await store?.close();
    await etcd?.stop();
  });

  test("a new data dir: root's state stays root's, PGDATA, run/ and the log are the postgres user's", async () => {
    const k = await startKeeper();
    await serving(k);
    const own = (p: string) => {
      const st = lstatSync(join(dd, p));
      return `${st.uid}:${st.gid}:${(st.mode & 0o7777).toString(8)}`;
    };
    const pg = `${attacker!.uid}:${attacker!.gid}`;
    expect(own(".")).toBe(`0:${attacker!.gid}:750`);
    for (const f of ["keeperstate", "dbstate", "lock"]) expect(own(f)).toBe("0:0:600");
    expect(own("postgres")).toBe(`${pg}:700`);
    expect(own("run")).toBe(`${pg}:700`);
    expect(own("postgres.log")).toBe(`${pg}:640`);
    // The log is written by PostgreSQL through the shell that opened it as the postgres user.
    expect(readFileSync(join(dd, "postgres.log"), "utf8")).toContain("database system is ready to accept connections");
    expect(await k.stop()).toBe(0);
  });

  test("the postgres user cannot create, rename or replace anything in the data dir root", () => {
    for (const script of [
      `ln -s ${victimFile} ${dd}/dbstate.tmp-1`,
      `mv ${dd}/run ${dd}/run.old`,
      `rm -f ${dd}/postgres.log`,
      `ln -s ${victimDir} ${dd}/x`,
      `echo '{"UID":"k1","ClusterUID":"evil"}' > ${dd}/keeperstate`,
      `echo evil > ${dd}/lock`,
    ]) {
      const r = asPostgres(script);
      expect({ script, failed: r.code !== 0 }).toEqual({ script, failed: true });
    }
    expect(readdirSync(dd).sort()).toEqual(["dbstate", "keeperstate", "lock", "postgres", "postgres.log", "run"].sort());
  });

  test("links and a FIFO planted in PGDATA: the keeper replaces them and serves again; the victims are unchanged", async () => {
    const pgdata = join(dd, "postgres");
    const plant = [
      `ln -sfn ${victimFile} ${pgdata}/postgresql.conf`,
      `rm -f ${pgdata}/postgresql.auto.conf && ln -s ${victimFile} ${pgdata}/postgresql.auto.conf`,
      `rm -f ${pgdata}/pg_hba.conf && mkfifo ${pgdata}/pg_hba.conf`,
      // The old predictable temp names, for the next few hundred pids.
      `p=$$; i=0; while [ $i -lt 300 ]; do for f in postgresql.conf pg_hba.conf standby.signal; do ln -s ${victimFile} ${pgdata}/$f.tmp-$((p+i)); done; i=$((i+1)); done`,
      `ln -s ${victimDir} ${join(dd, "run")}/.s.PGSQL.lnk`,
    ].join(" && ");
    const r = asPostgres(plant);
    expect(r).toEqual({ code: 0, stderr: "" });
    const k = await startKeeper();
    await serving(k);
    expect(victims()).toEqual(victimsBefore);
    expect(lstatSync(join(pgdata, "postgresql.conf")).isFile()).toBe(true);
    expect(lstatSync(join(pgdata, "pg_hba.conf")).isFile()).toBe(true);
    expect(readlinkSync(join(pgdata, "postgresql.auto.conf"))).toBe("/dev/null");
    expect(k.output).toMatch(/postgresql\.conf is a symbolic link; refusing to follow it .*: it will be replaced/);
    expect(k.output).toMatch(/pg_hba\.conf is a FIFO, not a regular file.*: it will be replaced/);
    expect(k.output).toMatch(/postgresql\.auto\.conf \(ALTER SYSTEM\) is not supported; dropped: \(a symbolic link to .*victims\/file, not read\)/);
    expect(await k.stop()).toBe(0);
  }, 150_000);

  test("a data dir left by the previous version with links and a FIFO in it: refused, naming each, until removed; then taken over", async () => {
    // What the previous version left: the postgres user's throughout.
    Bun.spawnSync(["chown", "-R", `${attacker!.uid}:${attacker!.gid}`, dd]);
    chmodSync(dd, 0o700);
    const pg = asPostgres(
      [
        `rm -f ${dd}/postgres.log && ln -s ${victimFile} ${dd}/postgres.log`,
        `mv ${dd}/run ${dd}/run.real && ln -s ${victimDir} ${dd}/run`,
        `p=$$; i=0; while [ $i -lt 300 ]; do for f in keeperstate dbstate pgpass; do ln -s ${victimFile} ${dd}/$f.tmp-$((p+i)); done; i=$((i+1)); done`,
      ].join(" && "),
    );
    expect(pg).toEqual({ code: 0, stderr: "" });

    /** Starts k1 and expects it to stop at once, naming the planted path, with the victims untouched. */
    const refused = async (what: RegExp) => {
      const k = await startKeeper();
      const code = await Promise.race([k.exited, Bun.sleep(30_000).then(() => "still running after 30 s")]);
      expect(victims()).toEqual(victimsBefore);
      expect(code).toBe(1);
      expect(k.output).toMatch(what);
    };
    await refused(/--data-dir .*k1: .*k1\/postgres\.log is a symbolic link; refusing to follow it \(remove it\)/);
    // That start took the data dir over: the postgres user can no longer plant anything there.
    expect(asPostgres(`mkfifo ${dd}/fifo`).code).not.toBe(0);
    rmSync(join(dd, "postgres.log"));
    await refused(/--data-dir .*k1: .*k1\/run is a symbolic link, not a directory; refusing to use it \(remove it\)/);
    rmSync(join(dd, "run"));
    // Once more from the previous version's layout, with a FIFO as the log this time.
    Bun.spawnSync(["chown", "-R", `${attacker!.uid}:${attacker!.gid}`, dd]);
    expect(asPostgres(`mkfifo ${dd}/postgres.log`)).toEqual({ code: 0, stderr: "" });
    await refused(/--data-dir .*k1: .*k1\/postgres\.log is a FIFO, not a regular file; refusing to use it \(remove it\)/);
    rmSync(join(dd, "postgres.log"));

    const k = await startKeeper();
    await serving(k);
    expect(victims()).toEqual(victimsBefore);
    expect(readdirSync(dd).filter((f) => f.includes(".tmp-"))).toEqual([]);
    const st = statSync(dd);
    expect([st.uid, st.mode & 0o7777]).toEqual([0, 0o750]);
    expect(statSync(join(dd, "dbstate")).uid).toBe(0);
    expect(statSync(join(dd, "run")).uid).toBe(attacker!.uid);
    expect(await k.stop()).toBe(0);
  }, 240_000);
});
