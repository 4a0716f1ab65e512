/**
 * The switchover in decide() (issue 17): a whole run tick by tick with the keepers' and proxies'
 * reports, the refusals as a table, the rollbacks and failures, and the master stopped on purpose
 * not failed over.
 */
import { describe, expect, test } from "bun:test";
import { freshMemory, parseClusterData, type ClusterData, type DecideOutput, type Switchover } from "../../../src/cluster/index.ts";
import { deepFreeze } from "../../harness/builders.ts";
import { MiB, at, converge, keeperInfos, notes, proxyInfos, request, run, three, type InfoOver } from "./planned-builders.ts";

const sw = (r: DecideOutput): Switchover => r.clusterData.switchover!;
const STOP_LSN = 5 * MiB + 40;

/** One tick at `after` ms with the keepers' reports `over` and proxies (drained or not), memory carried. */
function tick(cd: ClusterData, after: number, o: { over?: Record<string, InfoOver>; drained?: string; memory?: DecideOutput["memory"]; proxies?: string[] } = {}) {
  return run(cd, {
    infos: keeperInfos(cd, o.over, after),
    proxies: proxyInfos(cd, { drained: o.drained, tick: after, only: o.proxies }),
    memory: o.memory,
    after,
  });
}

/** The request accepted and drained, the master's keeper asked to stop: the state before "stopping" resolves. */
function toStopping(o: { to?: string } = {}) {
  const cd = three({ enabledProxies: ["p1"], switchover: request(o) });
  const r1 = tick(cd, 0);
  expect(sw(r1).phase).toBe("draining");
  const r2 = tick(deepFreeze(r1.clusterData), 200, { drained: "sw1", memory: r1.memory });
  expect(sw(r2).phase).toBe("stopping");
  return r2;
}

