/**
 * Our keeper on a data dir stolon's keeper used (item 2 of issue 16), the cases the takeover story
 * (takeover.test.ts) does not meet: stolon's keeper still running on it, a keeperstate of another
 * keeper, an init stolon left half done (dbstate Initializing), and a PostgreSQL left running by a
 * stolon keeper that was SIGKILLed. A stolon cluster of a master and two standbys (simulated:
 * harness/stolon-sim.ts) and our sentinel run for the whole file; the keeper runs as root in CI,
 * PostgreSQL as the "postgres" OS user, on data dirs stolon's keeper made as that user.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../harness/util.ts";
import { etcdForFile } from "./harness/etcd.ts";
import { DaemonProcess, KeeperProcess, makeTestRoot, PG_BIN, postmasterPid, requirePostgres } from "./harness/keeper.ts";
import { own } from "./harness/process.ts";
import { queryOnce, superuserSql } from "./harness/sql.ts";
import { BunCommandRunner, lookupUserByName } from "../../src/postgres/index.ts";
import { distinctFreePorts, MARKER, pgdataOf, StolonSim, STOLON_PREFIX, stolonAuthArgs, stolonClusterData, SU_PASSWORD, writeStolonState, type StolonNode } from "./harness/stolon-sim.ts";

requirePostgres();
const procs: DaemonProcess[] = [];
let sim: StolonSim | undefined;
// Registered before etcdForFile's: hooks run in order, and the daemons must stop before etcd does;
// the sentinel first (started first), so that no failover is decided while the keepers stop.
afterAll(async () => {
  for (const p of procs) await p.stop().catch(() => {});
  await sim?.stopAll();
});
const CLUSTER = "stolon-datadir";
const CLUSTER_UID = "6d2e3f4a";
const f = etcdForFile(CLUSTER);
const root = makeTestRoot("takeover-datadir");
const ports = distinctFreePorts(7);
const node = (uid: string, dbUid: string): StolonNode => ({ uid, dbUid, dataDir: join(root, uid), port: ports.pop()!, adminPort: ports.pop()!, bootUUID: crypto.randomUUID() });
const k1 = node("a1a1a1a1", "d1d1d1d1");
const k2 = node("b2b2b2b2", "d2d2d2d2");
const k3 = node("c3c3c3c3", "d3d3d3d3");

let k2Keeper: DaemonProcess | undefined;
const one = async <T>(port: number, text: string) => (await queryOnce<T>(superuserSql(port, SU_PASSWORD, { connect_timeout: 5 }), text))[0]!;
const marker = (n: StolonNode) => (existsSync(join(pgdataOf(n), MARKER)) ? readFileSync(join(pgdataOf(n), MARKER), "utf8") : null);

beforeAll(async () => {
  const s = new StolonSim(f.kv, CLUSTER, CLUSTER_UID);
  sim = s;
  await s.makeMaster(k1, 3);
  await s.makeStandby(k2, k1, 2);
  await s.makeStandby(k3, k1, 2);
  const systemID = (await one<{ id: string }>(k1.port, "SELECT system_identifier::text AS id FROM pg_control_system()")).id;
  const facts = (n: StolonNode, generation: number) => ({ node: n, generation, systemID, xLogPos: 0 });
  const cd = stolonClusterData({ clusterUID: CLUSTER_UID, master: facts(k1, 3), standbys: [facts(k2, 2), facts(k3, 2)], now: new Date(), oldProxyUid: "e5e5e5e5" });
  await f.kv.put(`${STOLON_PREFIX}/${CLUSTER}/clusterdata`, JSON.stringify(cd));
  for (const n of [k1, k2, k3]) await s.startKeeper(n);
  procs.push(DaemonProcess.start("sentinel", "sentinel", [...f.flags(), "--log-level", "debug"]));
}, 240_000);

/** Our keeper on a stolon data dir (its uid unless `uid` says otherwise), with its admin listener. */
function ourKeeper(n: StolonNode, uid = n.uid): { proc: DaemonProcess; admin: string } {
  const adminPort = n.adminPort;
  const proc = KeeperProcess.start(
    { uid, dataDir: n.dataDir, pgPort: n.port, etcd: f.etcd.endpoint, cluster: CLUSTER, authArgs: stolonAuthArgs(root), extraArgs: ["--metrics-listen-address", `127.0.0.1:${adminPort}`] },
    root,
  );
  procs.push(proc);
  return { proc, admin: `http://127.0.0.1:${adminPort}` };
}

