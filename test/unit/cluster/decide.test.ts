/**
 * decide(), table by table: stolon's TestUpdateCluster scenarios (#0-#31, reference §6) and the
 * rules this project changed (highest xlogpos, lease expiry, barrier waits for convergence).
 * Fixtures state only what matters; inputs are deep-frozen so a decide() that mutates throws.
 */
import { describe, expect, test } from "bun:test";
import {
  decide,
  freshMemory,
  isDifferentTimelineBranch,
  parseClusterData,
  SILENCE_POLL_MS,
  validateSpec,
  walSegmentName,
  type ClusterData,
  type ClusterSpec,
  type DB,
  type DBSpec,
  type KeeperInfo,
  type ProxyInfo,
  type SentinelMemory,
} from "../../../src/cluster/index.ts";
import { deepFreeze } from "../../harness/builders.ts";

const NOW = 10_000_000;
const WALL = Date.parse("2026-11-26T12:00:00Z");
const MiB = 1024 * 1024;

interface DbOpts {
  role?: "master" | "standby";
  follow?: string;
  gen?: number;
  curGen?: number;
  healthy?: boolean;
  xlog?: number;
  tl?: number;
  sys?: string;
  initMode?: DBSpec["initMode"];
  followers?: string[];
  sync?: string[];
  syncStatus?: string[];
  external?: string[];
  syncRepl?: boolean;
  olderWal?: string;
}

function db(uid: string, keeperUID: string, o: DbOpts = {}): DB {
  const gen = o.gen ?? 1;
  return {
    uid,
    generation: gen,
    changeTime: "",
    spec: {
      keeperUID,
      requestTimeout: "10s",
      maxStandbys: 20,
      synchronousReplication: o.syncRepl ?? false,
      usePgrewind: false,
      additionalWalSenders: 5,
      additionalReplicationSlots: [],
      initMode: o.initMode ?? "none",
      pgParameters: {},
      pgHBA: null,
      role: o.role ?? "standby",
      followConfig: o.role === "master" ? null : { type: "internal", dbuid: o.follow ?? "m" },
      followers: o.followers ?? [],
      synchronousStandbys: o.sync ?? [],
      externalSynchronousStandbys: o.external ?? [],
    },
    status: {
      healthy: o.healthy ?? true,
      currentGeneration: o.curGen ?? gen,
      listenAddress: "127.0.0.1",
      port: "5432",
      systemdID: o.sys ?? "sys1",
      timelineID: o.tl ?? 1,
      xLogPos: o.xlog ?? 1000,
      synchronousStandbys: o.syncStatus ?? [],
      olderWalFile: o.olderWal ?? "000000010000000000000001",
      timelinesHistory: null,
      pgParameters: {},
    },
  };
}

function cluster(o: { spec?: ClusterSpec; phase?: "initializing" | "normal"; keepers?: readonly string[]; dbs?: DB[]; master?: string; proxy?: { masterDbUid?: string; enabled?: string[]; gen?: number }; unhealthyKeepers?: readonly string[] }): ClusterData {
  const keepers = o.keepers ?? ["k1", "k2", "k3"];
  const spec: ClusterSpec = { initMode: "new", sleepInterval: "1s", failInterval: "5s", convergenceTimeout: "30s", maxStandbysPerSender: 1, pgParameters: {}, ...o.spec };
  return deepFreeze({
    formatVersion: 1,
    changeTime: "",
    cluster: { uid: "c1", generation: 1, changeTime: "", spec, status: { phase: o.phase ?? "normal", master: o.master } },
    keepers: Object.fromEntries(
      keepers.map((k) => [
        k,
        {
          uid: k,
          generation: 1,
          changeTime: "",
          spec: {},
          status: {
            healthy: !(o.unhealthyKeepers ?? []).includes(k),
            lastHealthyTime: new Date(WALL).toISOString(),
            bootUUID: `boot-${k}`,
            postgresBinaryVersion: { Maj: 15, Min: 18 },
            canBeMaster: true,
            canBeSynchronousReplica: true,
          },
        },
      ]),
    ),
    dbs: Object.fromEntries((o.dbs ?? []).map((d) => [d.uid, d])),
    proxy: { generation: o.proxy?.gen ?? 1, changeTime: "", spec: { masterDbUid: o.proxy?.masterDbUid, enabledProxies: o.proxy?.enabled ?? [] }, status: {} },
  } as ClusterData);
}

/** The info each keeper publishes, derived from the DB it holds in `cd` unless overridden. */
function infosFor(cd: ClusterData, over: Record<string, Partial<KeeperInfo["postgresState"]> & { missing?: boolean; canBeMaster?: boolean; canBeSync?: boolean; infoUID?: string; sync?: string[] }> = {}): Record<string, KeeperInfo> {
  const out: Record<string, KeeperInfo> = {};
  for (const k of Object.keys(cd.keepers)) {
    const o = over[k] ?? {};
    if (o.missing) continue;
    const d = Object.values(cd.dbs).find((x) => x.spec.keeperUID === k);
    out[k] = {
      infoUID: o.infoUID ?? `i-${k}`,
      uid: k,
      clusterUID: "c1",
      bootUUID: `boot-${k}`,
      postgresBinaryVersion: { Maj: 15, Min: 18 },
      canBeMaster: o.canBeMaster ?? true,
      canBeSynchronousReplica: o.canBeSync ?? true,
      postgresState: {
        uid: d?.uid ?? "",
        generation: d?.status.currentGeneration ?? 0,
        listenAddress: "127.0.0.1",
        port: "5432",
        healthy: d ? (d.status.healthy ?? true) : false,
        systemID: d?.status.systemdID ?? "",
        timelineID: d?.status.timelineID ?? 0,
        xLogPos: d?.status.xLogPos ?? 0,
        timelinesHistory: d?.status.timelinesHistory ?? null,
        pgParameters: d?.status.pgParameters ?? {},
        synchronousStandbys: o.sync ?? null,
        olderWalFile: d?.status.olderWalFile ?? "000000010000000000000001",
        ...o,
      },
    };
  }
  return deepFreeze(out);
}

function proxy(uid: string, generation: number, infoUID = `p-${uid}`): ProxyInfo {
  return { infoUID, UID: uid, Generation: generation, ProxyTimeout: 15e9 };
}

function run(
  cd: ClusterData,
  o: {
    infos?: Record<string, KeeperInfo>;
    proxies?: Record<string, ProxyInfo>;
    memory?: Partial<SentinelMemory>;
    now?: number;
    wallNow?: number;
    keeperSilenceMs?: Record<string, number>;
    proxySilenceMs?: Record<string, number>;
  } = {},
) {
  let n = 0;
  return decide({
    clusterData: cd,
    keepersInfo: o.infos ?? infosFor(cd),
    proxiesInfo: deepFreeze(o.proxies ?? {}),
    ...(o.keeperSilenceMs ? { keeperSilenceMs: o.keeperSilenceMs } : {}),
    ...(o.proxySilenceMs ? { proxySilenceMs: o.proxySilenceMs } : {}),
    memory: deepFreeze({ ...freshMemory(), ...o.memory }),
    now: o.now ?? NOW,
    wallNow: o.wallNow ?? WALL,
    sentinelUID: "s1",
    newUid: () => `new${++n}`,
  });
}

