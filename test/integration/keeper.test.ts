/**
 * Keepers against real etcd and real PostgreSQL, with the cluster view written by the test (no
 * sentinel): the test plays the sentinel's part, step by step, and checks what the keepers make of
 * each view: init, replication, role swaps through pg_rewind and through pg_basebackup, reloads,
 * restarts, and the start-up errors an operator can run into.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ClusterData, ClusterSpec, DB, KeeperInfo, WipeConfirmation } from "../../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { putView, reflectInfos } from "./harness/sentinel-part.ts";
import { KeeperProcess, makeTestRoot, query, requirePostgres } from "./harness/keeper.ts";
import { makeClusterData, makeDbFromSpec } from "../harness/builders.ts";

requirePostgres();

const CLUSTER = "kt";
const spec: ClusterSpec = { initMode: "new", sleepInterval: "1s", usePgrewind: true, pgParameters: { max_connections: "30" } };

let etcd: EtcdProcess;
let store: KvStore;
let root: string;
const keepers: Record<string, KeeperProcess> = {};
const ports: Record<string, number> = {};
let cd: ClusterData;

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new KvStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: CLUSTER });
  root = makeTestRoot("keeper");
  cd = makeClusterData("c0ffee01", spec);
  await store.putClusterData(cd, 0);
});
afterAll(async () => {
  await Promise.all(Object.values(keepers).map((k) => k.stop()));
  await store?.close();
  await etcd?.stop();
});

function startKeeper(uid: string, extraArgs: string[] = []): KeeperProcess {
  ports[uid] ??= freePort();
  const k = KeeperProcess.start({ uid, dataDir: join(root, uid), pgPort: ports[uid]!, etcd: etcd.endpoint, cluster: CLUSTER, extraArgs }, root);
  keepers[uid] = k;
  return k;
}

async function infos(): Promise<Record<string, KeeperInfo>> {
  return (await store.getKeepersInfo()).items;
}

/** stolonctl confirm-wipe, as the test's operator gave it, per keeper. */
const confirmations: Record<string, WipeConfirmation> = {};

/** Writes the view; like the sentinel, copies each keeper's bootUUID and its DB's reported state. */
async function publish(): Promise<void> {
  reflectInfos(cd, await infos(), confirmations);
  await putView(store, cd);
}

function setDb(db: DB): void {
  const prev = cd.dbs[db.uid];
  cd.dbs[db.uid] = { ...db, status: prev?.status ?? db.status };
}

/** Waits until keeper `uid` reports a healthy, converged `db`, refreshing the view as it goes. */
async function converged(uid: string, dbUid: string, timeoutMs = 60_000): Promise<KeeperInfo> {
  return waitFor(
    `keeper ${uid} converged on db ${dbUid} gen ${cd.dbs[dbUid]?.generation}`,
    async () => {
      await publish();
      const st = (await infos())[uid]?.postgresState;
      return st?.healthy && st.uid === dbUid && st.generation === cd.dbs[dbUid]!.generation ? (await infos())[uid]! : null;
    },
    timeoutMs,
    200,
  );
}

