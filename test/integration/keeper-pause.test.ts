/**
 * The keeper while the cluster is paused (issue 17), against real etcd and real PostgreSQL, with
 * the cluster view written by the test (no sentinel). Story: paused, the master's keeper is
 * SIGKILLed and PostgreSQL keeps serving (no watchdog stops it); the keeper comes back and keeps
 * that very postmaster (same pid, no restart); the pause is lifted and the watchdog is armed again
 * on the postmaster this keeper process did not start, so a second SIGKILL of the keeper stops it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { ClusterData, ClusterSpec, KeeperInfo } from "../../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { putView, reflectInfos } from "./harness/sentinel-part.ts";
import { KeeperProcess, makeTestRoot, postmasterPid, query, requirePostgres } from "./harness/keeper.ts";
import { makeClusterData, makeDbFromSpec } from "../harness/builders.ts";

requirePostgres();

const CLUSTER = "kpause";
const spec: ClusterSpec = { initMode: "new", sleepInterval: "1s" };

let etcd: EtcdProcess;
let store: KvStore;
let root: string;
let keeper: KeeperProcess;
const port = freePort();
let cd: ClusterData;

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new KvStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: CLUSTER });
  root = makeTestRoot("keeper-pause");
  cd = makeClusterData("c0ffee18", spec);
  await store.putClusterData(cd, 0);
});
afterAll(async () => {
  await keeper?.stop();
  await store?.close();
  await etcd?.stop();
});

const dataDir = () => join(root, "k1");
const start = () => (keeper = KeeperProcess.start({ uid: "k1", dataDir: dataDir(), pgPort: port, etcd: etcd.endpoint, cluster: CLUSTER }, root));

/** Writes the view; like the sentinel, copies the keeper's bootUUID and its db's reported state. */
async function publish(): Promise<void> {
  const info = (await store.getKeepersInfo()).items.k1;
  reflectInfos(cd, info ? { k1: info } : {});
  await putView(store, cd);
}

async function converged(): Promise<KeeperInfo> {
  return waitFor(
    "keeper k1 converged on db d1",
    async () => {
      await publish();
      const info = (await store.getKeepersInfo()).items.k1;
      return info?.postgresState?.healthy && info.postgresState.generation === cd.dbs.d1!.generation ? info : null;
    },
    60_000,
    200,
  );
}

/** Starts a new keeper process and waits until it reports a healthy db and the view knows it. */
async function restarted(): Promise<void> {
  const before = cd.keepers.k1!.status.bootUUID;
  start();
  await waitFor("the new keeper process reports a healthy db", async () => {
    await publish();
    const info = (await store.getKeepersInfo()).items.k1;
    return info && info.bootUUID !== before && info.postgresState?.healthy ? true : null;
  }, 30_000);
  await converged();
}

describe("a keeper restart while the cluster is paused", () => {
  test("the master of a paused cluster survives a SIGKILL of its keeper and is kept, not restarted, by the next keeper process", async () => {
    start();
    cd.dbs.d1 = makeDbFromSpec(spec, { uid: "d1", keeperUID: "k1", role: "master", initMode: "new" });
    cd.cluster.status.master = "d1";
    await converged();
    await query(port, "create table t (id int primary key)");

    cd.pause = { since: new Date().toISOString(), reason: "maintenance test" };
    await publish();
    // The keeper disarms its watchdog at its next pass (the watch wakes it).
    await Bun.sleep(1500);
    const pid = postmasterPid(dataDir());
    expect(pid).not.toBeNull();
    keeper.kill("SIGKILL");
    await keeper.exited;
    await Bun.sleep(1500);
    expect(postmasterPid(dataDir())).toBe(pid);
    await query(port, "insert into t values (1)");

    await restarted();
    expect(keeper.output).toContain("the cluster is paused: the PostgreSQL instance left running by an earlier keeper process keeps running");
    expect(keeper.output).not.toContain("stopping postgres");
    expect(postmasterPid(dataDir())).toBe(pid);
    await query(port, "insert into t values (2)");
  });

  test("after the resume the watchdog guards the kept postmaster: a SIGKILL of the keeper stops it", async () => {
    cd.pause = null;
    await publish();
    await waitFor("the watchdog armed", () => (keeper.output.includes("watchdog armed for the postmaster") ? true : null), 10_000);
    const pid = postmasterPid(dataDir());
    keeper.kill("SIGKILL");
    await keeper.exited;
    await waitFor("the postmaster stopped by its watchdog", () => (postmasterPid(dataDir()) === null ? true : null), 30_000);
    expect(pid).not.toBeNull();
    // Back under a keeper: started again as the master, the rows there.
    await restarted();
    expect((await query<{ n: number }>(port, "select count(*)::int as n from t"))[0]!.n).toBe(2);
  });
});