const notes = (r: { notes: string[] }) => r.notes.join("\n");

/** The keepers caught up: every DB reports the generation it was asked for. */
function converge(cd: ClusterData): ClusterData {
  const c = structuredClone(cd);
  for (const d of Object.values(c.dbs)) d.status.currentGeneration = d.generation;
  return deepFreeze(c);
}

/** Master m on k1 with standby s on k2, both good, proxies routed. */
const steady = (o: { spec?: ClusterSpec; master?: DbOpts; standby?: DbOpts; keepers?: string[] } = {}) =>
  cluster({
    spec: o.spec,
    keepers: o.keepers ?? ["k1", "k2"],
    master: "m",
    proxy: { masterDbUid: "m", gen: 3 },
    dbs: [db("m", "k1", { role: "master", followers: ["s"], xlog: 2000, ...o.master }), db("s", "k2", { xlog: 1900, ...o.standby })],
  });

describe("initializing (initMode new)", () => {
  test("#0 no keepers: waits and says so", () => {
    const r = run(cluster({ phase: "initializing", keepers: [] }));
    expect(r.change).toBe("none");
    expect(notes(r)).toContain("no healthy keeper that can be master yet");
  });

  test("#1 one keeper: it gets the first master db", () => {
    const r = run(cluster({ phase: "initializing", keepers: ["k1"] }));
    expect(r.clusterData.cluster.status.master).toBe("new1");
    expect(r.clusterData.dbs.new1!.spec).toMatchObject({ keeperUID: "k1", initMode: "new", role: "master", includePreviousConfig: true });
    expect(r.clusterData.dbs.new1!.generation).toBe(1);
    expect(r.change).toBe("decision");
    expect(r.clusterData.lastDecision).toMatchObject({ sentinelUID: "s1", notes: [expect.stringContaining("db new1 on keeper k1 will be the first master")] });
  });

  test("#2 several keepers: the first healthy one that can be master, deterministically", () => {
    const cd = cluster({ phase: "initializing", keepers: ["k3", "k1", "k2"], unhealthyKeepers: [] });
    const infos = infosFor(cd, { k1: { canBeMaster: false } });
    expect(run(cd, { infos }).clusterData.dbs.new1!.spec.keeperUID).toBe("k2");
  });

  test("#3 the first master converged: phase normal, initMode none, initdb parameters merged into the spec", () => {
    const m = db("m", "k1", { role: "master", initMode: "new", xlog: 100 });
    m.status.pgParameters = { max_connections: "100" };
    const cd = cluster({ phase: "initializing", keepers: ["k1"], master: "m", dbs: [m] });
    const r = run(cd);
    expect(r.clusterData.cluster.status.phase).toBe("normal");
    expect(r.clusterData.dbs.m!.spec.initMode).toBe("none");
    expect(r.clusterData.cluster.spec.pgParameters).toEqual({ max_connections: "100" });
    expect(r.clusterData.dbs.m!.spec.pgParameters).toEqual({ max_connections: "100" });
    expect(r.clusterData.dbs.m!.generation).toBe(2);
  });

  test("#4 init not converged within initTimeout: start over on another keeper", () => {
    const cd = cluster({ phase: "initializing", keepers: ["k1", "k2"], master: "m", spec: { initTimeout: "1m" }, dbs: [db("m", "k1", { role: "master", initMode: "new", curGen: 0 })] });
    const r = run(cd, { memory: { fresh: false, dbConvergence: { m: { generation: 1, since: NOW - 61_000 } } } });
    expect(r.clusterData.dbs).toEqual({});
    expect(r.clusterData.cluster.status.master).toBeUndefined();
    expect(notes(r)).toContain("did not initialize within initTimeout 1m");
    const again = run(r.clusterData, { memory: r.memory });
    expect(again.clusterData.dbs.new1!.spec.keeperUID).toBe("k2");
  });

  test("still initializing within initTimeout: nothing changes", () => {
    const cd = cluster({ phase: "initializing", keepers: ["k1"], master: "m", dbs: [db("m", "k1", { role: "master", initMode: "new", curGen: 0 })] });
    expect(run(cd, { memory: { fresh: false, dbConvergence: { m: { generation: 1, since: NOW - 1000 } } } }).change).toBe("none");
  });

  test("initMode existing uses the named keeper (pitr: see pitr-init.test.ts)", () => {
    const ex = run(cluster({ phase: "initializing", spec: { initMode: "existing", existingConfig: { keeperUID: "k2" } } }));
    expect(ex.clusterData.dbs.new1!.spec).toMatchObject({ keeperUID: "k2", initMode: "existing" });
    const missing = run(cluster({ phase: "initializing", spec: { initMode: "existing", existingConfig: { keeperUID: "k9" } } }));
    expect(notes(missing)).toContain("keeper k9 is not known yet");
  });
});