describe("a switchover, tick by tick", () => {
  test("requested -> draining -> stopping -> catching-up -> promoting -> done, with a step line each", () => {
    const cd = three({ enabledProxies: ["p1"], switchover: request() });
    // requested: the target is the best standby (s and t equal: the lowest keeper uid); hold set.
    const r1 = tick(cd, 0);
    expect(sw(r1)).toMatchObject({ phase: "draining", fromDb: "m", toDb: "s", acceptedAt: at(0) });
    expect(r1.clusterData.proxy.spec.hold).toEqual({ id: "sw1", since: at(0), drainTimeout: "5s" });
    expect(r1.clusterData.proxy.generation).toBe(cd.proxy.generation + 1);
    expect(r1.clusterData.proxy.spec.masterDbUid).toBe("m");
    expect(notes(r1)).toContain("switchover sw1: accepted: from db m (keeper k1) to db s (keeper k2)");

    // draining: the proxy has not drained yet: wait; once it reports drained: stop the master.
    const c1 = deepFreeze(r1.clusterData);
    const wait = tick(c1, 100, { memory: r1.memory });
    expect(sw(wait).phase).toBe("draining");
    expect(notes(wait)).toContain("waiting for proxies p1 to drain");
    const r2 = tick(c1, 200, { drained: "sw1", memory: r1.memory });
    expect(sw(r2).phase).toBe("stopping");
    expect(r2.clusterData.dbs.m!.spec.stopForSwitchover).toBe("sw1");
    expect(r2.clusterData.dbs.m!.generation).toBe(c1.dbs.m!.generation + 1);

    // stopping: the keeper stops PostgreSQL and reports the LSN; the standby is not past it yet.
    const c2 = deepFreeze(r2.clusterData);
    const stopped = { healthy: false, stoppedForSwitchover: { id: "sw1", lsn: STOP_LSN } };
    const r3 = tick(c2, 400, { drained: "sw1", memory: r2.memory, over: { k1: stopped } });
    expect(sw(r3)).toMatchObject({ phase: "catching-up", stopLsn: STOP_LSN });
    expect(r3.clusterData.cluster.status.master).toBe("m");
    expect(notes(r3)).toContain("stopped cleanly, its shutdown checkpoint at LSN 0/500028");

    // catching-up: s received past the checkpoint: promoted; m becomes its standby, same db.
    const c3 = deepFreeze(r3.clusterData);
    const r4 = tick(c3, 600, { drained: "sw1", memory: r3.memory, over: { k1: stopped, k2: { xLogPos: STOP_LSN + 100 } } });
    expect(sw(r4).phase).toBe("promoting");
    const cd4 = r4.clusterData;
    expect(cd4.cluster.status.master).toBe("s");
    expect(cd4.dbs.s!.spec.role).toBe("master");
    expect(cd4.dbs.m!.spec).toMatchObject({ role: "standby", followConfig: { type: "internal", dbuid: "s" } });
    expect(cd4.dbs.m!.spec.stopForSwitchover).toBeUndefined();
    expect(cd4.proxy.spec.masterDbUid).toBeUndefined();
    expect(cd4.proxy.spec.hold?.id).toBe("sw1");

    // promoting: the new master converged and the proxy acknowledged: routed, hold released, done.
    const c4 = converge(cd4);
    const r5 = tick(c4, 900, { memory: r4.memory, over: { k1: { healthy: false } } });
    expect(r5.clusterData.proxy.spec.masterDbUid).toBe("s");
    expect(r5.clusterData.proxy.spec.hold).toBeUndefined();
    expect(sw(r5).phase).toBe("done");
    expect(sw(r5).outcome).toBe("switched over from db m (keeper k1) to db s (keeper k2) in 900 ms");
    expect(sw(r5).steps.map((s) => s.text.split(":")[0])).toEqual([
      "accepted",
      "every proxy drained (p1)",
      "the master db m (keeper k1) stopped cleanly, its shutdown checkpoint at LSN 0/500028",
      "db s (keeper k2) has WAL past LSN 0/500028 (at 0/50008C)",
      "proxies route to the new master db s (keeper k2)",
    ]);
    // The old master is not removed as an old master: it is a standby of the new one.
    expect(r5.clusterData.dbs.m).toBeDefined();
  });

  test("stopping -> catching-up -> promoting in one tick when the target is already past the LSN", () => {
    const r2 = toStopping();
    const c2 = deepFreeze(r2.clusterData);
    const r3 = tick(c2, 400, { drained: "sw1", memory: r2.memory, over: { k1: { healthy: false, stoppedForSwitchover: { id: "sw1", lsn: STOP_LSN } }, k2: { xLogPos: STOP_LSN + 1 } } });
    expect(sw(r3).phase).toBe("promoting");
    expect(r3.clusterData.cluster.status.master).toBe("s");
  });

  test("a target at exactly the stop LSN is not promoted (it must have received past it)", () => {
    const r2 = toStopping();
    const r3 = tick(deepFreeze(r2.clusterData), 400, { drained: "sw1", memory: r2.memory, over: { k1: { healthy: false, stoppedForSwitchover: { id: "sw1", lsn: 5 * MiB } }, k2: { xLogPos: 5 * MiB } } });
    expect(sw(r3).phase).toBe("catching-up");
    expect(notes(r3)).toContain("waiting for db s (keeper k2) to receive WAL past LSN 0/500000");
  });

  test("a proxy that never drains is waited for drainTimeout + proxyCheckInterval, no longer", () => {
    const cd = three({ enabledProxies: ["p1", "p2"], switchover: request({ drainTimeout: "2s" }) });
    const r1 = tick(cd, 0);
    const c1 = deepFreeze(r1.clusterData);
    const still = run(c1, { infos: keeperInfos(c1, {}, 2900), proxies: { ...proxyInfos(c1, { drained: "sw1", only: ["p1"] }), ...proxyInfos(c1, { only: ["p2"] }) }, memory: r1.memory, after: 2900 });
    expect(sw(still).phase).toBe("draining");
    const over = run(c1, { infos: keeperInfos(c1, {}, 3001), proxies: proxyInfos(c1, { drained: "sw1", only: ["p1"] }), memory: r1.memory, after: 3001 });
    expect(sw(over).phase).toBe("stopping");
    expect(notes(over)).toContain("drain period over, proxies p2 not drained");
  });

  test("with --to, that keeper is the target, even with priority 0; a drained report for another id does not count", () => {
    const cd = three({ enabledProxies: ["p1"], priority: { k3: 0 }, switchover: request({ to: "k3" }) });
    const r1 = tick(cd, 0, { over: { k3: { priority: 0 } } });
    expect(sw(r1)).toMatchObject({ phase: "draining", toDb: "t" });
    const r2 = tick(deepFreeze(r1.clusterData), 200, { drained: "other", memory: r1.memory, over: { k3: { priority: 0 } } });
    expect(sw(r2).phase).toBe("draining");
  });

  test("without --to, the election's rule picks the target (priority within 16 MiB)", () => {
    const cd = three({ xlog: { s: 5 * MiB, t: 4 * MiB }, priority: { k3: 9 }, switchover: request() });
    const r1 = tick(cd, 0, { over: { k3: { priority: 9 } } });
    expect(sw(r1).toDb).toBe("t");
    expect(sw(r1).steps[0]!.text).toContain("highest priority 9");
  });
});

