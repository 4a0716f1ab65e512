/**
 * Two sentinels and three keepers on real etcd and PostgreSQL, no test-written views: the
 * sentinels initialize the cluster, keep two streaming standbys, survive the loss of their leader,
 * and fail over to the best standby when the master keeper and its PostgreSQL are killed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { newClusterData, type ClusterData, type ClusterSpec } from "../../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { runCmd } from "./harness/process.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { DaemonProcess, KeeperProcess, makeTestRoot, postmasterPid, query, requirePostgres } from "./harness/keeper.ts";
import { readClusterData } from "../harness/builders.ts";

requirePostgres();

const CLUSTER = "st";
const spec: ClusterSpec = { initMode: "new", maxStandbysPerSender: 2, pgParameters: {} };

let etcd: EtcdProcess;
let backend: EtcdBackend;
let store: KvStore;
let root: string;
const keepers: Record<string, KeeperProcess> = {};
const ports: Record<string, number> = {};
const sentinels: DaemonProcess[] = [];

function startSentinel(name: string): DaemonProcess {
  const s = DaemonProcess.start("sentinel", name, ["--cluster-name", CLUSTER, "--store-backend", "etcdv3", "--store-endpoints", etcd.endpoint, "--log-level", "debug"]);
  sentinels.push(s);
  return s;
}

const sentinelUid = (s: DaemonProcess) => /sentinel (\w+) starting/.exec(s.output)?.[1];
const leader = () => store.sentinelElection(5000).leader();
const cd = (): Promise<ClusterData> => readClusterData(store);
const keeperOf = (c: ClusterData, dbUid: string | undefined) => (dbUid ? c.dbs[dbUid]?.spec.keeperUID : undefined);

/** A master and two standbys, all converged and healthy, the standbys following the master. */
function settled(c: ClusterData): boolean {
  const m = c.cluster.status.master;
  if (c.cluster.status.phase !== "normal" || !m) return false;
  const dbs = Object.values(c.dbs);
  return (
    dbs.length === 3 &&
    dbs.every((d) => d.status.healthy && d.status.currentGeneration === d.generation) &&
    dbs.filter((d) => d.uid !== m).every((d) => d.spec.role === "standby" && d.spec.followConfig?.dbuid === m)
  );
}

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  backend = new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 });
  store = new KvStore(backend, { prefix: "stolon/cluster", clusterName: CLUSTER });
  root = makeTestRoot("sentinel");
  await store.putClusterData(newClusterData("c0ffee02", spec, new Date()), 0);
});
afterAll(async () => {
  await Promise.all([...sentinels, ...Object.values(keepers)].map((p) => p.stop()));
  await store?.close();
  await etcd?.stop();
});