describe("normal phase: steady state and standbys", () => {
  test("#5 steady state: nothing to write", () => {
    const r = run(steady(), { memory: { fresh: false } });
    expect(r.change).toBe("none");
    expect(r.notes).toEqual([]);
  });

  test("only reported figures changed: a status change, not a decision", () => {
    const cd = steady();
    const infos = infosFor(cd, { k1: { xLogPos: 5000 } });
    const r = run(cd, { infos });
    expect(r.change).toBe("status");
    expect(r.clusterData.dbs.m!.status.xLogPos).toBe(5000);
    expect(r.clusterData.lastDecision).toBeUndefined();
  });

  test("#10 a free keeper gets a new standby db following the master", () => {
    const cd = cluster({ keepers: ["k1", "k2"], master: "m", proxy: { masterDbUid: "m" }, dbs: [db("m", "k1", { role: "master" })] });
    const r = run(cd);
    expect(r.clusterData.dbs.new1!.spec).toMatchObject({ keeperUID: "k2", initMode: "resync", role: "standby", followConfig: { type: "internal", dbuid: "m" } });
    expect(r.clusterData.dbs.m!.spec.followers).toEqual(["new1"]);
    expect(r.clusterData.dbs.m!.generation).toBe(2);
    expect(notes(r)).toContain("new standby db new1 on free keeper k2");
  });

  test("#11 no free keeper: nothing", () => {
    const cd = cluster({ keepers: ["k1"], master: "m", proxy: { masterDbUid: "m" }, dbs: [db("m", "k1", { role: "master" })] });
    expect(run(cd, { memory: { fresh: false } }).change).toBe("none");
  });

  test("#12 a standby that fails to converge is replaced on a free keeper, then removed", () => {
    const cd = cluster({
      keepers: ["k1", "k2", "k3"],
      master: "m",
      proxy: { masterDbUid: "m" },
      dbs: [db("m", "k1", { role: "master", followers: ["s"] }), db("s", "k2", { initMode: "resync", gen: 2, curGen: 1 })],
    });
    const r = run(cd, { memory: { fresh: false, dbConvergence: { s: { generation: 2, since: NOW - 31_000 } } } });
    expect(r.clusterData.dbs.new1!.spec.keeperUID).toBe("k3");
    expect(notes(r)).toContain("replacing failed db s (keeper k2)");
    // Once the new one is good, the failed one goes (maxStandbysPerSender 1).
    const later = structuredClone(r.clusterData);
    later.dbs.new1!.status = { ...db("x", "k3").status, currentGeneration: later.dbs.new1!.generation };
    later.dbs.m!.status.currentGeneration = later.dbs.m!.generation;
    const r2 = run(deepFreeze(later), { memory: { ...r.memory } });
    expect(Object.keys(r2.clusterData.dbs).sort()).toEqual(["m", "new1"]);
    expect(notes(r2)).toContain("db s (keeper k2) removed");
  });

  test("lowered maxStandbysPerSender: the standby furthest behind is removed", () => {
    const cd = cluster({
      master: "m",
      proxy: { masterDbUid: "m" },
      dbs: [db("m", "k1", { role: "master", followers: ["a", "b"] }), db("a", "k2", { xlog: 900 }), db("b", "k3", { xlog: 950 })],
    });
    const r = run(cd);
    expect(Object.keys(r.clusterData.dbs).sort()).toEqual(["b", "m"]);
    expect(r.clusterData.dbs.m!.spec.followers).toEqual(["b"]);
  });

  test("#13 dead keeper removal: only unhealthy keepers without a db, after deadKeeperRemovalInterval", () => {
    const cd = cluster({ keepers: ["k1", "k2", "k3"], master: "m", proxy: { masterDbUid: "m" }, spec: { deadKeeperRemovalInterval: "1h" }, dbs: [db("m", "k1", { role: "master", followers: ["s"] }), db("s", "k2")] });
    const infos = infosFor(cd, { k3: { missing: true } });
    const soon = run(cd, { infos, wallNow: WALL + 30 * 60_000 });
    expect(soon.clusterData.keepers.k3).toBeDefined();
    const late = run(cd, { infos, wallNow: WALL + 61 * 60_000 });
    expect(late.clusterData.keepers.k3).toBeUndefined();
    expect(notes(late)).toContain("keeper k3 removed");
    // A dead keeper that still has a db stays.
    const withDb = run(cd, { infos: infosFor(cd, { k2: { missing: true }, k3: { missing: true } }), wallNow: WALL + 61 * 60_000 });
    expect(withDb.clusterData.keepers.k2).toBeDefined();
  });

  test("#14 spec parameters reach every db and bump its generation", () => {
    const cd = steady({ spec: { pgParameters: { work_mem: "8MB" }, pgHBA: ["host all all 10.0.0.0/8 md5"], usePgrewind: true } });
    const r = run(cd);
    for (const uid of ["m", "s"]) {
      expect(r.clusterData.dbs[uid]!.spec).toMatchObject({ pgParameters: { work_mem: "8MB" }, pgHBA: ["host all all 10.0.0.0/8 md5"], usePgrewind: true });
      expect(r.clusterData.dbs[uid]!.generation).toBe(2);
    }
  });

  test("additional replication slots go to the master only", () => {
    const r = run(steady({ spec: { additionalMasterReplicationSlots: ["backup"] } }));
    expect(r.clusterData.dbs.m!.spec.additionalReplicationSlots).toEqual(["backup"]);
    expect(r.clusterData.dbs.s!.spec.additionalReplicationSlots).toEqual([]);
  });

  test("a standby on a diverged timeline branch is removed only once that lasts (a rewound standby catches up first)", () => {
    const cd = steady({ master: { tl: 2 }, standby: { tl: 1, xlog: 1500 } });
    const forked = structuredClone(cd) as ClusterData;
    forked.dbs.m!.status.timelinesHistory = [{ timelineID: 1, switchPoint: 1200, reason: "" }];
    const c = deepFreeze(forked);
    const first = run(c, { memory: { fresh: false } });
    expect(first.clusterData.dbs.s).toBeDefined();
    const later = run(c, { memory: first.memory, now: NOW + 5000 });
    expect(later.clusterData.dbs.s).toBeUndefined();
    expect(notes(later)).toContain("diverged");
  });

  test("a db on another database system is removed; the keeper then gets a new one", () => {
    const r = run(steady({ standby: { sys: "other" } }));
    expect(r.clusterData.dbs.s).toBeUndefined();
    expect(r.clusterData.dbs.new1!.spec.keeperUID).toBe("k2");
    expect(notes(r)).toContain("diverged");
  });

  test("a standby that needs WAL the master no longer has gets a new db", () => {
    const cd = steady({ master: { olderWal: "000000010000000000000005", xlog: 6 * 16 * MiB }, standby: { gen: 2, xlog: 2 * 16 * MiB } });
    const r = run(cd, { memory: { fresh: false, dbXlog: { s: { xlogpos: 2 * 16 * MiB, count: 11 } } } });
    expect(r.clusterData.dbs.s).toBeUndefined();
    expect(notes(r)).toContain("needs WAL the master no longer has");
  });
});

