/**
 * decide() in a standby cluster (spec.role "standby"): its master db is the standby leader (role
 * standby, following the external source of standbyConfig). A failover elects a new standby leader
 * by the usual rules and never makes a db writable; synchronous replication stays off;
 * `stolonctl promote` (spec.role -> master) turns the leader into the master. The first db of such
 * a cluster (pitr) is in pitr-init.test.ts.
 */
import { describe, expect, test } from "bun:test";
import type { ClusterData, ClusterSpec, DB } from "../../../src/cluster/index.ts";
import { deepFreeze } from "../../harness/builders.ts";
import { converge, keeperInfos, notes, run, three } from "./planned-builders.ts";
import { STANDBY } from "./dr-builders.ts";

const SOURCE = STANDBY.standbyConfig!;

/** three() as a standby cluster: m on k1 is the standby leader, s and t follow it; `spec` over STANDBY. */
function standbyCluster(spec: Partial<ClusterSpec> = {}): ClusterData {
  const cd = structuredClone(three({ spec: { ...STANDBY, ...spec } })) as ClusterData;
  cd.dbs.m!.spec.role = "standby";
  cd.dbs.m!.spec.followConfig = { type: "external", standbySettings: SOURCE.standbySettings, archiveRecoverySettings: SOURCE.archiveRecoverySettings };
  return deepFreeze(cd);
}

/** The dbs that would accept writes: role master, following nobody. */
const writable = (cd: ClusterData) => Object.values(cd.dbs).filter((d: DB) => d.spec.role === "master" || !d.spec.followConfig);

describe("standby cluster", () => {
  test("steady: nothing to decide; the leader follows the source and replicates asynchronously even with synchronousReplication on", () => {
    const cd = standbyCluster();
    expect(run(cd).change).not.toBe("decision");
    const sync = run(standbyCluster({ synchronousReplication: true }));
    expect(sync.clusterData.dbs.m!.spec).toMatchObject({ synchronousReplication: false, synchronousStandbys: [], externalSynchronousStandbys: [] });
  });

  const failovers: [string, Partial<ClusterSpec>][] = [
    ["asynchronous", {}],
    ["synchronousReplication on in the spec", { synchronousReplication: true, minSynchronousStandbys: 1 }],
  ];
  test.each(failovers)("the leader's keeper is gone (%s): the best standby becomes the new standby leader, never a master", (_name, spec) => {
    const cd = standbyCluster(spec);
    const r = run(cd, { infos: keeperInfos(cd, { k1: { missing: true } }) });
    const out = r.clusterData;
    expect(out.cluster.status.master).toBe("s");
    expect(out.dbs.s!.spec).toMatchObject({
      role: "standby",
      followConfig: { type: "external", standbySettings: SOURCE.standbySettings, archiveRecoverySettings: SOURCE.archiveRecoverySettings },
      synchronousReplication: false,
      synchronousStandbys: [],
      externalSynchronousStandbys: [],
    });
    expect(writable(out)).toEqual([]);
    expect(notes(r)).toContain("electing db s (keeper k2)");
    expect(notes(r)).toContain("db s (keeper k2) is the new standby leader: it follows the external source");
  });

  test("a standby that replayed the source's new timeline before the crashed leader's status recorded it is elected (a normal cluster would exclude it)", () => {
    const base = standbyCluster();
    const cd = structuredClone(base) as ClusterData;
    cd.dbs.m!.status.timelineID = 1;
    for (const u of ["s", "t"]) Object.assign(cd.dbs[u]!.status, { timelineID: 2, timelinesHistory: [{ timelineID: 1, switchPoint: 1000 }] });
    const r = run(deepFreeze(cd), { infos: keeperInfos(cd, { k1: { missing: true } }) });
    expect(r.clusterData.cluster.status.master).not.toBe("m");
    expect(r.clusterData.dbs[r.clusterData.cluster.status.master!]!.spec.role).toBe("standby");
    const normal = structuredClone(cd) as ClusterData;
    normal.cluster.spec.role = "master";
    for (const d of Object.values(normal.dbs)) delete d.spec.followConfig?.standbySettings;
    normal.dbs.m!.spec.role = "master";
    delete normal.dbs.m!.spec.followConfig;
    const n = run(deepFreeze(normal), { infos: keeperInfos(normal, { k1: { missing: true } }) });
    expect(n.clusterData.cluster.status.master).toBe("m");
  });

  test("after the failover: the old leader's db goes, the other standby follows the new leader internally, nobody is writable", () => {
    const cd = standbyCluster();
    const r1 = run(cd, { infos: keeperInfos(cd, { k1: { missing: true } }) });
    const cd2 = converge(r1.clusterData);
    const r2 = run(cd2, { infos: keeperInfos(cd2, { k1: { missing: true } }, 1), memory: r1.memory, after: 1000 });
    const out = r2.clusterData;
    expect(Object.keys(out.dbs).sort()).toEqual(["s", "t"]);
    expect(out.dbs.s!.spec.followConfig).toMatchObject({ type: "external" });
    expect(out.dbs.t!.spec).toMatchObject({ role: "standby", followConfig: { type: "internal", dbuid: "s" } });
    expect(out.dbs.s!.spec.followers).toEqual(["t"]);
    expect(writable(out)).toEqual([]);
  });

  test("stolonctl update points the cluster at a new source: every leader's followConfig gets it", () => {
    const moved = { ...SOURCE, standbySettings: { primaryConninfo: "host=other-source port=25432 user=repl" } };
    const r = run(standbyCluster({ standbyConfig: moved }));
    expect(r.clusterData.dbs.m!.spec.followConfig).toEqual({ type: "external", standbySettings: moved.standbySettings, archiveRecoverySettings: SOURCE.archiveRecoverySettings });
    expect(r.clusterData.dbs.m!.generation).toBe(2);
  });

  test("stolonctl promote (spec role master): the leader becomes the master, its standbys keep following it", () => {
    const r = run(standbyCluster({ role: "master" }));
    const out = r.clusterData;
    expect(out.dbs.m!.spec).toMatchObject({ role: "master", followConfig: null });
    expect(out.dbs.m!.generation).toBe(2);
    expect(writable(out).map((d) => d.uid)).toEqual(["m"]);
    expect(out.dbs.s!.spec.followConfig).toEqual({ type: "internal", dbuid: "m" });
    expect(notes(r)).toContain("db m is promoted: the cluster role is master");
    // A failover after the promotion makes a master again, as in any cluster.
    const cd2 = converge(out);
    const r2 = run(cd2, { infos: keeperInfos(cd2, { k1: { missing: true } }, 1), memory: r.memory, after: 1000 });
    expect(r2.clusterData.dbs.s!.spec).toMatchObject({ role: "master", followConfig: null });
  });
});
