/**
 * bench/sim-keeper-state.ts: the simulated keeper of bench/etcd-scale.ts. Given the cluster data,
 * what its instance becomes and what it reports (table cases), and, run against the real decide(),
 * that simulated keepers bring a new cluster to a routed master with two standbys, and that a
 * silent master is replaced by a standby that the other one then follows on the new timeline.
 */
import { describe, expect, test } from "bun:test";
import { masterDb, newClusterData, type ClusterData } from "../../src/cluster/index.ts";
import { deepFreeze, makeClusterData, makeDb, steadyCluster } from "../harness/builders.ts";
import {
  convergedStandbys,
  followClusterData,
  offlineSecond,
  offlineWorld,
  settleOffline,
  NO_PG,
  PROMOTE_REASON,
  SIM_PG_PARAMETERS,
  simKeeperInfo,
  simPostgresState,
  systemIdOf,
  walFileName,
  type SimPg,
} from "../../bench/sim-keeper-state.ts";

const pg = (o: Partial<SimPg>): SimPg => ({ ...NO_PG, ...o });

describe("followClusterData", () => {
  const steady = deepFreeze(steadyCluster());
  /** steadyCluster with master m on k1 promoted to timeline 2 (history switch at 1500), s on k2 at generation 3. */
  const afterFailover = (() => {
    const cd = structuredClone(steadyCluster()) as ClusterData;
    cd.dbs.m!.status.timelineID = 2;
    cd.dbs.m!.status.timelinesHistory = [{ timelineID: 1, switchPoint: 1500, reason: PROMOTE_REASON }];
    cd.dbs.s!.generation = 3;
    return deepFreeze(cd);
  })();
  const newCluster = (() => {
    const cd = makeClusterData("c1", { initMode: "new" });
    cd.cluster.status.phase = "initializing";
    cd.dbs.d1 = makeDb("d1", { keeperUID: "k1", role: "master", initMode: "new" });
    return deepFreeze(cd);
  })();

  const cases: { name: string; cd: ClusterData; keeper: string; was: SimPg; wal?: number; want: SimPg }[] = [
    { name: "no db assigned yet: nothing runs", cd: steady, keeper: "k9", was: NO_PG, want: NO_PG },
    {
      name: "its db was removed: stopped, still holding the old uid",
      cd: steady,
      keeper: "k9",
      was: pg({ dbUid: "old", generation: 4, role: "master", timelineID: 1 }),
      want: pg({ dbUid: "old", generation: 4, role: null, timelineID: 1 }),
    },
    {
      name: "the first master (initMode new): a new instance on timeline 1",
      cd: newCluster,
      keeper: "k1",
      was: NO_PG,
      want: pg({ dbUid: "d1", generation: 1, role: "master", timelineID: 1 }),
    },
    {
      name: "a new standby db (resync): a copy of its master, on the master's timeline and history",
      cd: afterFailover,
      keeper: "k2",
      was: pg({ dbUid: "gone", generation: 7, role: null, timelineID: 1 }),
      want: pg({ dbUid: "s", generation: 3, role: "standby", timelineID: 2, history: [{ timelineID: 1, switchPoint: 1500, reason: PROMOTE_REASON }] }),
    },
    {
      name: "a standby whose master moved to a new timeline follows it (recovery_target_timeline latest)",
      cd: afterFailover,
      keeper: "k2",
      was: pg({ dbUid: "s", generation: 1, role: "standby", timelineID: 1 }),
      want: pg({ dbUid: "s", generation: 3, role: "standby", timelineID: 2, history: [{ timelineID: 1, switchPoint: 1500, reason: PROMOTE_REASON }] }),
    },
    {
      name: "a standby on its master's timeline takes the new generation only",
      cd: steady,
      keeper: "k2",
      was: pg({ dbUid: "s", generation: 0, role: "standby", timelineID: 1 }),
      want: pg({ dbUid: "s", generation: 1, role: "standby", timelineID: 1 }),
    },
    {
      name: "its standby db is now the master: promoted, a new timeline switching at the WAL position it had",
      cd: steady,
      keeper: "k1",
      was: pg({ dbUid: "m", generation: 1, role: "standby", timelineID: 1 }),
      wal: 4242,
      want: pg({ dbUid: "m", generation: 1, role: "master", timelineID: 2, history: [{ timelineID: 1, switchPoint: 4242, reason: PROMOTE_REASON }] }),
    },
    {
      name: "a master stays on its timeline",
      cd: afterFailover,
      keeper: "k1",
      was: pg({ dbUid: "m", generation: 1, role: "master", timelineID: 2 }),
      want: pg({ dbUid: "m", generation: 1, role: "master", timelineID: 2 }),
    },
  ];
  for (const c of cases) test(c.name, () => expect(followClusterData(c.cd, c.keeper, deepFreeze(c.was), c.wal ?? 0)).toEqual(c.want));

  test("an unchanged instance is the same object (the driver reports at once only on a change)", () => {
    const was = deepFreeze(pg({ dbUid: "s", generation: 1, role: "standby", timelineID: 1 }));
    expect(followClusterData(steady, "k2", was, 0)).toBe(was);
  });
});