describe("health", () => {
  test("lease expiry: a keeper whose info key is gone is failed at once, and its master replaced in the same tick", () => {
    const cd = steady();
    const r = run(cd, { infos: infosFor(cd, { k1: { missing: true } }), memory: { fresh: false } });
    expect(r.clusterData.keepers.k1!.status.healthy).toBe(false);
    expect(r.clusterData.cluster.status.master).toBe("s");
    expect(notes(r)).toContain("keeper k1 is unhealthy: its info key expired");
  });

  test("a silent master whose standbys lost their replication connection is failed at once", () => {
    const cd = steady();
    const mem = (standbySince: number) => ({ fresh: false, keeperHistories: { k1: { infoUID: "i-k1", since: NOW - 2000 }, k2: { infoUID: "i-k2", since: standbySince } } });
    const lost = run(cd, { infos: infosFor(cd, { k2: { receivingWal: false } }), memory: mem(NOW) });
    expect(lost.clusterData.cluster.status.master).toBe("s");
    expect(notes(lost)).toContain("keeper k1 is unhealthy: silent for 2.0s and its standbys (k2) lost their replication connection to it");
    // It stays failed while its info does not change, and recovers when it reports again.
    const again = run(lost.clusterData, { infos: infosFor(cd, { k2: { receivingWal: false } }), memory: lost.memory });
    expect(again.clusterData.keepers.k1!.status.healthy).toBe(false);
    const back = run(again.clusterData, { infos: infosFor(cd, { k1: { infoUID: "i-k1-new" } }), memory: again.memory });
    expect(back.clusterData.keepers.k1!.status.healthy).toBe(true);
    // Standbys still streaming, a standby that has not reported since, or a short silence: no.
    expect(run(cd, { infos: infosFor(cd, { k2: { receivingWal: true } }), memory: mem(NOW) }).clusterData.cluster.status.master).toBe("m");
    expect(run(cd, { infos: infosFor(cd, { k2: { receivingWal: false } }), memory: mem(NOW - 3000) }).clusterData.cluster.status.master).toBe("m");
    const short = { fresh: false, keeperHistories: { k1: { infoUID: "i-k1", since: NOW - 900 }, k2: { infoUID: "i-k2", since: NOW } } };
    expect(run(cd, { infos: infosFor(cd, { k2: { receivingWal: false } }), memory: short }).clusterData.cluster.status.master).toBe("m");
  });

  // Keepers write their info only when it changes: what says they are alive is their lease, read
  // each tick (Store.leaseSilenceMs, whole seconds). A reading replaces the infoUID's age.
  const lostInfos = () => infosFor(steady(), { k2: { receivingWal: false } });
  const longIdle = { fresh: false, keeperHistories: { k1: { infoUID: "i-k1", since: NOW - 60_000 }, k2: { infoUID: "i-k2", since: NOW - 60_000 } } };
  const silentCases: [string, Record<string, number>, Partial<SentinelMemory>, "m" | "s", number | null][] = [
    ["an info unchanged for a minute, its lease renewed: alive, and the standby's loss is read again soon", { k1: 0, k2: 0 }, longIdle, "m", SILENCE_POLL_MS],
    ["the master's lease not renewed for a whole second, the standby's renewed: failed over", { k1: 1000, k2: 0 }, longIdle, "s", null],
    ["the master's lease not renewed for two seconds, the standby's for one: still a witness", { k1: 2000, k2: 1000 }, longIdle, "s", null],
    ["the standby silent longer than the master: no witness", { k1: 1000, k2: 2000 }, longIdle, "m", null],
    ["a fresh new leader: the reading alone decides", { k1: 1000, k2: 0 }, { fresh: true }, "s", null],
  ];
  test.each(silentCases)("silent master from the lease: %s", (_name, keeperSilenceMs, memory, master, recheck) => {
    const r = run(steady(), { infos: lostInfos(), memory, keeperSilenceMs });
    expect({ master: r.clusterData.cluster.status.master, recheck: r.recheckInMs }).toEqual({ master, recheck });
  });

  test("a master failed by its lease's silence stays failed until the lease reads renewed again", () => {
    const lost = run(steady(), { infos: lostInfos(), memory: longIdle, keeperSilenceMs: { k1: 1000, k2: 0 } });
    expect(notes(lost)).toContain("keeper k1 is unhealthy: silent for 1.0s and its standbys (k2) lost their replication connection to it");
    const still = run(lost.clusterData, { infos: lostInfos(), memory: lost.memory, keeperSilenceMs: { k1: 1000, k2: 0 }, now: NOW + 500 });
    expect(still.clusterData.keepers.k1!.status.healthy).toBe(false);
    const back = run(still.clusterData, { infos: lostInfos(), memory: still.memory, keeperSilenceMs: { k1: 0, k2: 0 }, now: NOW + 1000 });
    expect(back.clusterData.keepers.k1!.status.healthy).toBe(true);
  });

  test("a proxy is known alive from its lease's reading, else from its infoUID", () => {
    // The reading, not the infoUID (unchanged for a minute), decides.
    const proxies = { p1: { infoUID: "ip1", UID: "p1", Generation: 0, ProxyTimeout: 2000 * 1e6 } } as Record<string, ProxyInfo>;
    const mem = { fresh: false, proxyHistories: { p1: { infoUID: "ip1", since: NOW - 60_000 } } };
    const since = (proxySilenceMs?: Record<string, number>) => run(steady(), { proxies, memory: mem, ...(proxySilenceMs ? { proxySilenceMs } : {}) }).memory.proxyHistories.p1?.since;
    expect(since({ p1: 0 })).toBe(NOW);
    expect(since({ p1: 3000 })).toBe(NOW - 3000);
    // No reading (a store without leases): the infoUID's age, as before.
    expect(since()).toBe(NOW - 60_000);
  });

  test("stale info is tolerated for failInterval, then the keeper is unhealthy", () => {
    const cd = steady();
    const mem = { fresh: false, keeperHistories: { k1: { infoUID: "i-k1", since: NOW - 3000 }, k2: { infoUID: "i-k2", since: NOW } } };
    const r1 = run(cd, { memory: mem });
    expect(r1.clusterData.keepers.k1!.status.healthy).toBe(true);
    expect(r1.memory.keeperErrorSince.k1).toBe(NOW);
    const r2 = run(r1.clusterData, { memory: { ...r1.memory, keeperHistories: { ...r1.memory.keeperHistories, k2: { infoUID: "i-k2", since: NOW + 6000 } } }, now: NOW + 6000 });
    expect(r2.clusterData.keepers.k1!.status.healthy).toBe(false);
    expect(notes(r2)).toContain("it has not renewed its lease (or changed its info)");
  });

  test("a live keeper with a briefly unhealthy postgres is tolerated for failInterval", () => {
    const cd = steady();
    const infos = infosFor(cd, { k1: { healthy: false } });
    const r1 = run(cd, { infos, memory: { fresh: false } });
    expect(r1.clusterData.dbs.m!.status.healthy).toBe(true);
    expect(r1.clusterData.cluster.status.master).toBe("m");
    const r2 = run(r1.clusterData, { infos, memory: { ...r1.memory, keeperHistories: {} }, now: NOW + 5001 });
    expect(r2.clusterData.dbs.m!.status.healthy).toBe(false);
    expect(r2.clusterData.cluster.status.master).toBe("s");
  });

  test("forceFail fails the keeper for one pass and is reset", () => {
    const cd = structuredClone(steady()) as ClusterData;
    cd.keepers.k1!.status.forceFail = true;
    const r = run(deepFreeze(cd));
    expect(r.clusterData.keepers.k1!.status).toMatchObject({ healthy: false, forceFail: false });
    expect(r.clusterData.cluster.status.master).toBe("s");
    expect(notes(r)).toContain("failkeeper");
  });

  test("a new leader trusts a present info key: no keeper is failed on its first tick", () => {
    const r = run(steady());
    expect(Object.values(r.clusterData.keepers).map((k) => k.status.healthy)).toEqual([true, true]);
  });

  test("infos of another cluster are ignored", () => {
    const cd = steady();
    const infos = { ...infosFor(cd), k1: { ...infosFor(cd).k1!, clusterUID: "other" } };
    expect(run(cd, { infos: deepFreeze(infos) }).clusterData.keepers.k1!.status.healthy).toBe(false);
  });
});

