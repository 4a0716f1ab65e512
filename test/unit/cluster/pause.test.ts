/**
 * Maintenance mode in decide() (issue 17): while paused, health is still computed and noted, but
 * the master never changes, nothing is demoted, no keeper or db is removed or added; a pause whose
 * end time passed is cleared; after it, a master gone meanwhile fails over at once.
 */
import { describe, expect, test } from "bun:test";
import { type ClusterData } from "../../../src/cluster/index.ts";
import { deepFreeze } from "../../harness/builders.ts";
import { at, keeperInfos, notes, proxyInfos, run, three } from "./planned-builders.ts";

const PAUSE = { since: at(-60_000), reason: "patching k1", until: at(30 * 60_000) };
const paused = (o: Parameters<typeof three>[0] = {}) => three({ pause: PAUSE, ...o });

describe("paused", () => {
  test("every tick notes the pause, its reason and its end", () => {
    const r = run(paused());
    expect(notes(r)).toContain(`paused since ${PAUSE.since}, reason: patching k1, until ${PAUSE.until}`);
    expect(r.clusterData.pause).toEqual(PAUSE);
  });

  test("a master whose keeper is gone is not failed over, but is seen unhealthy", () => {
    const cd = paused();
    const r = run(cd, { infos: keeperInfos(cd, { k1: { missing: true } }) });
    expect(r.clusterData.cluster.status.master).toBe("m");
    expect(r.clusterData.keepers.k1!.status.healthy).toBe(false);
    expect(notes(r)).toContain("master db m (keeper k1) is unhealthy: no failover while the cluster is paused");
  });

  test("a dead keeper without a db is not removed", () => {
    const c = structuredClone(paused({ two: true }));
    c.keepers.k3 = { uid: "k3", generation: 1, changeTime: "", spec: {}, status: { healthy: false, lastHealthyTime: at(-100 * 3_600_000) } };
    const cd = deepFreeze(c);
    const r = run(cd, { infos: keeperInfos(cd, { k3: { missing: true } }) });
    expect(r.clusterData.keepers.k3).toBeDefined();
    // Not paused: the same data removes it (the test can fail).
    const unpaused = structuredClone(c);
    delete unpaused.pause;
    const u = run(deepFreeze(unpaused), { infos: keeperInfos(unpaused, { k3: { missing: true } }) });
    expect(u.clusterData.keepers.k3).toBeUndefined();
  });

  test("a diverged standby is not removed, and no standby is added on a free keeper", () => {
    const c = structuredClone(paused());
    c.dbs.t!.status.systemdID = "another-system";
    c.keepers.k4 = structuredClone(c.keepers.k3!);
    c.keepers.k4.uid = "k4";
    delete c.dbs.s;
    c.dbs.m!.spec.followers = ["t"];
    const cd = deepFreeze(c);
    const r = run(cd);
    expect(Object.keys(r.clusterData.dbs).sort()).toEqual(["m", "t"]);
    const unpaused = structuredClone(c);
    delete unpaused.pause;
    const u = run(deepFreeze(unpaused));
    expect(u.clusterData.dbs.t).toBeUndefined();
  });

  test("the proxy barrier still runs: proxies are routed to the master", () => {
    const c = structuredClone(paused({ enabledProxies: ["p1"] }));
    delete c.proxy.spec.masterDbUid;
    const cd = deepFreeze(c);
    const r = run(cd, { proxies: proxyInfos(cd) });
    expect(r.clusterData.proxy.spec.masterDbUid).toBe("m");
  });

  test("a pause whose end has passed is cleared with a note; the usual rules apply in the same tick", () => {
    const cd = three({ pause: { since: at(-60_000), until: at(-1) } });
    const r = run(cd, { infos: keeperInfos(cd, { k1: { missing: true } }) });
    expect(r.clusterData.pause).toBeUndefined();
    expect(notes(r)).toContain("pause ended: its end time");
    expect(r.clusterData.cluster.status.master).not.toBe("m");
  });

  test("after resume, a master gone during the pause (histories kept) fails over on the next tick", () => {
    const cd = paused();
    const gone = keeperInfos(cd, { k1: { missing: true } });
    let r = run(cd, { infos: gone });
    r = run(deepFreeze(r.clusterData), { infos: gone, memory: r.memory, after: 60_000 });
    expect(r.clusterData.cluster.status.master).toBe("m");
    const resumed: ClusterData = structuredClone(r.clusterData);
    delete resumed.pause;
    const after = run(deepFreeze(resumed), { infos: gone, memory: r.memory, after: 61_000 });
    expect(after.clusterData.cluster.status.master).not.toBe("m");
  });

  test("initialization waits while paused", () => {
    const base = structuredClone(three({ pause: PAUSE }));
    const cd = deepFreeze({ ...base, cluster: { ...base.cluster, status: { phase: "initializing" as const } }, dbs: {} });
    const r = run(cd);
    expect(r.clusterData.cluster.status.master).toBeUndefined();
    expect(notes(r)).toContain("initializing: nothing done while the cluster is paused");
  });
});
