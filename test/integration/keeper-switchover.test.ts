/**
 * The keeper's side of a switchover (issue 17), against real etcd and real PostgreSQL, with the
 * cluster view written by the test (no sentinel): the test plays the leader sentinel's steps.
 * Story: the master stops for the switchover and reports its shutdown checkpoint; the standby has
 * received past it; the standby is promoted and the old master follows it with neither pg_rewind
 * nor pg_basebackup, every acknowledged row on both; then a second switchover is rolled back and
 * the master serves again. Also: --priority reaches the keeper's info.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ClusterData, ClusterSpec, DB, KeeperInfo } from "../../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { putView, reflectInfos } from "./harness/sentinel-part.ts";
import { KeeperProcess, makeTestRoot, query, requirePostgres } from "./harness/keeper.ts";
import { makeClusterData, makeDbFromSpec } from "../harness/builders.ts";

requirePostgres();

const CLUSTER = "ksw";
// usePgrewind off: a former master that needed pg_rewind would be refused, so following shows none was needed.
const spec: ClusterSpec = { initMode: "new", sleepInterval: "1s", usePgrewind: false };

let etcd: EtcdProcess;
let store: KvStore;
let root: string;
const keepers: Record<string, KeeperProcess> = {};
const ports: Record<string, number> = {};
let cd: ClusterData;

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new KvStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: CLUSTER });
  root = makeTestRoot("keeper-switchover");
  cd = makeClusterData("c0ffee17", spec);
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

/** Writes the view; like the sentinel, copies each keeper's bootUUID and its db's reported state (timeline history included). */
async function publish(): Promise<void> {
  reflectInfos(cd, await infos());
  await putView(store, cd);
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

/** Waits until keeper `uid` reports its stop for switchover `id`; returns the position. */
async function stoppedFor(uid: string, id: string): Promise<number> {
  const s = await waitFor(`keeper ${uid} reports its stop for switchover ${id}`, async () => {
    await publish();
    const st = (await infos())[uid]?.postgresState?.stoppedForSwitchover;
    return st?.id === id ? st : null;
  }, 30_000, 100);
  return s.lsn;
}

const running = (uid: string) => existsSync(join(root, uid, "postgres", "postmaster.pid"));
const count = async (uid: string) => (await query<{ n: number }>(ports[uid]!, "select count(*)::int as n from t"))[0]!.n;
const standbyOf = (db: DB, master: string): DB => ({
  ...db,
  generation: db.generation + 1,
  spec: { ...db.spec, role: "standby", followConfig: { type: "internal", dbuid: master }, followers: [], stopForSwitchover: undefined },
});

describe("the keeper's side of a switchover (the test plays the sentinel)", () => {
  test("a master on k1 and a standby on k2 (--priority 5, in its info)", async () => {
    startKeeper("k1");
    startKeeper("k2", ["--priority", "5"]);
    cd.dbs.d1 = makeDbFromSpec(spec, { uid: "d1", keeperUID: "k1", role: "master", initMode: "new", followers: ["d2"] });
    cd.cluster.status.master = "d1";
    await converged("k1", "d1");
    await query(ports.k1!, "create table t (id serial primary key, note text)");
    cd.dbs.d2 = makeDbFromSpec(spec, { uid: "d2", keeperUID: "k2", role: "standby", initMode: "resync", followConfig: { type: "internal", dbuid: "d1" } });
    await converged("k2", "d2");
    const inf = await infos();
    expect(inf.k2!.priority).toBe(5);
    expect(inf.k1!.priority).toBe(1);
  });

  test("stop, catch up, promote: the old master follows the new one with no pg_rewind and no copy, no acknowledged row lost", async () => {
    // Writes acknowledged on d1 until the stop cuts them.
    const acked: number[] = [];
    let writing = true;
    const writer = (async () => {
      while (writing) {
        try {
          const r = await query<{ id: number }>(ports.k1!, "insert into t (note) values ('before the switchover') returning id");
          acked.push(r[0]!.id);
        } catch {
          return;
        }
      }
    })();
    await waitFor("some rows written", () => acked.length >= 20, 20_000);

    cd.dbs.d1 = { ...cd.dbs.d1!, generation: cd.dbs.d1!.generation + 1, spec: { ...cd.dbs.d1!.spec, stopForSwitchover: "sw1" } };
    const stopLsn = await stoppedFor("k1", "sw1");
    writing = false;
    await writer;
    expect(running("k1")).toBe(false);
    expect(keepers.k1!.output).toContain("switchover sw1: stopping postgres (fast shutdown)");
    // The standby has received the shutdown checkpoint: its reported position is past it.
    await waitFor("d2 past the old master's shutdown checkpoint", async () => ((await infos()).k2!.postgresState!.xLogPos > stopLsn ? true : null), 10_000, 50);
    // Still down a while later: the keeper never starts it while the request is set.
    await Bun.sleep(1500);
    expect(running("k1")).toBe(false);

    // Promotion: d2 master, d1 (same db) a standby of d2, the stop request gone with its master spec.
    cd.dbs.d2 = { ...cd.dbs.d2!, generation: cd.dbs.d2!.generation + 1, spec: { ...cd.dbs.d2!.spec, role: "master", followConfig: null, followers: ["d1"] } };
    cd.dbs.d1 = standbyOf(cd.dbs.d1!, "d2");
    cd.cluster.status.master = "d2";
    const promoted = await converged("k2", "d2");
    expect(promoted.postgresState!.timelineID).toBe(2);
    await converged("k1", "d1");

    expect(keepers.k1!.output).toMatch(/follows db d2, whose timeline 2 forked off at [0-9A-F]+\/[0-9A-F]+, after this node's last record: starting it as a standby, no pg_rewind and no copy needed/);
    expect(keepers.k1!.output).not.toContain("pg_rewind from");
    expect(keepers.k1!.output).not.toContain("pg_basebackup from");
    expect(keepers.k1!.output).not.toContain("refuses");
    // Every acknowledged row is on the new master, and the old master streams from it.
    const ids = new Set((await query<{ id: number }>(ports.k2!, "select id from t")).map((r) => r.id));
    expect(acked.filter((id) => !ids.has(id))).toEqual([]);
    await query(ports.k2!, "insert into t (note) values ('on the new master')");
    const n = await count("k2");
    await waitFor("the old master has the new master's rows", async () => ((await count("k1")) === n ? true : null), 20_000);
    const rep = await query<{ application_name: string; state: string }>(ports.k2!, "select application_name, state from pg_stat_replication where application_name like 'stolon\\_%'");
    expect(rep).toEqual([{ application_name: "stolon_d1", state: "streaming" }]);
    expect((await query<{ r: boolean }>(ports.k1!, "select pg_is_in_recovery() as r"))[0]!.r).toBe(true);
  });

  test("rollback: the stop request is withdrawn while the db is still master: it starts again as master and takes writes", async () => {
    cd.dbs.d2 = { ...cd.dbs.d2!, generation: cd.dbs.d2!.generation + 1, spec: { ...cd.dbs.d2!.spec, stopForSwitchover: "sw2" } };
    await stoppedFor("k2", "sw2");
    expect(running("k2")).toBe(false);
    const { stopForSwitchover: _, ...back } = cd.dbs.d2!.spec;
    cd.dbs.d2 = { ...cd.dbs.d2!, generation: cd.dbs.d2!.generation + 1, spec: back };
    const info = await converged("k2", "d2");
    expect(info.postgresState!.stoppedForSwitchover).toBeUndefined();
    expect(info.postgresState!.timelineID).toBe(2);
    await query(ports.k2!, "insert into t (note) values ('after the rollback')");
    const n = await count("k2");
    await waitFor("the standby follows the master again", async () => ((await count("k1")) === n ? true : null), 30_000);
  });
});