describe("failover", () => {
  const failed = (cd: ClusterData, extra: Parameters<typeof infosFor>[1] = {}) => run(cd, { infos: infosFor(cd, { k1: { missing: true }, ...extra }), memory: { fresh: false } });

  test("#6 master unhealthy: the standby is elected, the proxy barrier starts", () => {
    const r = failed(steady());
    const cd = r.clusterData;
    expect(cd.cluster.status.master).toBe("s");
    expect(cd.dbs.s!.spec).toMatchObject({ role: "master", followConfig: null });
    expect(cd.dbs.s!.generation).toBe(2);
    expect(cd.dbs.m!.spec.followers).toEqual([]);
    expect(cd.dbs.m!.spec.role).toBe("master");
    expect(cd.proxy.spec.masterDbUid).toBeUndefined();
    expect(cd.proxy.generation).toBe(4);
    expect(notes(r)).toContain("electing db s (keeper k2)");
  });

  test("#7 the new master converged: the old master's db is removed, proxies route to the new one", () => {
    const cd = cluster({
      keepers: ["k1", "k2"],
      master: "s",
      proxy: { gen: 4 },
      unhealthyKeepers: ["k1"],
      dbs: [db("m", "k1", { role: "master" }), db("s", "k2", { role: "master", gen: 2 })],
    });
    const r = run(cd, { infos: infosFor(cd, { k1: { missing: true } }), proxies: { p1: proxy("p1", 4) } });
    expect(Object.keys(r.clusterData.dbs)).toEqual(["s"]);
    expect(r.clusterData.proxy.spec).toEqual({ masterDbUid: "s", enabledProxies: ["p1"] });
    expect(r.clusterData.proxy.generation).toBe(5);
  });

  test("the barrier waits for every active proxy to acknowledge, and for the new master to converge", () => {
    const base = { keepers: ["k1", "k2"], master: "s", proxy: { gen: 4 }, unhealthyKeepers: ["k1"] } as const;
    const converging = cluster({ ...base, dbs: [db("m", "k1", { role: "master" }), db("s", "k2", { role: "master", gen: 2, curGen: 1 })] });
    const wait1 = run(converging, { infos: infosFor(converging, { k1: { missing: true } }), proxies: { p1: proxy("p1", 4) } });
    expect(wait1.clusterData.proxy.spec.masterDbUid).toBeUndefined();
    expect(notes(wait1)).toContain("waiting for master db s (keeper k2) to converge");
    const ok = cluster({ ...base, dbs: [db("m", "k1", { role: "master" }), db("s", "k2", { role: "master", gen: 2 })] });
    const wait2 = run(ok, { infos: infosFor(ok, { k1: { missing: true } }), proxies: { p1: proxy("p1", 4), p2: proxy("p2", 3) } });
    expect(wait2.clusterData.proxy.spec.masterDbUid).toBeUndefined();
    expect(notes(wait2)).toContain("waiting for proxies p2 to acknowledge proxy generation 4");
  });

  test("proxies routed to a db that is not the master are told to stop first", () => {
    const cd = cluster({ keepers: ["k1", "k2"], master: "s", proxy: { masterDbUid: "m", gen: 7 }, dbs: [db("s", "k2", { role: "master" })] });
    const r = run(cd, { proxies: { p1: proxy("p1", 7) } });
    expect(r.clusterData.proxy.spec.masterDbUid).toBeUndefined();
    expect(r.clusterData.proxy.generation).toBe(8);
  });

  test("#8 a converging standby is not elected; no candidate means no change, with the reason", () => {
    const r = failed(steady({ standby: { gen: 2, curGen: 1 } }));
    expect(r.clusterData.cluster.status.master).toBe("m");
    expect(notes(r)).toContain("keeper k2 (db s) excluded: still converging");
    expect(notes(r)).toContain("no standby can replace it");
  });

  test("#9 a master that does not converge within convergenceTimeout is replaced", () => {
    const cd = steady({ master: { gen: 3, curGen: 2 } });
    const r = run(cd, { memory: { fresh: false, dbConvergence: { m: { generation: 3, since: NOW - 31_000 } } } });
    expect(r.clusterData.cluster.status.master).toBe("s");
    expect(notes(r)).toContain("did not converge within convergenceTimeout 30s");
  });

  test("the standby with the HIGHEST xlogpos wins; ties go to the lowest keeper uid", () => {
    const mk = (xa: number, xb: number) =>
      cluster({
        master: "m",
        proxy: { masterDbUid: "m" },
        spec: { maxStandbysPerSender: 2 },
        dbs: [db("m", "k1", { role: "master", followers: ["a", "b"], xlog: 5000 }), db("a", "k3", { xlog: xa }), db("b", "k2", { xlog: xb })],
      });
    expect(failed(mk(4000, 4900)).clusterData.cluster.status.master).toBe("b");
    expect(failed(mk(4900, 4000)).clusterData.cluster.status.master).toBe("a");
    expect(failed(mk(4500, 4500)).clusterData.cluster.status.master).toBe("b"); // k2 < k3
  });

  test("a standby lagging more than maxStandbyLag is excluded, with the figures", () => {
    const r = failed(steady({ master: { xlog: 10 * MiB }, standby: { xlog: 5 * MiB } }));
    expect(r.clusterData.cluster.status.master).toBe("m");
    expect(notes(r)).toContain("keeper k2 (db s) excluded: lag 5.0 MiB > maxStandbyLag 1.0 MiB");
  });

  test("--can-be-master=false and another timeline are excluded", () => {
    const cd = steady();
    expect(notes(failed(cd, { k2: { canBeMaster: false } }))).toContain("excluded: --can-be-master=false");
    const other = steady({ standby: { tl: 2 } });
    expect(notes(failed(other))).toContain("excluded: on another database system or timeline branch");
  });

  test("sync mode: only a standby known to be in sync can be elected", () => {
    const notInSync = steady({ spec: { synchronousReplication: true }, master: { syncRepl: true, sync: ["s"], syncStatus: [] } });
    const r = failed(notInSync);
    expect(r.clusterData.cluster.status.master).toBe("m");
    expect(notes(r)).toContain("not known to be in sync");
    const inSync = steady({ spec: { synchronousReplication: true }, master: { syncRepl: true, sync: ["s"], syncStatus: ["s"], xlog: 10 * MiB }, standby: { xlog: 1 } });
    const r2 = failed(inSync);
    expect(r2.clusterData.cluster.status.master).toBe("s");
    // Synchronous from its first configuration, waiting for the old master's slot in the list.
    expect(r2.clusterData.dbs.s!.spec).toMatchObject({ synchronousReplication: true, synchronousStandbys: ["m"] });
  });

  test("#16 failover right after enabling sync, with no sync standby yet: the fake standby is named", () => {
    const cd = steady({ spec: { synchronousReplication: true }, master: { syncRepl: true, sync: [], syncStatus: [] } });
    const mem = { fresh: false };
    // The standby is not known in sync, so no election happens.
    expect(run(cd, { infos: infosFor(cd, { k1: { missing: true } }), memory: mem }).clusterData.cluster.status.master).toBe("m");
  });
});

