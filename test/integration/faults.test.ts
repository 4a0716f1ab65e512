/**
 * The short fault-injection run (the full one: npm run faults): synchronous replication, a
 * workload through the proxy, the master killed, the master cut from etcd, the proxy killed; no
 * acknowledged write may be lost, none may be there twice, no two masters may take direct writes at
 * once, and one master must remain.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { renderFaultTable, runFaults } from "../../bench/faults.ts";
import { freeBasePort } from "../../scripts/local-cluster.ts";
import { makeTestRoot, requirePostgres } from "./harness/keeper.ts";

requirePostgres();

test("synchronous replication loses no acknowledged write under faults", async () => {
  const dir = join(makeTestRoot("faults"), "cluster");
  const r = await runFaults({
    dir,
    basePort: freeBasePort(29000, 32000),
    sync: true,
    faults: ["kill-master", "partition-master", "kill-proxy"],
    repeat: 1,
  });
  console.log(renderFaultTable(r));
  expect(r.acknowledged).toBeGreaterThan(100);
  expect(r.lost).toBe(0);
  expect(r.duplicates).toBe(0);
  expect(r.masters).toBe(1);
  expect(r.probes).toBeGreaterThan(10);
  expect(r.twoMasters).toEqual([]);
  // Every old master came back with pg_rewind (a promoted source is checkpointed first).
  expect(r.fullCopies).toBe(0);
}, 300_000);