describe("sentinels and keepers", () => {
  test("the cluster initializes with one master and two streaming standbys", async () => {
    for (const k of ["k1", "k2", "k3"]) {
      ports[k] = freePort();
      keepers[k] = KeeperProcess.start({ uid: k, dataDir: join(root, k), pgPort: ports[k]!, etcd: etcd.endpoint, cluster: CLUSTER }, root);
    }
    startSentinel("s1");
    startSentinel("s2");
    const c = await waitFor("a settled cluster", async () => {
      const c = await cd();
      return settled(c) ? c : null;
    }, 90_000, 250);
    const masterKeeper = keeperOf(c, c.cluster.status.master)!;
    const rep = await query<{ application_name: string; state: string }>(ports[masterKeeper]!, "select application_name, state from pg_stat_replication where application_name like 'stolon\\_%' order by 1");
    expect(rep).toHaveLength(2);
    expect(rep.every((r) => r.state === "streaming")).toBe(true);
    expect(c.lastDecision?.notes.length).toBeGreaterThan(0);
    await query(ports[masterKeeper]!, "create table t (id int primary key)");
    await query(ports[masterKeeper]!, "insert into t select generate_series(1, 100)");
  });

  test("stolonctl status shows the leader sentinel, the master, the standbys and the last decision", async () => {
    const c = await cd();
    const r = await runCmd("stolonctl", ["--cluster-name", CLUSTER, "--store-backend", "etcdv3", "--store-endpoints", etcd.endpoint, "status"]);
    expect(r.code).toBe(0);
    const lead = await leader();
    expect(lead).not.toBeNull();
    expect(r.stdout).toContain(lead!);
    expect(r.stdout).toContain(keeperOf(c, c.cluster.status.master)!);
    for (const line of c.lastDecision!.notes) expect(r.stdout).toContain(line);
  });

  test("killing the leader sentinel hands leadership to the other; the cluster is unaffected", async () => {
    const before = await cd();
    const lead = await leader();
    const victim = sentinels.find((s) => sentinelUid(s) === lead)!;
    expect(victim).toBeDefined();
    const t0 = Date.now();
    victim.kill("SIGKILL");
    const other = sentinels.find((s) => s !== victim)!;
    await waitFor("the other sentinel to lead", async () => (await leader()) === sentinelUid(other), 15_000, 100);
    const handover = Date.now() - t0;
    console.log(`leader sentinel handover: ${handover} ms`);
    await waitFor("the new leader to tick", () => other.output.includes("is the leader"), 5000);
    await Bun.sleep(2000);
    const after = await cd();
    expect(after.cluster.status.master).toBe(before.cluster.status.master);
    expect(settled(after)).toBe(true);
  });

  test("killing the master keeper and its postgres elects the best standby; the other standby follows it", async () => {
    const before = await cd();
    const oldMaster = before.cluster.status.master!;
    const oldKeeper = keeperOf(before, oldMaster)!;
    await query(ports[oldKeeper]!, "insert into t select generate_series(101, 200)");
    const pm = postmasterPid(join(root, oldKeeper));
    const t0 = Date.now();
    keepers[oldKeeper]!.kill("SIGKILL");
    if (pm) process.kill(pm, "SIGKILL");
    const c = await waitFor("a new master", async () => {
      const c = await cd();
      const m = c.cluster.status.master;
      return m && m !== oldMaster && c.proxy.spec.masterDbUid === m ? c : null;
    }, 60_000, 100);
    const newKeeper = keeperOf(c, c.cluster.status.master)!;
    await waitFor("the new master writable", async () => (await query<{ r: boolean }>(ports[newKeeper]!, "select pg_is_in_recovery() as r"))[0]!.r === false, 30_000);
    console.log(`failover (SIGKILL of master keeper and postgres -> new master routed and writable): ${Date.now() - t0} ms`);
    expect((await query<{ n: number }>(ports[newKeeper]!, "select count(*)::int as n from t"))[0]!.n).toBe(200);
    // The leader said why: the election note names the new master and the candidates.
    expect(sentinels.map((s) => s.output).join("\n")).toMatch(new RegExp(`electing db ${c.cluster.status.master} \\(keeper ${newKeeper}\\), the eligible standby with the highest WAL position`));
    const otherStandby = ["k1", "k2", "k3"].find((k) => k !== oldKeeper && k !== newKeeper)!;
    await waitFor("the other standby streaming from the new master", async () => {
      const rep = await query<{ application_name: string; state: string }>(ports[newKeeper]!, "select application_name, state from pg_stat_replication where application_name like 'stolon\\_%'");
      const c = await cd();
      const dbOf = Object.values(c.dbs).find((d) => d.spec.keeperUID === otherStandby)!;
      return rep.some((r) => r.application_name === `stolon_${dbOf.uid}` && r.state === "streaming");
    }, 60_000, 250);
    await query(ports[newKeeper]!, "insert into t values (201)");
    await waitFor("row 201 on the other standby", async () => (await query<{ n: number }>(ports[otherStandby]!, "select count(*)::int as n from t"))[0]!.n === 201, 20_000);
  });
});