describe("refused requests end failed, with the rule and the keeper", () => {
  const cases: [string, () => { cd: ClusterData; over?: Record<string, InfoOver> }, string][] = [
    ["paused", () => ({ cd: three({ switchover: request(), pause: { since: at(-5000) } }) }), "refused: the cluster is paused"],
    ["an unknown keeper", () => ({ cd: three({ switchover: request({ to: "k9" }) }) }), "refused: keeper k9 is not in the cluster"],
    ["the master's own keeper", () => ({ cd: three({ switchover: request({ to: "k1" }) }) }), "refused: keeper k1 already holds the master (db m)"],
    ["a keeper with can-be-master false", () => ({ cd: three({ switchover: request({ to: "k2" }) }), over: { k2: { canBeMaster: false } } }), "refused: keeper k2 (db s) is not eligible: --can-be-master=false"],
    ["a lagging standby", () => ({ cd: three({ xlog: { m: 50 * MiB, s: 1 * MiB }, switchover: request({ to: "k2" }) }) }), "refused: keeper k2 (db s) is not eligible: lag 49.0 MiB > maxStandbyLag 1.0 MiB"],
    ["an unhealthy standby", () => ({ cd: three({ switchover: request({ to: "k2" }) }), over: { k2: { missing: true } } }), "refused: keeper k2 (db s) is not eligible: unhealthy"],
    ["no eligible standby", () => ({ cd: three({ two: true, switchover: request() }), over: { k2: { missing: true } } }), "refused: no standby is eligible: keeper k2 (db s): unhealthy"],
    ["an unhealthy master no standby can replace", () => ({ cd: three({ two: true, switchover: request() }), over: { k1: { missing: true }, k2: { canBeMaster: false } } }), "refused: the master db m (keeper k1) is not healthy"],
    ["a failed master replaced in the same tick", () => ({ cd: three({ switchover: request() }), over: { k1: { missing: true } } }), "refused: the proxies do not route to the master yet"],
    ["a timeout out of range", () => ({ cd: three({ switchover: request({ timeout: "5h" }) }) }), `refused: timeout "5h" is above the maximum of 1h0m0s`],
    ["a drain timeout not a duration of the range", () => ({ cd: three({ switchover: request({ drainTimeout: "1ms" }) }) }), `refused: drainTimeout "1ms" is below the minimum of 100ms`],
    ["the proxies not routed to the master", () => ({ cd: routedNowhere() }), "refused: the proxies do not route to the master yet"],
  ];
  test.each(cases)("%s", (_n, make, outcome) => {
    const { cd, over } = make();
    const r = tick(cd, 0, { over });
    expect(sw(r).phase).toBe("failed");
    expect(sw(r).outcome).toContain(outcome);
    expect(r.clusterData.proxy.spec.hold ?? null).toBeNull();
    if (!_n.includes("replaced")) expect(r.clusterData.cluster.status.master).toBe(cd.cluster.status.master);
  });

  test("synchronous mode: a standby not known to be in sync is refused, the synchronous one accepted", () => {
    const base = structuredClone(three({ spec: { synchronousReplication: true, minSynchronousStandbys: 1, maxSynchronousStandbys: 1 }, switchover: request({ to: "k3" }) }));
    Object.assign(base.dbs.m!.spec, { synchronousReplication: true, synchronousStandbys: ["s"] });
    base.dbs.m!.status.synchronousStandbys = ["s"];
    const refused = tick(deepFreeze(base), 0, { over: { k1: { synchronousStandbys: ["s"] } } });
    expect(sw(refused).outcome).toBe("refused: keeper k3 (db t) is not eligible: not known to be in sync (synchronous replication)");
    const accepted = tick(deepFreeze({ ...structuredClone(base), switchover: request({ to: "k2" }) }), 0, { over: { k1: { synchronousStandbys: ["s"] } } });
    expect(sw(accepted)).toMatchObject({ phase: "stopping", toDb: "s" }); // no proxy enabled: nothing to drain
  });

  test("a request while the cluster is initializing", () => {
    const base = three({ switchover: request() });
    const cd = deepFreeze({ ...structuredClone(base), cluster: { ...structuredClone(base.cluster), status: { phase: "initializing" as const } }, dbs: {} });
    const r = tick(cd, 0);
    expect(sw(r).outcome).toBe("refused: the cluster is initializing");
  });

  function routedNowhere(): ClusterData {
    const c = structuredClone(three({ switchover: request() }));
    delete c.proxy.spec.masterDbUid;
    return deepFreeze(c);
  }
});