describe("keeper with a cluster view written by the test", () => {
  test("two keepers start and publish their info before any db is assigned", async () => {
    startKeeper("k1");
    startKeeper("k2");
    const inf = await waitFor("both keepers' info", async () => {
      const i = await infos();
      return i.k1 && i.k2 ? i : null;
    }, 20_000);
    expect(inf.k1!.clusterUID).toBe("c0ffee01");
    expect(inf.k1!.postgresBinaryVersion.Maj).toBeGreaterThanOrEqual(13);
    expect(inf.k1!.postgresState?.healthy).toBe(false);
    expect(inf.k1!.canBeMaster).toBe(true);
    // Nothing changes: the info is not written again (same infoUID), but its lease is renewed
    // (several times a second): etcd never reads it as a whole second without renewal.
    const first = inf.k1!.infoUID;
    for (let i = 0; i < 6; i++) {
      await Bun.sleep(500);
      const list = await store.getKeepersInfo();
      expect(list.items.k1!.infoUID).toBe(first);
      expect(await store.leaseSilenceMs(list.leases.k1!)).toBe(0);
    }
    expect(JSON.stringify(inf)).not.toContain("pass");
  });

  test("a db with initMode new: k1 runs initdb and becomes a master with roles and slots", async () => {
    setDb(makeDbFromSpec(spec, { uid: "d1", keeperUID: "k1", role: "master", initMode: "new", includePreviousConfig: true, additionalReplicationSlots: ["extra"] }));
    cd.cluster.status.master = "d1";
    const info = await converged("k1", "d1");
    expect(info.postgresState!.timelineID).toBe(1);
    expect(info.postgresState!.systemID).toMatch(/^\d+$/);
    expect(info.postgresState!.olderWalFile).toMatch(/^[0-9A-F]{24}$/);
    expect(info.postgresState!.pgParameters).toMatchObject({ max_connections: "30" });
    // initdb's own parameters were captured (includePreviousConfig) and kept.
    expect(info.postgresState!.pgParameters).toHaveProperty("datestyle");

    const port = ports.k1!;
    const roles = await query<{ rolname: string; rolreplication: boolean }>(port, "select rolname, rolreplication from pg_roles where rolname in ('stolon','repl') order by 1");
    expect(roles).toEqual([{ rolname: "repl", rolreplication: true }, { rolname: "stolon", rolreplication: true }]);
    const slots = await query<{ slot_name: string }>(port, "select slot_name from pg_replication_slots order by 1");
    expect(slots.map((s) => s.slot_name)).toEqual(["stolon_extra"]);
    await query(port, "create table t (id int primary key, note text)");
    await query(port, "insert into t values (1, 'on d1')");

    // ALTER SYSTEM is neutralised: postgresql.auto.conf is a link to /dev/null.
    const auto = join(root, "k1/postgres/postgresql.auto.conf");
    expect(lstatSync(auto).isSymbolicLink() && readlinkSync(auto)).toBe("/dev/null");
    expect(await query(port, "alter system set work_mem = '9MB'").catch((e: Error) => e.message)).toMatch(/postgresql\.auto\.conf/);
    // Passwords are not in the configuration the keeper wrote.
    const conf = await Bun.file(join(root, "k1/postgres/postgresql.conf")).text();
    expect(conf).not.toContain("pass");
  });

  test("a standby db on k2 is base-backed up from d1 and streams", async () => {
    setDb(makeDbFromSpec(spec, { uid: "d2", keeperUID: "k2", role: "standby", initMode: "resync", followConfig: { type: "internal", dbuid: "d1" } }));
    cd.dbs.d1!.spec.followers = ["d2"];
    cd.dbs.d1!.generation++;
    await converged("k1", "d1");
    await converged("k2", "d2");
    expect(keepers.k2!.output).toContain("pg_basebackup from 127.0.0.1");
    await query(ports.k1!, "insert into t values (2, 'streamed')");
    await waitFor("row 2 on the standby", async () => (await query(ports.k2!, "select note from t where id = 2"))[0]?.note === "streamed");
    const rep = await query<{ application_name: string; state: string }>(ports.k1!, "select application_name, state from pg_stat_replication where application_name like 'stolon\\_%'");
    expect(rep).toEqual([{ application_name: "stolon_d2", state: "streaming" }]);
    const slots = await query<{ slot_name: string; active: boolean }>(ports.k1!, "select slot_name, active from pg_replication_slots order by 1");
    expect(slots).toEqual([{ slot_name: "stolon_d2", active: true }, { slot_name: "stolon_extra", active: false }]);
    expect((await query<{ r: boolean }>(ports.k2!, "select pg_is_in_recovery() as r"))[0]!.r).toBe(true);
  });

  test("a pgParameters change is applied by reload on both", async () => {
    for (const uid of ["d1", "d2"]) {
      const db = cd.dbs[uid]!;
      db.spec.pgParameters = { ...db.spec.pgParameters, work_mem: "7MB" };
      db.generation++;
    }
    await converged("k1", "d1");
    await converged("k2", "d2");
    for (const k of ["k1", "k2"]) expect((await query<{ work_mem: string }>(ports[k]!, "show work_mem"))[0]!.work_mem).toBe("7MB");
    expect(keepers.k1!.output).toContain("reloading the configuration");
    expect(keepers.k1!.output).not.toContain("restarting postgres");
  });

  test("swapping the roles with usePgrewind: d2 is promoted, the old master rewinds and follows it", async () => {
    // Step 1, as the sentinel does it: promote d2, take the db away from k1.
    delete cd.dbs.d1;
    const d2 = cd.dbs.d2!;
    d2.spec = { ...d2.spec, role: "master", followConfig: null, followers: [] };
    d2.generation++;
    cd.cluster.status.master = "d2";
    await converged("k2", "d2");
    expect((await infos()).k2!.postgresState!.timelineID).toBe(2);
    await query(ports.k2!, "insert into t values (3, 'on d2')");
    await query(ports.k2!, "select pg_create_physical_replication_slot('not_ours')");
    await waitFor("k1 stopped (no db assigned)", () => !existsSync(join(root, "k1/postgres/postmaster.pid")), 20_000);

    // Step 2: a new standby db on k1, following d2.
    setDb(makeDbFromSpec({ ...spec, usePgrewind: true }, { uid: "d3", keeperUID: "k1", role: "standby", initMode: "resync", followConfig: { type: "internal", dbuid: "d2" } }));
    d2.spec.followers = ["d3"];
    d2.generation++;
    await converged("k1", "d3");
    await converged("k2", "d2");
    // Rewound, not copied: the completion line, and no fallback.
    expect(keepers.k1!.output).toMatch(/resynced from 127\.0\.0\.1:\d+ with pg_rewind/);
    expect(keepers.k1!.output).not.toContain("pg_rewind did not work");
    await waitFor("row 3 on k1", async () => (await query(ports.k1!, "select count(*)::int as n from t"))[0]?.n === 3);
    // pg_rewind copied k2's configuration; k1's own came back (its own port, its standby setup).
    expect((await query<{ port: string }>(ports.k1!, "show port"))[0]!.port).toBe(String(ports.k1));
    const slots = await query<{ slot_name: string }>(ports.k2!, "select slot_name from pg_replication_slots order by 1");
    // d2 asks for no additional slot: the keeper made its follower's, and left the foreign one alone.
    expect(slots.map((s) => s.slot_name)).toEqual(["not_ours", "stolon_d3"]);
  });

  test("swapping back without usePgrewind: the old master refuses a full copy until the operator confirms it, then is copied again with pg_basebackup", async () => {
    delete cd.dbs.d2;
    const d3 = cd.dbs.d3!;
    d3.spec = { ...d3.spec, role: "master", followConfig: null, followers: [], usePgrewind: false };
    d3.generation++;
    cd.cluster.status.master = "d3";
    await converged("k1", "d3");
    await query(ports.k1!, "insert into t values (4, 'on d3')");
    await waitFor("k2 stopped", () => !existsSync(join(root, "k2/postgres/postmaster.pid")), 20_000);
    const before = keepers.k2!.output.length;
    setDb(makeDbFromSpec({ ...spec, usePgrewind: false }, { uid: "d4", keeperUID: "k2", role: "standby", initMode: "resync", followConfig: { type: "internal", dbuid: "d3" } }));
    d3.spec.followers = ["d4"];
    d3.generation++;
    await waitFor("k2's refusal", async () => (await publish(), keepers.k2!.output.slice(before).includes("keeper k2 refuses a full copy for db d4")), 30_000);
    expect(keepers.k2!.output.slice(before)).toContain("it holds db d2, which was a master here");
    expect(keepers.k2!.output.slice(before)).not.toContain("pg_basebackup from");
    confirmations.k2 = { dbUID: "d2", forDbUID: "d4", time: new Date().toISOString() };
    await converged("k2", "d4");
    const log = keepers.k2!.output.slice(before);
    expect(log).toContain("pg_basebackup from 127.0.0.1");
    expect(log).not.toMatch(/resynced from .* with pg_rewind/);
    await waitFor("4 rows on k2", async () => (await query(ports.k2!, "select count(*)::int as n from t"))[0]?.n === 4);
  });

  test("a data dir left half made by a crashed init is wiped and the db made again", async () => {
    const dir = join(root, "k3");
    mkdirSync(join(dir, "postgres"), { recursive: true });
    writeFileSync(join(dir, "keeperstate"), JSON.stringify({ UID: "k3", ClusterUID: "c0ffee01" }));
    writeFileSync(join(dir, "dbstate"), JSON.stringify({ UID: "d5", Generation: 0, Initializing: true, InitPGParameters: null }));
    writeFileSync(join(dir, "postgres/PG_VERSION"), "15\n");
    startKeeper("k3");
    await waitFor("k3's info", async () => (await infos()).k3, 20_000);
    setDb(makeDbFromSpec(spec, { uid: "d5", keeperUID: "k3", role: "standby", initMode: "resync", followConfig: { type: "internal", dbuid: "d3" } }));
    cd.dbs.d3!.spec.followers = ["d4", "d5"];
    cd.dbs.d3!.generation++;
    await converged("k3", "d5");
    expect(keepers.k3!.output).toContain("did not finish: wiping the half-made data dir");
    expect((await query(ports.k3!, "select count(*)::int as n from t"))[0]?.n).toBe(4);
    await keepers.k3!.stop();
  });

  test("a second keeper on a locked data dir and a different uid on a used data dir are refused", async () => {
    const twin = KeeperProcess.start({ uid: "k1", dataDir: join(root, "k1"), pgPort: freePort(), etcd: etcd.endpoint, cluster: CLUSTER }, root);
    expect(await twin.exited).toBe(1);
    expect(twin.output).toMatch(/data dir .*k1 is locked by another keeper/);

    const other = KeeperProcess.start({ uid: "k9", dataDir: join(root, "k1"), pgPort: freePort(), etcd: etcd.endpoint, cluster: CLUSTER, extraArgs: ["--disable-data-dir-locking"] }, root);
    expect(await other.exited).toBe(1);
    expect(other.output).toContain("--uid k9 does not match the uid k1 saved in this data dir");
  });

  test("SIGTERM stops postgres and the keeper; a restarted keeper keeps its identity and resumes", async () => {
    const t0 = Date.now();
    expect(await keepers.k1!.stop()).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(existsSync(join(root, "k1/postgres/postmaster.pid"))).toBe(false);

    const oldBoot = cd.keepers.k1!.status.bootUUID;
    startKeeper("k1");
    const info = await waitFor("k1's new boot", async () => {
      const i = (await infos()).k1;
      return i && i.bootUUID !== oldBoot ? i : null;
    }, 20_000);
    expect(info.uid).toBe("k1");
    // Until the view knows the new process, the keeper waits.
    await waitFor("the keeper to wait for the sentinel", () => keepers.k1!.output.includes("does not know this keeper process yet"), 10_000);
    await converged("k1", "d3");
    expect((await query(ports.k1!, "select count(*)::int as n from t"))[0]?.n).toBe(4);
  });
});