/** The keeper exits at start-up; its code and output. */
async function refusedAtStart(proc: DaemonProcess): Promise<{ code: number; output: string }> {
  const code = await Promise.race([proc.exited, Bun.sleep(60_000).then(() => -1)]);
  return { code, output: proc.output };
}

describe("our keeper on a data dir stolon's keeper used", () => {
  test("while stolon's keeper still runs on it: refused at start, naming stolon's keeper; its PostgreSQL untouched", async () => {
    const pid = postmasterPid(k3.dataDir);
    const { code, output } = await refusedAtStart(ourKeeper(k3).proc);
    expect(code).not.toBe(0);
    expect(output).toMatch(/locked by another process \(an fcntl lock .*, as stolon's keeper takes\): stop stolon's keeper on this data dir first/);
    expect(postmasterPid(k3.dataDir)).toBe(pid);
    expect((await one<{ r: boolean }>(k3.port, "SELECT pg_is_in_recovery() AS r")).r).toBe(true);
  }, 120_000);

  test("whose keeperstate names another keeper: refused at start with both uids; the data dir untouched", async () => {
    await sim!.stopKeeper(k3.uid);
    const before = readFileSync(join(k3.dataDir, "keeperstate"), "utf8");
    const { code, output } = await refusedAtStart(ourKeeper(k3, "f0f0f0f0").proc);
    expect(code).not.toBe(0);
    expect(output).toContain("--uid f0f0f0f0 does not match the uid c3c3c3c3 saved in this data dir's keeperstate");
    expect(readFileSync(join(k3.dataDir, "keeperstate"), "utf8")).toBe(before);
    expect(marker(k3)).not.toBeNull();
    expect(postmasterPid(k3.dataDir)).toBeNull();
  }, 120_000);

  test("whose dbstate says an init did not finish (Initializing): not taken as the db's data, wiped as stolon's keeper would", async () => {
    writeStolonState(k3, { clusterUID: CLUSTER_UID, generation: 2, initializing: true });
    const { proc } = ourKeeper(k3);
    await waitFor("the half-made data dir wiped", () => marker(k3) === null, 60_000, 200);
    expect(proc.output).toContain("the init or resync of db d3d3d3d3 did not finish: wiping the half-made data dir");
    await proc.stop();
  }, 120_000);

  test("with PostgreSQL left running by a SIGKILLed stolon keeper: stopped and started again as ours, no copy", async () => {
    const mark = marker(k2);
    const pid = postmasterPid(k2.dataDir);
    await sim!.killKeeper(k2.uid);
    expect(postmasterPid(k2.dataDir)).toBe(pid);
    const { proc, admin } = ourKeeper(k2);
    k2Keeper = proc;
    await waitFor("our keeper on k2 ready", async () => (await fetch(`${admin}/ready`).catch(() => null))?.ok === true, 90_000, 200);
    await waitFor(
      "db d2d2d2d2 streaming from stolon's master",
      async () => (await one<{ n: number }>(k1.port, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 'stolon_d2d2d2d2' AND state = 'streaming'")).n === 1,
      60_000,
      200,
    );
    expect(proc.output).toContain("stopping the PostgreSQL instance left running by an earlier keeper process (ours or stolon's)");
    expect(postmasterPid(k2.dataDir)).not.toBe(pid);
    expect(marker(k2)).toBe(mark);
    expect(proc.output).not.toMatch(/pg_basebackup from|pg_rewind from|initializing a new database|wiping/);
  }, 180_000);

  test("rolled back: our keeper stopped, the data dir handed back to the PostgreSQL user, stolon's keeper runs on it again, no copy", async () => {
    const mark = marker(k2);
    expect(await k2Keeper!.stop()).toBe(0);
    expect(postmasterPid(k2.dataDir)).toBeNull();
    // What stolon's Go types read back from our state files: same fields, same JSON types (Go ignores the others).
    const ks = JSON.parse(readFileSync(join(k2.dataDir, "keeperstate"), "utf8"));
    expect(ks).toEqual({ UID: k2.uid, ClusterUID: CLUSTER_UID });
    const ds = JSON.parse(readFileSync(join(k2.dataDir, "dbstate"), "utf8"));
    expect([ds.UID, Number.isInteger(ds.Generation), ds.Initializing, ds.InitPGParameters]).toEqual([k2.dbUid, true, false, null]);
    const pgUser = process.getuid?.() === 0 ? lookupUserByName("postgres") : null;
    if (pgUser) {
      // As root our keeper made its state files root's: stolon's keeper, run as the PostgreSQL
      // user, could not open them. README "Moving from stolon": chown the data dir back first.
      const asPg = new BunCommandRunner(pgUser);
      const stolonCanUse = () =>
        asPg.run(["/usr/bin/test", "-w", k2.dataDir, "-a", "-r", join(k2.dataDir, "keeperstate"), "-a", "-w", join(k2.dataDir, "dbstate"), "-a", "-w", join(k2.dataDir, "lock")]).then(() => true, () => false);
      expect(await stolonCanUse()).toBe(false);
      expect(Bun.spawnSync(["chown", "-R", "postgres:postgres", k2.dataDir]).exitCode).toBe(0);
      expect(await stolonCanUse()).toBe(true);
    }
    await sim!.restartOnDataDir(k2, k1);
    await waitFor(
      "db d2d2d2d2 streaming again under stolon's keeper",
      async () => (await one<{ n: number }>(k1.port, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 'stolon_d2d2d2d2' AND state = 'streaming'")).n === 1,
      60_000,
      200,
    );
    expect(marker(k2)).toBe(mark);
  }, 180_000);

  test("run as the PostgreSQL OS user, as stolon's keeper ran (no root): the master's data dir adopted as it is", async () => {
    // As root (CI), the keeper runs as "postgres", the user stolon's data dirs belong to; without
    // root every keeper of this file already runs as the user running the tests.
    const asRoot = process.getuid?.() === 0;
    const pgUser = asRoot ? lookupUserByName("postgres") : null;
    if (asRoot && !pgUser) throw new Error("no postgres OS user: install PostgreSQL's packages");
    const owner = pgUser?.uid ?? process.getuid?.() ?? 0;
    const mark = marker(k1);
    await sim!.stopKeeper(k1.uid);
    const auth = stolonAuthArgs(root, pgUser ?? undefined);
    const adminPort = k1.adminPort;
    const argv = [process.execPath, join(import.meta.dir, "../../cmd/keeper.ts"), ...f.flags(), "--uid", k1.uid, "--data-dir", k1.dataDir,
      "--pg-listen-address", "127.0.0.1", "--pg-port", String(k1.port), "--pg-bin-path", PG_BIN, ...auth, "--log-level", "debug",
      "--metrics-listen-address", `127.0.0.1:${adminPort}`];
    const asUser = pgUser ? { uid: pgUser.uid, gid: pgUser.gid } : {};
    const env = { PATH: process.env.PATH ?? "", HOME: pgUser?.home ?? process.env.HOME ?? "/tmp" };
    const p = Bun.spawn(argv, { cwd: "/tmp", stdin: "ignore", stdout: "pipe", stderr: "pipe", ...asUser, env });
    own(p);
    const proc = new DaemonProcess("keeper-as-postgres", p);
    procs.push(proc);
    await waitFor("our keeper (as postgres) ready on stolon's master data dir", async () => (await fetch(`http://127.0.0.1:${adminPort}/ready`).catch(() => null))?.ok === true, 90_000, 200);
    expect((await one<{ r: boolean }>(k1.port, "SELECT pg_is_in_recovery() AS r")).r).toBe(false);
    expect(marker(k1)).toBe(mark);
    expect(proc.output).not.toMatch(/pg_basebackup from|pg_rewind from|initializing a new database|wiping/);
    // Nothing was made root's: stolon's keeper, run as that user, could take the data dir back as it is.
    for (const name of ["", "keeperstate", "dbstate", "lock", "postgres"]) expect([name, statSync(join(k1.dataDir, name)).uid]).toEqual([name, owner]);
  }, 180_000);
});