describe("rollbacks and failures", () => {
  test("the timeout passes while catching up: stop cleared (the keeper starts it again), hold released, master unchanged", () => {
    const r2 = toStopping();
    const stopped = { k1: { healthy: false, stoppedForSwitchover: { id: "sw1", lsn: STOP_LSN } } };
    const r3 = tick(deepFreeze(r2.clusterData), 400, { drained: "sw1", memory: r2.memory, over: stopped });
    expect(sw(r3).phase).toBe("catching-up");
    const c3 = deepFreeze(r3.clusterData);
    const before = tick(c3, 30_000, { drained: "sw1", memory: r3.memory, over: stopped });
    expect(sw(before).phase).toBe("catching-up");
    const r4 = tick(c3, 30_001, { drained: "sw1", memory: r3.memory, over: stopped });
    expect(sw(r4).phase).toBe("rolled-back");
    expect(sw(r4).outcome).toBe("rolled back during catching-up: the timeout of 30s passed before the promotion; db m (keeper k1) stays master");
    expect(r4.clusterData.dbs.m!.spec.stopForSwitchover).toBeUndefined();
    expect(r4.clusterData.dbs.m!.spec.role).toBe("master");
    expect(r4.clusterData.proxy.spec.hold).toBeUndefined();
    expect(r4.clusterData.proxy.spec.masterDbUid).toBe("m");
    expect(r4.clusterData.proxy.generation).toBe(c3.proxy.generation + 1);
    expect(r4.clusterData.cluster.status.master).toBe("m");
  });

  test("after a rollback the old master's keeper has a whole failInterval to start it again, before the usual rule fails it over", () => {
    const r2 = toStopping();
    const down = { k1: { healthy: false } };
    const stopped = { k1: { healthy: false, stoppedForSwitchover: { id: "sw1", lsn: STOP_LSN } } };
    let r = tick(deepFreeze(r2.clusterData), 400, { drained: "sw1", memory: r2.memory, over: stopped });
    r = tick(deepFreeze(r.clusterData), 30_001, { drained: "sw1", memory: r.memory, over: stopped });
    expect(sw(r).phase).toBe("rolled-back");
    // Stopped for 30 s (failInterval 5s): still down while its keeper starts it again.
    const soon = tick(deepFreeze(r.clusterData), 31_000, { memory: r.memory, over: down });
    expect(soon.clusterData.cluster.status.master).toBe("m");
    expect(soon.clusterData.dbs.m!.status.healthy).toBe(true);
    // Still down a failInterval after the rollback: failed over as usual.
    const late = tick(deepFreeze(soon.clusterData), 36_500, { memory: soon.memory, over: down });
    expect(late.clusterData.cluster.status.master).not.toBe("m");
  });

  test("the target's keeper stops while the master is stopped: rolled back", () => {
    const r2 = toStopping();
    const r3 = tick(deepFreeze(r2.clusterData), 400, { drained: "sw1", memory: r2.memory, over: { k1: { healthy: false, stoppedForSwitchover: { id: "sw1", lsn: STOP_LSN } }, k2: { missing: true } } });
    expect(sw(r3).phase).toBe("rolled-back");
    expect(sw(r3).outcome).toContain("the target db s (keeper k2) is no longer eligible: unhealthy");
    expect(r3.clusterData.dbs.m!.spec.stopForSwitchover).toBeUndefined();
  });

  test("cancelled by the operator while stopped: rolled back, the master starts again, the hold released", () => {
    const r2 = toStopping();
    const c2 = structuredClone(r2.clusterData);
    c2.switchover!.cancelRequestedAt = at(300);
    const stopped = { k1: { healthy: false, stoppedForSwitchover: { id: "sw1", lsn: STOP_LSN } } };
    const r3 = tick(deepFreeze(c2), 400, { drained: "sw1", memory: r2.memory, over: stopped });
    expect(sw(r3).phase).toBe("rolled-back");
    expect(sw(r3).outcome).toBe(`rolled back during stopping: cancelled by the operator at ${at(300)}; db m (keeper k1) stays master`);
    expect(r3.clusterData.dbs.m!.spec.stopForSwitchover).toBeUndefined();
    expect(r3.clusterData.proxy.spec.hold).toBeUndefined();
    expect(r3.clusterData.cluster.status.master).toBe("m");
  });

  test("a cancel that comes once the promotion has started changes nothing: it runs to its end", () => {
    const r2 = toStopping();
    const stopped = { k1: { healthy: false, stoppedForSwitchover: { id: "sw1", lsn: STOP_LSN } }, k2: { xLogPos: STOP_LSN + 8 } };
    const r3 = tick(deepFreeze(r2.clusterData), 400, { drained: "sw1", memory: r2.memory, over: stopped });
    expect(sw(r3).phase).toBe("promoting");
    const c3 = structuredClone(r3.clusterData);
    c3.switchover!.cancelRequestedAt = at(450);
    const r4 = tick(deepFreeze(c3), 500, { drained: "sw1", memory: r3.memory, over: stopped });
    expect(sw(r4).phase).not.toBe("rolled-back");
    expect(r4.clusterData.cluster.status.master).toBe("s");
  });

  test("paused while draining: rolled back", () => {
    const cd = three({ enabledProxies: ["p1"], switchover: request() });
    const r1 = tick(cd, 0);
    const c1 = structuredClone(r1.clusterData);
    c1.pause = { since: at(50) };
    const r2 = tick(deepFreeze(c1), 100, { memory: r1.memory });
    expect(sw(r2).outcome).toContain("rolled back during draining: the cluster was paused");
  });

  test("a master stopped for the switchover is not failed over for being down, even past failInterval", () => {
    const r2 = toStopping();
    const c2 = deepFreeze(r2.clusterData);
    const down = { k1: { healthy: false } };
    let r = tick(c2, 400, { drained: "sw1", memory: r2.memory, over: down });
    r = tick(c2, 7000, { drained: "sw1", memory: r.memory, over: down });
    expect(r.clusterData.dbs.m!.status.healthy).toBe(false);
    expect(r.clusterData.cluster.status.master).toBe("m");
    expect(sw(r).phase).toBe("stopping");
  });

  test("the master's keeper fails while stopped: the switchover fails and the ordinary failover runs", () => {
    const r2 = toStopping();
    const r3 = tick(deepFreeze(r2.clusterData), 400, { drained: "sw1", memory: r2.memory, over: { k1: { missing: true } } });
    expect(r3.clusterData.cluster.status.master).not.toBe("m");
    expect(sw(r3).phase).toBe("failed");
    expect(sw(r3).outcome).toContain("failed during stopping: the master changed to");
    expect(r3.clusterData.proxy.spec.hold).toBeUndefined();
  });

  test("a stopForSwitchover or a hold no running switchover owns is cleared", () => {
    const c = structuredClone(three({ switchover: request({ phase: "done", outcome: "x" }) }));
    c.dbs.m!.spec.stopForSwitchover = "old";
    c.proxy.spec.hold = { id: "old", since: at(-9000), drainTimeout: "5s" };
    const r = tick(deepFreeze(c), 0);
    expect(r.clusterData.dbs.m!.spec.stopForSwitchover).toBeUndefined();
    expect(r.clusterData.proxy.spec.hold).toBeUndefined();
    expect(notes(r)).toContain("stopForSwitchover old cleared: no such switchover is running");
  });

  test("a finished switchover stays as it is, tick after tick", () => {
    const cd = three({ switchover: request({ phase: "rolled-back", outcome: "x" }) });
    const r = tick(cd, 0, { memory: freshMemory() });
    expect(r.clusterData.switchover).toEqual(cd.switchover!);
  });

  test("a refusal naming a thousand keepers is clipped: the cluster data written stays readable", () => {
    const c = structuredClone(three({ two: true, switchover: request() }));
    for (let i = 0; i < 1000; i++) {
      const k = `keeper_with_a_long_name_${String(i).padStart(4, "0")}`;
      c.keepers[k] = { ...structuredClone(c.keepers.k2!), uid: k };
      c.dbs[`db_with_a_long_name_${i}`] = { ...structuredClone(c.dbs.s!), uid: `db_with_a_long_name_${i}`, spec: { ...structuredClone(c.dbs.s!.spec), keeperUID: k } };
    }
    const cd = deepFreeze(c);
    const gone = Object.fromEntries(Object.keys(cd.keepers).filter((k) => k !== "k1").map((k) => [k, { missing: true }]));
    const r = run(cd, { infos: keeperInfos(cd, gone) });
    expect(sw(r).phase).toBe("failed");
    expect(sw(r).outcome!.length).toBeLessThanOrEqual(4096);
    expect(sw(r).outcome!.endsWith("...")).toBe(true);
    expect(() => parseClusterData(JSON.stringify(r.clusterData))).not.toThrow();
  });

  test("steps are capped at the last 50", () => {
    const steps = Array.from({ length: 50 }, (_, i) => ({ time: at(-1000), text: `old ${i}` }));
    const r = tick(three({ switchover: request({ steps, to: "k9" }) }), 0);
    expect(sw(r).steps).toHaveLength(50);
    expect(sw(r).steps.at(-1)!.text).toContain("keeper k9 is not in the cluster");
    expect(sw(r).steps[0]!.text).toBe("old 1");
  });
});
