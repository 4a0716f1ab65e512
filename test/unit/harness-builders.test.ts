/**
 * The shared test builders (test/harness/builders.ts) do what the tests that use them rely on:
 * frozen inputs throw on mutation, a DB built from a cluster spec carries the spec's values, and
 * reading cluster data that is not there says so instead of failing on undefined.
 */
import { expect, test } from "bun:test";
import { KvStore, MemoryBackend } from "../../src/store/index.ts";
import { deepFreeze, makeClusterData, makeDb, makeDbFromSpec, readClusterData, steadyCluster } from "../harness/builders.ts";

test("deepFreeze makes a mutation anywhere in the tree throw", () => {
  const cd = deepFreeze(steadyCluster());
  expect(() => {
    cd.dbs.m!.spec.followers!.push("x");
  }).toThrow();
  expect(() => {
    cd.cluster.status.master = "s";
  }).toThrow();
});

test("makeDb gives the usual DB spec defaults, with the case's fields over them", () => {
  const db = makeDb("d1", { keeperUID: "k1", maxStandbys: 3 }, { generation: 4 });
  expect(db).toMatchObject({ uid: "d1", generation: 4, changeTime: "", status: {} });
  expect(db.spec).toMatchObject({ keeperUID: "k1", maxStandbys: 3, requestTimeout: "10s", initMode: "none", followers: [] });
});

test("makeDbFromSpec copies the cluster spec's values a sentinel would copy", () => {
  const db = makeDbFromSpec({ initMode: "new", maxStandbys: 7, usePgrewind: true, pgParameters: { work_mem: "8MB" } }, { uid: "d1", keeperUID: "k1", role: "master", initMode: "new" });
  expect(db.spec).toMatchObject({ maxStandbys: 7, usePgrewind: true, pgParameters: { work_mem: "8MB" }, role: "master", initMode: "new" });
  expect(db.generation).toBe(1);
});

test("readClusterData returns what the store holds, and names the problem when it holds nothing", async () => {
  const kv = new MemoryBackend();
  const store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  try {
    await expect(readClusterData(store)).rejects.toThrow("no cluster data in the store");
    await store.putClusterData(makeClusterData("c9", { initMode: "new" }), 0);
    expect((await readClusterData(store)).cluster.uid).toBe("c9");
  } finally {
    kv.close();
  }
});