describe("synchronous standbys", () => {
  const sync = (o: { master?: DbOpts; extraDbs?: DB[]; spec?: ClusterSpec; keepers?: string[] } = {}) =>
    cluster({
      keepers: o.keepers ?? ["k1", "k2", "k3"],
      master: "m",
      proxy: { masterDbUid: "m" },
      spec: { synchronousReplication: true, maxStandbysPerSender: 2, ...o.spec },
      dbs: [db("m", "k1", { role: "master", followers: ["a", "b"], syncRepl: true, ...o.master }), db("a", "k2", { xlog: 900 }), db("b", "k3", { xlog: 950 }), ...(o.extraDbs ?? [])],
    });

  test("#17 enabling: the best standby becomes the sync standby; status waits for it", () => {
    const cd = steady({ spec: { synchronousReplication: true } });
    const r = run(cd);
    expect(r.clusterData.dbs.m!.spec).toMatchObject({ synchronousReplication: true, synchronousStandbys: ["s"], externalSynchronousStandbys: [] });
    expect(r.clusterData.dbs.m!.status.synchronousStandbys).toEqual([]);
  });

  test("#18 the reported in-sync standby enters the status", () => {
    const cd = sync({ master: { sync: ["b"], syncStatus: [] } });
    const r = run(cd, { infos: infosFor(cd, { k1: { sync: ["b"] } }) });
    expect(r.clusterData.dbs.m!.status.synchronousStandbys).toEqual(["b"]);
    expect(r.clusterData.dbs.m!.spec.synchronousStandbys).toEqual(["b"]);
  });

  test("#19-#24 a failed sync standby is replaced add-before-remove, never leaving the master with none named", () => {
    const cd = sync({ master: { sync: ["b"], syncStatus: ["b"] } });
    const infos = infosFor(cd, { k3: { missing: true } });
    const r1 = run(cd, { infos, memory: { fresh: false } });
    // Step 1: the replacement is added next to the failed one.
    expect(r1.clusterData.dbs.m!.spec.synchronousStandbys).toEqual(["a", "b"]);
    expect(r1.clusterData.dbs.m!.status.synchronousStandbys).toEqual(["b"]);
    // Step 2: while a is not in sync, nothing more changes.
    const c2 = converge(r1.clusterData);
    const r2 = run(c2, { infos: infosFor(c2, { k3: { missing: true } }), memory: r1.memory });
    expect(r2.clusterData.dbs.m!.spec.synchronousStandbys).toEqual(["a", "b"]);
    expect(notes(r2)).toContain("waiting for synchronous standbys a to be in sync");
    // Step 3: a reported in sync: the failed one is dropped.
    const c3 = converge(r2.clusterData);
    const r3 = run(c3, { infos: infosFor(c3, { k3: { missing: true }, k1: { sync: ["a"] } }), memory: r2.memory });
    expect(r3.clusterData.dbs.m!.spec.synchronousStandbys).toEqual(["a"]);
    expect(r3.clusterData.dbs.m!.status.synchronousStandbys).toEqual(["a"]);
  });

  test("#25 min = max = 2: both standbys, sorted", () => {
    const cd = sync({ spec: { minSynchronousStandbys: 2, maxSynchronousStandbys: 2 } });
    expect(run(cd).clusterData.dbs.m!.spec.synchronousStandbys).toEqual(["a", "b"]);
  });

  test("#26 --can-be-synchronous-replica=false is honoured", () => {
    const cd = sync();
    expect(run(cd, { infos: infosFor(cd, { k3: { canBeSync: false } }) }).clusterData.dbs.m!.spec.synchronousStandbys).toEqual(["a"]);
  });

  test("#27 fewer good standbys than min: the fake standby fills in", () => {
    const cd = cluster({ keepers: ["k1"], master: "m", proxy: { masterDbUid: "m" }, spec: { synchronousReplication: true }, dbs: [db("m", "k1", { role: "master", syncRepl: true })] });
    expect(run(cd).clusterData.dbs.m!.spec).toMatchObject({ synchronousStandbys: [], externalSynchronousStandbys: ["stolonfakestandby"] });
  });

  test("#28-#31 min = 0: no fake standby, and a failed sync standby is simply removed", () => {
    const lone = cluster({ keepers: ["k1"], master: "m", proxy: { masterDbUid: "m" }, spec: { synchronousReplication: true, minSynchronousStandbys: 0 }, dbs: [db("m", "k1", { role: "master", syncRepl: true })] });
    expect(run(lone).clusterData.dbs.m!.spec.externalSynchronousStandbys).toEqual([]);
    const cd = sync({ spec: { minSynchronousStandbys: 0 }, keepers: ["k1", "k2", "k3"], master: { sync: ["b"], syncStatus: ["b"] } });
    const r = run(cd, { infos: infosFor(cd, { k3: { missing: true }, k2: { canBeSync: false } }), memory: { fresh: false } });
    expect(r.clusterData.dbs.m!.spec).toMatchObject({ synchronousStandbys: [], externalSynchronousStandbys: [] });
  });

  test("disabling sync clears the lists", () => {
    const cd = sync({ spec: { synchronousReplication: false }, master: { sync: ["b"], syncStatus: ["b"] } });
    expect(run(cd).clusterData.dbs.m!.spec).toMatchObject({ synchronousReplication: false, synchronousStandbys: [], externalSynchronousStandbys: [] });
  });
});

describe("proxies", () => {
  test.each([
    [14_000, ["p1"]],
    [15_900, ["p1"]],
    [16_100, []],
  ])("a new proxy is enabled; silent for %d ms (proxyTimeout 15 s + 1 s margin) it is enabled: %p", (silentMs, want) => {
    const cd = steady();
    const r = run(cd, { proxies: { p1: proxy("p1", 3) }, memory: { fresh: false } });
    expect(r.clusterData.proxy.spec.enabledProxies).toEqual(["p1"]);
    expect(r.clusterData.proxy.generation).toBe(4);
    const later = run(r.clusterData, { proxies: { p1: proxy("p1", 4) }, memory: r.memory, now: NOW + silentMs });
    expect(later.clusterData.proxy.spec.enabledProxies).toEqual(want);
  });
});

describe("helpers", () => {
  test.each([
    [0, "0000000000000000"],
    [16 * MiB * 3 + 5, "0000000000000003"],
    [2 ** 32 + 16 * MiB, "0000000100000001"],
  ])("walSegmentName(%d)", (pos, want) => {
    expect(walSegmentName(pos)).toBe(want);
  });

  test("isDifferentTimelineBranch", () => {
    const f = (tl: number, hist: [number, number][], xlog = 0) => {
      const d = db("x", "k");
      d.status.timelineID = tl;
      d.status.xLogPos = xlog;
      d.status.timelinesHistory = hist.map(([timelineID, switchPoint]) => ({ timelineID, switchPoint, reason: "" }));
      return d;
    };
    expect(isDifferentTimelineBranch(f(1, []), f(2, [[1, 100]]))).toBe(true); // followed behind
    expect(isDifferentTimelineBranch(f(2, [[1, 100]]), f(2, [[1, 100]]))).toBe(false);
    expect(isDifferentTimelineBranch(f(2, [[1, 100]]), f(2, [[1, 200]]))).toBe(true); // forked elsewhere
    expect(isDifferentTimelineBranch(f(2, [[1, 100]]), f(1, [], 90))).toBe(false); // can follow the switch
    expect(isDifferentTimelineBranch(f(2, [[1, 100]]), f(1, [], 150))).toBe(true); // wrote past the switch
  });

  test("generations: bumped only for a changed spec", () => {
    const r = run(steady(), { memory: { fresh: false } });
    expect(r.clusterData.dbs.m!.generation).toBe(1);
    expect(r.clusterData.dbs.s!.generation).toBe(1);
  });
});