describe("simPostgresState", () => {
  const ctx = { clusterUid: "c1", listenAddress: "127.0.0.1", port: 5433, walPos: 3 * 2 ** 24 + 5 };
  const cases: { name: string; pg: SimPg; want: Record<string, unknown> }[] = [
    {
      name: "nothing runs: unhealthy, with its identity and address only",
      pg: pg({ dbUid: "old", generation: 4, role: null, timelineID: 1 }),
      want: { uid: "old", generation: 4, healthy: false, listenAddress: "127.0.0.1", port: "5433", systemID: "", timelineID: 0, xLogPos: 0, pgParameters: null, synchronousStandbys: null },
    },
    {
      name: "a master: healthy, the cluster's system id, its timeline and history, the WAL position, no receiver",
      pg: pg({ dbUid: "m", generation: 2, role: "master", timelineID: 2, history: [{ timelineID: 1, switchPoint: 9 }] }),
      want: {
        uid: "m", generation: 2, healthy: true, systemID: systemIdOf("c1"), timelineID: 2, xLogPos: ctx.walPos,
        timelinesHistory: [{ timelineID: 1, switchPoint: 9 }], pgParameters: SIM_PG_PARAMETERS, synchronousStandbys: [], olderWalFile: "000000020000000000000000",
      },
    },
    {
      name: "a standby: streaming, caught up (received and replayed = the cluster's position)",
      pg: pg({ dbUid: "s", generation: 1, role: "standby", timelineID: 1 }),
      want: { uid: "s", healthy: true, timelineID: 1, xLogPos: ctx.walPos, receivingWal: true, replayedXLogPos: ctx.walPos },
    },
  ];
  for (const c of cases) test(c.name, () => expect(simPostgresState(c.pg, ctx)).toMatchObject(c.want));

  test("a master reports no receiver fields at all (absent, as the real keeper's JSON)", () => {
    const st = simPostgresState(pg({ dbUid: "m", role: "master", timelineID: 1 }), ctx);
    expect(Object.keys(st)).not.toContain("receivingWal");
    expect(Object.keys(st)).not.toContain("replayedXLogPos");
  });

  test("systemIdOf: 19 digits, the same for one cluster, different for another", () => {
    expect(systemIdOf("abc")).toMatch(/^\d{19}$/);
    expect(systemIdOf("abc")).toBe(systemIdOf("abc"));
    expect(systemIdOf("abc")).not.toBe(systemIdOf("abd"));
  });

  test("walFileName: timeline, then the segment's high and low parts", () => {
    expect(walFileName(1, 0)).toBe("000000010000000000000000");
    expect(walFileName(3, 257 * 2 ** 24)).toBe("000000030000000100000001");
  });
});

// ---- the simulated keepers against the real decide() ----------------------------------------------

const KEEPERS = ["keeper1", "keeper2", "keeper3"];
const world = () => offlineWorld(newClusterData("c1", { initMode: "new" }, new Date(0)), KEEPERS);
const second = offlineSecond;
const standbysOf = convergedStandbys;

describe("simulated keepers drive the real decide()", () => {
  test("a new cluster becomes normal with a master and two converged standbys", () => {
    const w = world();
    for (let i = 0; i < 20; i++) second(w);
    const m = masterDb(w.cd)!;
    expect(w.cd.cluster.status.phase).toBe("normal");
    expect(m.status.healthy).toBe(true);
    expect(m.status.currentGeneration).toBe(m.generation);
    expect(standbysOf(w.cd, m.uid)).toHaveLength(2);
  });

  test("a silent master is replaced once its lease expires; the other standby follows the new timeline; the old keeper comes back as a standby", () => {
    const w = world();
    for (let i = 0; i < 20; i++) second(w);
    const old = masterDb(w.cd)!;
    w.silent.add(old.spec.keeperUID);
    for (let i = 0; i < 10; i++) second(w);
    const next = masterDb(w.cd)!;
    expect(next.uid).not.toBe(old.uid);
    for (let i = 0; i < 10; i++) second(w);
    expect(masterDb(w.cd)!.status.timelineID).toBe(2);
    expect(standbysOf(w.cd, next.uid)).toHaveLength(1);
    expect(standbysOf(w.cd, next.uid)[0]!.status.timelineID).toBe(2);
    w.silent.clear();
    for (let i = 0; i < 20; i++) second(w);
    expect(masterDb(w.cd)!.uid).toBe(next.uid);
    expect(standbysOf(w.cd, next.uid)).toHaveLength(2);
    expect(w.cd.dbs[old.uid]).toBeUndefined();
  });

  test("settleOffline: a new cluster made whole without a sentinel (routed master, two converged standbys)", () => {
    const cd = settleOffline(newClusterData("c9", { initMode: "new" }, new Date(0)), KEEPERS);
    const m = masterDb(cd)!;
    expect(cd.proxy.spec.masterDbUid).toBe(m.uid);
    expect(convergedStandbys(cd, m.uid)).toHaveLength(2);
  });
});
