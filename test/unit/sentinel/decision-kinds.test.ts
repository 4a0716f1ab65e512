/**
 * decisionKinds(), masterLooksFailed() and isFailover(): what a cluster-view write decided, case
 * by case. Each case states the change it makes to a steady cluster (master m on k1, standby s on k2).
 */
import { describe, expect, test } from "bun:test";
import type { Change, ClusterData } from "../../../src/cluster/index.ts";
import { decisionKinds, isFailover, masterLooksFailed, type DecisionKind } from "../../../src/sentinel/decision-kinds.ts";
import { deepFreeze, steadyCluster, steadyDb } from "../../harness/builders.ts";

const steady = (): ClusterData => deepFreeze(steadyCluster());

/** A copy of the steady cluster with `edit` applied. */
function edited(edit: (cd: ClusterData) => void, from: ClusterData = steady()): ClusterData {
  const cd = structuredClone(from);
  edit(cd);
  return deepFreeze(cd);
}

/** [name, the change, decide()'s change kind, the kinds expected, optionally an edit of the data before] */
const cases: [string, (cd: ClusterData) => void, Change, DecisionKind[], ((cd: ClusterData) => void)?][] = [
  ["nothing changed", () => {}, "none", []],
  ["only reported figures (decide says status)", (cd) => (cd.dbs.s!.status.xLogPos = 2000), "status", ["status"]],
  ["a keeper's lastHealthyTime refreshed, a db's generation reached", (cd) => {
    cd.keepers.k1!.status.lastHealthyTime = "2026-12-01T00:01:00Z";
    cd.dbs.s!.status.currentGeneration = 2;
  }, "decision", ["status"]],
  ["a new master: role, followers, followConfig and the proxy barrier change with it", (cd) => {
    cd.cluster.status.master = "s";
    cd.dbs.s!.spec.role = "master";
    cd.dbs.s!.spec.followConfig = null;
    cd.dbs.m!.spec.followers = [];
    cd.proxy.spec.masterDbUid = "";
    cd.proxy.generation = 2;
  }, "decision", ["master", "followers", "dbs", "proxy"]],
  ["the first master of a new cluster", (cd) => (cd.cluster.status.master = "m"), "decision", ["master"], (cd) => (cd.cluster.status.master = undefined)],
  ["synchronous standbys named", (cd) => (cd.dbs.m!.spec.synchronousStandbys = ["s"]), "decision", ["sync_standbys"]],
  ["external synchronous standbys named", (cd) => (cd.dbs.m!.spec.externalSynchronousStandbys = ["ext"]), "decision", ["sync_standbys"]],
  ["null and empty synchronous standbys are the same", (cd) => (cd.dbs.m!.spec.synchronousStandbys = null), "decision", ["status"]],
  ["a standby follows another db", (cd) => (cd.dbs.s!.spec.followConfig = { type: "internal", dbuid: "x" }), "decision", ["followers"]],
  ["a db added", (cd) => (cd.dbs.t = steadyDb("t", "k2", "standby", { xlog: 1000 })), "decision", ["dbs"]],
  ["a db removed", (cd) => delete cd.dbs.s, "decision", ["dbs"]],
  ["a db respecced (parameters)", (cd) => (cd.dbs.s!.spec.pgParameters = { work_mem: "8MB" }), "decision", ["dbs"]],
  ["a keeper added", (cd) => (cd.keepers.k3 = { ...structuredClone(cd.keepers.k2!), uid: "k3" }), "decision", ["keepers"]],
  ["a keeper failed", (cd) => (cd.keepers.k2!.status.healthy = false), "decision", ["keepers"]],
  ["the proxies' enabled set", (cd) => (cd.proxy.spec.enabledProxies = ["p1"]), "decision", ["proxy"]],
];

describe("decisionKinds", () => {
  // Every row gets its fifth element: bun passes a done callback to a parameter left without one.
  test.each(cases.map(([n, e, c, k, b]) => [n, e, c, k, b ?? null] as const))("%s", (_name, edit, change, kinds, editBefore) => {
    const before = edited(editBefore ?? (() => {}));
    const after = edited(edit, before);
    expect(decisionKinds(before, after, change).sort()).toEqual([...kinds].sort());
  });
});

describe("failovers", () => {
  const failed: [string, (cd: ClusterData) => void, (cd: ClusterData) => void, string | null][] = [
    ["a healthy master", () => {}, () => {}, null],
    ["failkeeper on the master's keeper (read from before)", (cd) => (cd.keepers.k1!.status.forceFail = true), () => {}, "failkeeper was asked for keeper k1"],
    ["the master's keeper found unhealthy", () => {}, (cd) => (cd.keepers.k1!.status.healthy = false), "keeper k1 is unhealthy"],
    ["the master db found unhealthy", () => {}, (cd) => (cd.dbs.m!.status.healthy = false), "db m is unhealthy"],
    ["the master db removed", () => {}, (cd) => delete cd.dbs.m, "db m was removed"],
    ["a standby's keeper unhealthy: not the master", () => {}, (cd) => (cd.keepers.k2!.status.healthy = false), null],
    ["no master", (cd) => (cd.cluster.status.master = undefined), () => {}, null],
  ];
  test.each(failed)("masterLooksFailed: %s", (_name, editBefore, editAfter, why) => {
    const before = edited(editBefore);
    const after = edited(editAfter, before);
    expect(masterLooksFailed(before, after)?.why ?? null).toBe(why);
  });

  test("isFailover: another master replacing one, not the first election nor a master kept", () => {
    const noMaster = edited((cd) => (cd.cluster.status.master = undefined));
    const toS = edited((cd) => (cd.cluster.status.master = "s"));
    expect(isFailover(steady(), toS)).toBe(true);
    expect(isFailover(noMaster, steady())).toBe(false);
    expect(isFailover(steady(), steady())).toBe(false);
    expect(isFailover(steady(), noMaster)).toBe(false);
  });
});