describe("hostile or broken etcd contents (issue 13)", () => {
  // Master m on k1 is dead (no info). Standbys s2 on k2 and s3 on k3 are good; s3 is ahead, so
  // with a sound info k3 would be elected. Timeline 2 with a history, so the branch check reads it.
  const history = [{ timelineID: 1, switchPoint: 100, reason: "no recovery target specified" }];
  const base = () => {
    const dbs = [
      db("m", "k1", { role: "master", followers: ["s2", "s3"], xlog: 2000, tl: 2 }),
      db("s2", "k2", { follow: "m", xlog: 1900, tl: 2 }),
      db("s3", "k3", { follow: "m", xlog: 1950, tl: 2 }),
    ];
    for (const d of dbs) d.status.timelinesHistory = history;
    return cluster({ keepers: ["k1", "k2", "k3"], master: "m", proxy: { masterDbUid: "m", gen: 3 }, dbs });
  };
  const sound = infosFor(base(), { k1: { missing: true } });

  /** k3's info with `patch` merged into its postgresState (or the whole info replaced). */
  const k3With = (patch: Record<string, unknown> | { whole: unknown }): Record<string, KeeperInfo> => {
    const k3 = sound.k3!;
    const info = "whole" in patch ? patch.whole : { ...k3, postgresState: { ...k3.postgresState, ...patch } };
    return { k2: sound.k2!, k3: info as KeeperInfo };
  };
  const huge = "x".repeat(1024 * 1024);

  const cases: [string, Record<string, KeeperInfo>, string][] = [
    ['timelinesHistory "garbage"', k3With({ timelinesHistory: "garbage" }), "postgresState.timelinesHistory: must be a list"],
    ["timelinesHistory entries of the wrong shape", k3With({ timelinesHistory: [{ timelineID: "1", switchPoint: -5 }] }), "postgresState.timelinesHistory[0].timelineID"],
    ["a timelinesHistory of 20000 entries", k3With({ timelinesHistory: Array.from({ length: 20_000 }, (_, i) => ({ timelineID: i, switchPoint: i, reason: "" })) }), "more than 10000 entries"],
    ["a non-numeric xLogPos", k3With({ xLogPos: "999999999999" }), "postgresState.xLogPos: must be an integer"],
    ["a negative xLogPos", k3With({ xLogPos: -1 }), "postgresState.xLogPos"],
    ["a NaN xLogPos", k3With({ xLogPos: NaN }), "postgresState.xLogPos"],
    ["an infinite xLogPos", k3With({ xLogPos: Infinity }), "postgresState.xLogPos"],
    ["a huge xLogPos (2^60)", k3With({ xLogPos: 2 ** 60 }), "postgresState.xLogPos"],
    ["a fractional xLogPos", k3With({ xLogPos: 1999.5 }), "postgresState.xLogPos"],
    ["a string timelineID", k3With({ timelineID: "2" }), "postgresState.timelineID"],
    ["healthy as a string", k3With({ healthy: "yes" }), "postgresState.healthy: must be true or false"],
    ["a port out of range", k3With({ port: "99999" }), "postgresState.port"],
    ["a 1 MiB listenAddress", k3With({ listenAddress: huge }), "postgresState.listenAddress: longer than 1024"],
    ["pgParameters with a number value", k3With({ pgParameters: { work_mem: 5 } }), "postgresState.pgParameters.work_mem: must be a string"],
    ["synchronousStandbys of objects", k3With({ synchronousStandbys: [{}] }), "postgresState.synchronousStandbys[0]"],
    ["postgresState a string", k3With({ whole: { ...sound.k3, postgresState: "garbage" } }), "postgresState: must be an object"],
    ["a numeric infoUID", k3With({ whole: { ...sound.k3, infoUID: 5 } }), "infoUID: must be a string"],
    ["no clusterUID", k3With({ whole: { ...sound.k3, clusterUID: undefined } }), "clusterUID: required"],
    ["a uid that is not its key", k3With({ whole: { ...sound.k3, uid: "k2" } }), "does not match the uid it is stored under"],
    ["a string", k3With({ whole: "garbage" }), "must be an object"],
    ["an array", k3With({ whole: [1, 2] }), "must be an object"],
    ["null", k3With({ whole: null }), "must be an object"],
  ];
  test.each(cases)("a keeper info with %s is ignored and named; the sound standby is elected", (_n, infos, problem) => {
    let r: ReturnType<typeof run> | undefined;
    expect(() => (r = run(base(), { infos, memory: { fresh: false } }))).not.toThrow();
    const cd = r!.clusterData;
    expect(notes(r!)).toContain(`keeper info "k3" ignored (treated as absent): `);
    expect(notes(r!)).toContain(problem);
    expect(notes(r!)).toContain("keeper k3 (db s3) excluded: its keeper's info is invalid");
    // Not destructive: the sound standby wins; nothing is removed while the new master converges.
    expect(cd.cluster.status.master).toBe("s2");
    expect(Object.keys(cd.dbs).sort()).toEqual(["m", "s2", "s3"]);
    expect(cd.dbs.s3!.spec.role).toBe("standby");
    // The bad figures never reach the cluster data.
    expect(cd.dbs.s3!.status.xLogPos).toBe(1950);
    expect(cd.dbs.s3!.status.timelinesHistory).toEqual(history);
  });

  test("notes stay short: problems per info and invalid infos per tick are capped", () => {
    const many: Record<string, KeeperInfo> = { ...sound };
    for (let i = 0; i < 50; i++) many[`bad${i}`] = { uid: `bad${i}`, canBeMaster: "x", canBeSynchronousReplica: "y", a: huge } as unknown as KeeperInfo;
    const r = run(base(), { infos: many, memory: { fresh: false } });
    expect(notes(r)).toContain("and 45 more invalid infos ignored");
    expect(notes(r)).toContain("more problems");
    expect(notes(r).length).toBeLessThan(10_000);
    expect(r.clusterData.cluster.status.master).toBe("s3");
  });

  test("uids such as __proto__, constructor and hasOwnProperty are plain keys", () => {
    const cd = base();
    const joiner = (uid: string): KeeperInfo => ({ ...sound.k2!, uid, infoUID: `i-${uid}`, postgresState: { ...sound.k2!.postgresState!, uid: "", healthy: false } });
    const infos: Record<string, KeeperInfo> = { ...sound };
    for (const [uid, v] of [
      ["__proto__", { uid: "__proto__", postgresState: { xLogPos: 1e18 } }],
      ["constructor", joiner("constructor")],
      ["hasOwnProperty", joiner("hasOwnProperty")],
      ["toString", "garbage"],
    ] as const)
      Object.defineProperty(infos, uid, { value: v, enumerable: true });
    const proxies: Record<string, ProxyInfo> = {};
    Object.defineProperty(proxies, "__proto__", { value: proxy("__proto__", 3), enumerable: true });
    const r = run(cd, { infos, proxies, memory: { fresh: false } });
    expect(r.clusterData.cluster.status.master).toBe("s3");
    expect(Object.keys(r.clusterData.keepers).sort()).toEqual(["constructor", "k1", "k2", "k3"]);
    expect(r.clusterData.keepers["constructor"]!.status.healthy).toBe(true);
    expect(notes(r)).toContain(`keeper info "__proto__" ignored`);
    expect(notes(r)).toContain(`keeper info "hasOwnProperty" ignored (treated as absent): uid: "hasOwnProperty" is not a uid`);
    expect(notes(r)).toContain(`keeper info "toString" ignored`);
    expect(Object.keys(r.memory.keeperHistories).sort()).toEqual(["constructor", "k2", "k3"]);
    // The memory goes round again: the next tick still sees them as plain keys.
    const next = run(r.clusterData, { infos, proxies, memory: r.memory, now: NOW + 100 });
    expect(next.clusterData.keepers["constructor"]!.status.healthy).toBe(true);
    expect(Object.keys(next.clusterData.keepers).sort()).toEqual(["constructor", "k1", "k2", "k3"]);
    expect(Object.keys(next.memory.proxyHistories)).toEqual(["__proto__"]);
    expect(next.notes.join("\n")).toContain("waiting for proxies __proto__ to acknowledge proxy generation 4");
  });

  test("a master's info turned invalid: no failover at once (no proof of death); after failInterval, like a silent keeper", () => {
    const cd = converge(base());
    const garbage = { k1: { ...infosFor(cd).k1!, postgresState: { timelinesHistory: "garbage" } } as unknown as KeeperInfo };
    const infos = { ...infosFor(cd), ...garbage };
    const first = run(cd, { infos, memory: { fresh: false } });
    expect(first.clusterData.cluster.status.master).toBe("m");
    expect(first.clusterData.keepers.k1!.status.healthy).toBe(true);
    expect(notes(first)).toContain(`keeper info "k1" ignored (treated as absent): postgresState.timelinesHistory: must be a list`);
    const later = run(first.clusterData, { infos, memory: first.memory, now: NOW + 5100 });
    expect(notes(later)).toContain("keeper k1 is unhealthy: its info has been invalid for 5.1s");
    expect(later.clusterData.cluster.status.master).toBe("s3");
  });

  test("a proxy whose info turned invalid is still waited for at the barrier until proxyTimeout + margin has passed", () => {
    const cd = cluster({
      keepers: ["k1", "k2"],
      master: "s",
      proxy: { gen: 4 },
      unhealthyKeepers: ["k1"],
      dbs: [db("m", "k1", { role: "master" }), db("s", "k2", { role: "master", gen: 2 })],
    });
    const infos = infosFor(cd, { k1: { missing: true } });
    const bad = { ...proxy("p2", 3), Generation: "4" } as unknown as ProxyInfo;
    const seen = run(cd, { infos, proxies: { p1: proxy("p1", 4), p2: proxy("p2", 3) }, memory: { fresh: false } });
    expect(notes(seen)).toContain("waiting for proxies p2");
    const soon = run(cd, { infos, proxies: { p1: proxy("p1", 4), p2: bad }, memory: seen.memory, now: NOW + 5000 });
    expect(soon.clusterData.proxy.spec.masterDbUid).toBeUndefined();
    expect(notes(soon)).toContain("waiting for proxies p2 to acknowledge proxy generation 4");
    // The spec's proxyTimeout is 5 s: 6.1 s after its last valid report, it is no longer waited for.
    const later = run(cd, { infos, proxies: { p1: proxy("p1", 4), p2: bad }, memory: soon.memory, now: NOW + 6100 });
    expect(later.clusterData.proxy.spec).toEqual({ masterDbUid: "s", enabledProxies: ["p1"] });
  });

  test("a proxy info with wrong types is ignored and named", () => {
    const bad = { infoUID: "x", UID: "p2", Generation: "3", ProxyTimeout: -1 } as unknown as ProxyInfo;
    const r = run(steady(), { proxies: { p1: proxy("p1", 3), p2: bad }, memory: { fresh: false } });
    expect(r.clusterData.proxy.spec.enabledProxies).toEqual(["p1"]);
    expect(notes(r)).toContain(`proxy info "p2" ignored (treated as absent): Generation: must be an integer`);
  });

  test("infos the store already refused are named too", () => {
    const r = decide({
      clusterData: steady(),
      keepersInfo: infosFor(steady()),
      proxiesInfo: {},
      invalidInfos: [{ kind: "keeper", uid: "k9", problems: ["not valid JSON"] }],
      memory: freshMemory(),
      now: NOW,
      wallNow: WALL,
      sentinelUID: "s1",
      newUid: () => "x",
    });
    expect(r.notes).toContain(`keeper info "k9" ignored (treated as absent): not valid JSON`);
  });

  test("a spec at its bounds gives cluster data that reads back (the db specs copy it)", () => {
    const pgParameters = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`custom.p${i}`, "v".repeat(64 * 1024)]));
    const pgHBA = Array.from({ length: 1000 }, () => `host all all 127.0.0.1/32 md5 ${"#".repeat(100)}`);
    expect(validateSpec({ initMode: "new", pgParameters, pgHBA })).toEqual([]);
    const r = run(steady({ spec: { pgParameters, pgHBA } }), { memory: { fresh: false } });
    expect(r.clusterData.dbs.m!.spec.pgParameters).toEqual(pgParameters);
    expect(() => parseClusterData(JSON.stringify(r.clusterData))).not.toThrow();
    expect(validateSpec({ initMode: "new", pgParameters: { ...pgParameters, one_more: "1" } })).toEqual(["pgParameters: more than 1000 entries"]);
  });

  // Cluster data that did not come through the store's checks: decide() changes nothing.
  const hostileData: [string, (cd: ClusterData) => void, string][] = [
    ["a db with role \"boss\"", (cd) => void ((cd.dbs.s2!.spec as { role: string }).role = "boss"), "dbs.s2.spec.role: must be one of"],
    ["a db keeperUID with a path", (cd) => void (cd.dbs.s2!.spec.keeperUID = "../k2"), "dbs.s2.spec.keeperUID"],
    ["a numeric initMode", (cd) => void ((cd.dbs.s2!.spec as { initMode: unknown }).initMode = 5), "dbs.s2.spec.initMode"],
    ["a followConfig string", (cd) => void ((cd.dbs.s2!.spec as { followConfig: unknown }).followConfig = "m"), "dbs.s2.spec.followConfig: must be an object"],
    ["a db status timelinesHistory \"garbage\"", (cd) => void ((cd.dbs.m!.status as { timelinesHistory: unknown }).timelinesHistory = "garbage"), "dbs.m.status.timelinesHistory"],
    ["a db status xLogPos string", (cd) => void ((cd.dbs.s3!.status as { xLogPos: unknown }).xLogPos = "1e30"), "dbs.s3.status.xLogPos"],
    ["a db stored under another uid", (cd) => void (cd.dbs.s2!.uid = "s9"), "dbs.s2.uid: \"s9\" differs from its key"],
    ["a keeper healthy as a string", (cd) => void ((cd.keepers.k2!.status as { healthy: unknown }).healthy = "yes"), "keepers.k2.status.healthy"],
    ["a master uid that is not a uid", (cd) => void (cd.cluster.status.master = "M!"), "cluster.status.master"],
    ["an invalid cluster spec", (cd) => void (cd.cluster.spec.failInterval = "soon"), "invalid spec: failInterval"],
  ];
  test.each(hostileData)("cluster data with %s: nothing decided, the problem named", (_n, spoil, problem) => {
    const cd = structuredClone(base()) as ClusterData;
    spoil(cd);
    deepFreeze(cd);
    let r: ReturnType<typeof run> | undefined;
    expect(() => (r = run(cd, { infos: sound, memory: { fresh: false } }))).not.toThrow();
    expect(r!.change).toBe("none");
    expect(r!.clusterData).toBe(cd);
    expect(notes(r!)).toContain("nothing decided");
    expect(notes(r!)).toContain(problem);
  });
});
