/**
 * initMode pitr end to end: a sentinel and two keepers on real etcd and PostgreSQL, the cluster
 * created by `stolonctl init` as an operator would (here: the cluster data written with the spec).
 * The dataRestoreCommand fails on the first keeper it runs on; with retryOnOtherKeeper the
 * sentinel tries the other, which restores the base backup (tar) and recovers from the archive
 * (cp) to the target time: the cluster goes normal with the rows before the target and none
 * after, the master takes writes, and the keeper that failed joins it as a standby.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { newClusterData, type ClusterData, type ClusterSpec } from "../../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { readClusterData } from "../harness/builders.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { DaemonProcess, KeeperProcess, makeTestRoot, query, requirePostgres } from "./harness/keeper.ts";
import { makePitrSource, SOURCE_PG_PARAMETERS, type PitrSource } from "./harness/pitr-source.ts";

requirePostgres();

const CLUSTER = "pitr-e2e";
let etcd: EtcdProcess;
let store: KvStore;
let root: string;
let source: PitrSource;
let sentinel: DaemonProcess;
const keepers: Record<string, KeeperProcess> = {};
const ports: Record<string, number> = {};
const cd = (): Promise<ClusterData> => readClusterData(store);

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new KvStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: CLUSTER });
  root = makeTestRoot("pitr-e2e");
  source = await makePitrSource(root);
});
afterAll(async () => {
  await Promise.all([sentinel, ...Object.values(keepers)].filter(Boolean).map((p) => p.stop()));
  await store?.close();
  await etcd?.stop();
});

/** A master and its standby, converged and healthy, the cluster out of its initialization. */
function settled(c: ClusterData): boolean {
  const m = c.cluster.status.master;
  const dbs = Object.values(c.dbs);
  return (
    c.cluster.status.phase === "normal" &&
    !!m &&
    dbs.length === 2 &&
    dbs.every((d) => d.status.healthy && d.status.currentGeneration === d.generation) &&
    dbs.filter((d) => d.uid !== m).every((d) => d.spec.role === "standby" && d.spec.followConfig?.dbuid === m)
  );
}

describe("initMode pitr with a sentinel", () => {
  test("a restore that fails on the first keeper is retried on the other (retryOnOtherKeeper); the cluster goes normal at the target", async () => {
    const tried = join(source.scratch, "tried");
    const firstFails = `if [ ! -e ${tried} ]; then echo %d > ${tried}; echo "the first attempt fails"; exit 4; fi; ${source.restoreData}`;
    const spec: ClusterSpec = {
      initMode: "pitr",
      sleepInterval: "1s",
      pgParameters: SOURCE_PG_PARAMETERS,
      pitrConfig: { ...source.pitrConfig, dataRestoreCommand: firstFails, retryOnOtherKeeper: true },
    };
    await store.putClusterData(newClusterData("c0ffee1e", spec, new Date()), 0);
    for (const k of ["k1", "k2"]) {
      ports[k] = freePort();
      keepers[k] = KeeperProcess.start({ uid: k, dataDir: join(root, k), pgPort: ports[k]!, etcd: etcd.endpoint, cluster: CLUSTER }, root);
    }
    sentinel = DaemonProcess.start("sentinel", "s1", ["--cluster-name", CLUSTER, "--store-backend", "etcdv3", "--store-endpoints", etcd.endpoint, "--log-level", "debug"]);
    const c = await waitFor("a settled cluster", async () => {
      const c = await cd();
      return settled(c) ? c : null;
    }, 150_000, 250).catch((err) => {
      throw new Error(`${String(err)}\nsentinel:\n${sentinel.output.slice(-4000)}\nk1:\n${keepers.k1!.output.slice(-3000)}\nk2:\n${keepers.k2!.output.slice(-3000)}`);
    });
    const failedKeeper = /\/(k\d)\/postgres/.exec(readFileSync(tried, "utf8"))?.[1];
    const masterKeeper = c.dbs[c.cluster.status.master!]!.spec.keeperUID;
    expect(failedKeeper).toBeDefined();
    expect(masterKeeper).not.toBe(failedKeeper);
    expect(sentinel.output).toMatch(/failed/);
    expect(sentinel.output).toContain("the first attempt fails");

    // The rows before the target, none after; writable on a new timeline.
    const port = ports[masterKeeper]!;
    expect((await query<{ id: number }>(port, "select id from t order by id")).map((r) => r.id)).toEqual([1, 2]);
    expect((await query<{ tli: number }>(port, "select timeline_id as tli from pg_control_checkpoint()"))[0]!.tli).toBeGreaterThanOrEqual(2);
    await query(port, "insert into t values (10, 'after the restore')");
    await waitFor("the standby (the keeper that failed) has the master's rows", async () => {
      const r = await query<{ n: number }>(ports[failedKeeper!]!, "select count(*)::int as n from t").catch(() => []);
      return r[0]?.n === 3;
    }, 30_000, 200);
  });
});
