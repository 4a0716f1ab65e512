/**
 * readOnlyRoute (issue 18): which standbys the read-only port may use, table-driven on the shared
 * builders (steadyCluster: master m on k1, standby s on k2; keeperInfoFor). Every rule has a row
 * that fails it, with its reason; then the grace, the fallbacks, ReportAges.
 */
import { describe, expect, test } from "bun:test";
import { KEEPER_REPORT_MS, type ClusterData, type KeeperInfo, type PostgresState } from "../../../src/cluster/index.ts";
import {
  READ_ONLY_FALLBACKS,
  READ_ONLY_GRACE_MS,
  READ_ONLY_STALE_MS,
  ReportAges,
  freshReadOnlyMemory,
  readOnlyRoute,
  type ReadOnlyFallback,
  type ReadOnlyMemory,
  type ReadOnlyPolicy,
  type ReadOnlyRoute,
} from "../../../src/proxy/read-only.ts";
import { deepFreeze, steadyCluster, steadyDb } from "../../harness/builders.ts";
import { keeperInfoFor } from "../../harness/info-builders.ts";

const PROXY = "p1";
const NOW = 1_000_000;
const MiB = 1024 * 1024;
const MASTER_POS = 64 * MiB;
const M = { dbUid: "m", host: "127.0.0.1", port: 5432 };
const S = { dbUid: "s", host: "127.0.0.1", port: 5433 };
const T = { dbUid: "t", host: "127.0.0.1", port: 5434 };
const POLICY: ReadOnlyPolicy = { maxLagBytes: null, fallback: "master", staleMs: READ_ONLY_STALE_MS, graceMs: READ_ONLY_GRACE_MS };

type PgOver = Partial<PostgresState>;
/** One case: what differs from the steady cluster, its reports and their ages. */
interface Case {
  cd?: (cd: ClusterData) => void;
  /** Overrides of a keeper's reported PostgreSQL state; null: no info from that keeper. */
  pg?: Record<string, PgOver | null>;
  /** ms since a keeper's infoUID changed; null: never seen. 0 unless given. */
  age?: Record<string, number | null>;
  policy?: Partial<ReadOnlyPolicy>;
  now?: number;
}

/** The steady cluster (standby s on its own port) with enabled proxy p1; `withT` adds standby t on k3. */
function clusterData(c: Case, withT = false): ClusterData {
  const cd = steadyCluster({}, { enabledProxies: [PROXY] });
  cd.dbs.s!.status.port = "5433";
  if (withT) {
    cd.keepers.k3 = { ...structuredClone(cd.keepers.k2!), uid: "k3" };
    cd.dbs.t = steadyDb("t", "k3", "standby", { xlog: 2000, port: 5434 });
    cd.dbs.m!.spec.followers = ["s", "t"];
  }
  c.cd?.(cd);
  return deepFreeze(cd);
}

/** Each keeper's info: the master at MASTER_POS, standbys streaming and replayed 1 KiB behind. */
function infosFor(cd: ClusterData, c: Case): Record<string, KeeperInfo> {
  const standby: PgOver = { receivingWal: true, replayedXLogPos: MASTER_POS - 1024 };
  const defaults: Record<string, PgOver> = { k1: { xLogPos: MASTER_POS }, k2: standby, k3: standby };
  const out: Record<string, KeeperInfo> = {};
  for (const k of Object.keys(cd.keepers)) {
    const over = c.pg && Object.hasOwn(c.pg, k) ? c.pg[k] : {};
    if (over !== null) out[k] = keeperInfoFor(cd, k, { pg: { ...defaults[k], ...over } });
  }
  return out;
}

/** ReportAges that saw each keeper's infoUID change `age[k]` ms before `now` (never, for null). */
function agesFor(infos: Record<string, KeeperInfo>, now: number, age: Record<string, number | null> = {}): ReportAges {
  const ages = new ReportAges();
  const seen = Object.keys(infos).filter((k) => age[k] !== null);
  const changedAt = (k: string) => now - (age[k] ?? 0);
  const times = [...new Set(seen.map(changedAt))].sort((a, b) => a - b);
  for (const t of times) ages.observe(Object.fromEntries(seen.map((k) => [k, { ...infos[k]!, infoUID: `${k}@${Math.min(t, changedAt(k))}` }])), t);
  return ages;
}

function route(c: Case, mem: ReadOnlyMemory = freshReadOnlyMemory(), withT = false): ReadOnlyRoute {
  const cd = clusterData(c, withT);
  const infos = infosFor(cd, c);
  const now = c.now ?? NOW;
  return readOnlyRoute({ cd, proxyUid: PROXY, infos, ages: agesFor(infos, now, c.age), now, policy: { ...POLICY, ...c.policy } }, mem);
}

const candidate = (r: ReadOnlyRoute, uid = "s") => r.candidates.find((c) => c.dbUid === uid);

describe("readOnlyRoute: the steady cluster", () => {
  test("its healthy streaming standby is eligible; the master is no candidate and in neither set", () => {
    const r = route({});
    expect(r).toEqual({
      pick: [S],
      keep: [S],
      fallback: null,
      candidates: [{ dbUid: "s", keeperUid: "k2", lagBytes: 1024, state: "eligible", reason: "eligible" }],
      reason: "",
    });
  });

  test("two eligible standbys are both picked, candidates sorted by db uid; one in its grace is kept, not picked", () => {
    const r = route({}, freshReadOnlyMemory(), true);
    expect(r.pick).toEqual([S, T]);
    expect(r.keep).toEqual([S, T]);
    expect(r.candidates.map((c) => c.dbUid)).toEqual(["s", "t"]);
    const one = route({ cd: (cd) => void (cd.dbs.s!.status.healthy = false) }, freshReadOnlyMemory(), true);
    expect(one.pick).toEqual([T]);
    expect(one.keep).toEqual([T]);
     const lagging = route({ pg: { k3: { receivingWal: true, replayedXLogPos: MASTER_POS - 2 * MiB } } }, freshReadOnlyMemory(), true);
    expect(lagging.pick).toEqual([S]);
    expect(lagging.keep).toEqual([S, T]);
    expect(candidate(lagging, "t")!.state).toBe("grace");
  });
});

describe("readOnlyRoute: no routing at all (pick and keep empty, no fallback)", () => {
  test.each([
    ["no cluster data", null, /^no read-only routing: no cluster data$/],
    ["this proxy not enabled", (cd: ClusterData) => void (cd.proxy.spec.enabledProxies = ["p2"]), /this proxy \(p1\) is not enabled yet/],
    ["no master routed", (cd: ClusterData) => void (cd.proxy.spec.masterDbUid = undefined), /no master is routed/],
    ["the routed master without an address", (cd: ClusterData) => void (cd.dbs.m!.status.listenAddress = ""), /master db m has no valid address yet/],
  ] as [string, ((cd: ClusterData) => void) | null, RegExp][])("%s", (_, edit, reason) => {
    const mem = freshReadOnlyMemory();
    mem.badSince.s = NOW - 10;
    const cd = edit === null ? null : clusterData({ cd: edit });
    const infos = cd ? infosFor(cd, {}) : {};
    const r = readOnlyRoute({ cd, proxyUid: PROXY, infos, ages: agesFor(infos, NOW), now: NOW, policy: POLICY }, mem);
    expect(r.pick).toEqual([]);
    expect(r.keep).toEqual([]);
    expect(r.fallback).toBeNull();
    expect(r.reason).toMatch(reason);
    expect(r.candidates.every((c) => c.state === "excluded")).toBe(true);
    expect(r.candidates.map((c) => c.dbUid)).toEqual(cd ? ["s"] : []);
    expect(mem.badSince).toEqual({});
  });
});

/** Rows that exclude standby s at once (the master takes new connections: fallback "master"). */
const EXCLUDED: [string, Case, RegExp][] = [
  ["it is the cluster's master (promoted, not yet routed)", { cd: (cd) => void (cd.cluster.status.master = "s") }, /^the cluster's master \(cluster status\), not yet routed \(the proxy routes to m\)$/],
  ["its role is master", { cd: (cd) => void (cd.dbs.s!.spec.role = "master") }, /^role master, not standby$/],
  ["it has no follow config", { cd: (cd) => void (cd.dbs.s!.spec.followConfig = null) }, /^no follow config \(not a standby of the master m\)$/],
  ["it follows an external source", { cd: (cd) => void (cd.dbs.s!.spec.followConfig = { type: "external" }) }, /^follows an external source, not the master m$/],
  ["it follows another db", { cd: (cd) => void (cd.dbs.s!.spec.followConfig = { type: "internal", dbuid: "x" }) }, /^follows x, not the master m$/],
  ["it has not converged", { cd: (cd) => void (cd.dbs.s!.generation = 2) }, /^not converged \(generation 1 reported, 2 wanted\)$/],
  ["it is unhealthy in the cluster data", { cd: (cd) => void (cd.dbs.s!.status.healthy = false) }, /^unhealthy$/],
  ["it has no listen address", { cd: (cd) => void (cd.dbs.s!.status.listenAddress = "") }, /^no valid address yet$/],
  ["its port is 0", { cd: (cd) => void (cd.dbs.s!.status.port = "0") }, /^no valid address yet$/],
  ["its port is over 65535", { cd: (cd) => void (cd.dbs.s!.status.port = "65536") }, /^no valid address yet$/],
  ["its keeper has no info", { pg: { k2: null } }, /^no report from keeper k2$/],
  ["its keeper reports another db", { pg: { k2: { uid: "x" } } }, /^keeper k2 reports db x, not s$/],
  ["its keeper reports no db", { pg: { k2: { uid: "" } } }, /^keeper k2 reports no db, not s$/],
  ["its keeper reports PostgreSQL unhealthy", { pg: { k2: { healthy: false } } }, /^keeper k2 reports PostgreSQL unhealthy$/],
  ["its WAL receiver is not streaming", { pg: { k2: { receivingWal: false } } }, /^keeper k2 reports no WAL streaming from the master$/],
  ["its keeper does not say it streams", { pg: { k2: { receivingWal: undefined } } }, /^keeper k2 reports no WAL streaming from the master$/],
];

describe("readOnlyRoute: a rule other than lag or staleness excludes at once", () => {
  test.each(EXCLUDED)("%s", (_, c, reason) => {
    const mem = freshReadOnlyMemory();
    mem.badSince.s = NOW - 10; // was in its grace: that does not save it
    const r = route(c, mem);
    expect(candidate(r)).toMatchObject({ state: "excluded" });
    expect(candidate(r)!.reason).toMatch(reason);
    expect(r.pick).toEqual([M]);
    expect(r.keep).toEqual([M]);
    expect(r.fallback).toBe("master");
    expect(mem.badSince).toEqual({});
  });
});

/** Rows where s fails only on lag or staleness: a grace first (kept, not picked). */
const GRACE: [string, Case, RegExp, number | null][] = [
  ["its report is stale", { age: { k2: READ_ONLY_STALE_MS + 1 } }, /^the report of keeper k2 is stale \(not known alive for 1501 ms, over 1500 ms\)$/, 1024],
  ["its keeper was never seen", { age: { k2: null } }, /^the report of keeper k2 is stale \(never seen\)$/, 1024],
  ["the master's report is stale", { age: { k1: READ_ONLY_STALE_MS + 1 } }, /^lag unknown: the report of the master's keeper k1 is stale \(not known alive for 1501 ms, over 1500 ms\)$/, null],
  ["the master's keeper has no info", { pg: { k1: null } }, /^lag unknown: no report from the master's keeper k1$/, null],
  ["the master's keeper reports another db", { pg: { k1: { uid: "x" } } }, /^lag unknown: the master's keeper k1 reports db x, not m$/, null],
  ["the master's keeper reports no WAL position", { pg: { k1: { xLogPos: undefined } } }, /^lag unknown: the master's keeper k1 reports no WAL position$/, null],
  ["its replayed position is unknown", { pg: { k2: { replayedXLogPos: undefined } } }, /^lag unknown: keeper k2 reports no replayed position$/, null],
  ["its lag is over the spec's default bound (1 MiB)", { pg: { k2: { replayedXLogPos: MASTER_POS - 2 * MiB } } }, /^lag 2 MiB over the bound of 1 MiB$/, 2 * MiB],
  ["its lag is over the spec's maxStandbyLag", { cd: (cd) => void (cd.cluster.spec.maxStandbyLag = 4 * MiB), pg: { k2: { replayedXLogPos: MASTER_POS - 5 * MiB } } }, /^lag 5 MiB over the bound of 4 MiB$/, 5 * MiB],
  ["its lag is over --read-only-max-lag, which wins over the spec", { cd: (cd) => void (cd.cluster.spec.maxStandbyLag = 64 * MiB), pg: { k2: { replayedXLogPos: MASTER_POS - 20 * MiB } }, policy: { maxLagBytes: 16 * MiB } }, /^lag 20 MiB over the bound of 16 MiB$/, 20 * MiB],
  ["replay paused: received everything, replayed far behind", { pg: { k2: { xLogPos: MASTER_POS, replayedXLogPos: MASTER_POS - 3 * MiB } } }, /^lag 3 MiB over the bound of 1 MiB$/, 3 * MiB],
];

describe("readOnlyRoute: lag or staleness alone gives a grace, then excludes", () => {
  test.each(GRACE)("%s", (_, c, reason, lag) => {
    const mem = freshReadOnlyMemory();
    const first = route(c, mem);
    expect(candidate(first)).toMatchObject({ state: "grace", lagBytes: lag });
    expect(candidate(first)!.reason).toMatch(new RegExp(`${reason.source.slice(1, -1)} \\(its connections kept 1000 ms more\\)$`));
    expect(first.pick).toEqual([M]);
    expect(first.keep).toEqual([M, S]);
    expect(mem.badSince.s).toBe(NOW);

    const later = route({ ...c, now: NOW + READ_ONLY_GRACE_MS }, mem);
    expect(candidate(later)).toMatchObject({ state: "excluded", lagBytes: lag });
    expect(candidate(later)!.reason).toMatch(reason);
    expect(later.keep).toEqual([M]);
    expect(mem.badSince.s).toBe(NOW);
  });
});

describe("readOnlyRoute: within the rules", () => {
  test.each([
    ["a lag exactly at the bound", { pg: { k2: { replayedXLogPos: MASTER_POS - MiB } } }, MiB],
    ["a standby ahead of the master's last report (lag 0)", { pg: { k2: { replayedXLogPos: MASTER_POS + 100 } } }, 0],
    ["a lag over the spec's bound but within --read-only-max-lag", { pg: { k2: { replayedXLogPos: MASTER_POS - 8 * MiB } }, policy: { maxLagBytes: 8 * MiB } }, 8 * MiB],
    ["a lag within the spec's maxStandbyLag", { cd: (cd: ClusterData) => void (cd.cluster.spec.maxStandbyLag = 4 * MiB), pg: { k2: { replayedXLogPos: MASTER_POS - 3 * MiB } } }, 3 * MiB],
    ["reports exactly staleMs old", { age: { k1: READ_ONLY_STALE_MS, k2: READ_ONLY_STALE_MS } }, 1024],
  ] as [string, Case, number][])("%s: eligible", (_, c, lag) => {
    const r = route(c);
    expect(candidate(r)).toEqual({ dbUid: "s", keeperUid: "k2", lagBytes: lag, state: "eligible", reason: "eligible" });
    expect(r.pick).toEqual([S]);
  });
});

describe("readOnlyRoute: the grace over time", () => {
  const lagging: Case = { pg: { k2: { replayedXLogPos: MASTER_POS - 2 * MiB } } };

  test("enters, stays until graceMs has passed, expires; recovery clears it; a new lag starts a new grace", () => {
    const mem = freshReadOnlyMemory();
    const at = (now: number, c: Case) => route({ ...c, now }, mem);
    expect(candidate(at(NOW, lagging))!.state).toBe("grace");
    const still = at(NOW + 999, lagging);
    expect(candidate(still)!.state).toBe("grace");
    expect(candidate(still)!.reason).toMatch(/kept 1 ms more\)$/);
    expect(still.keep).toEqual([M, S]);
    expect(candidate(at(NOW + 1000, lagging))!.state).toBe("excluded");
    const back = at(NOW + 1100, {});
    expect(candidate(back)!.state).toBe("eligible");
    expect(back.pick).toEqual([S]);
    expect(mem.badSince).toEqual({});
    expect(candidate(at(NOW + 1200, lagging))!.state).toBe("grace");
    expect(mem.badSince.s).toBe(NOW + 1200);
  });

  test("graceMs 0: excluded at once", () => {
    const r = route({ ...lagging, policy: { graceMs: 0 } });
    expect(candidate(r)!.state).toBe("excluded");
    expect(r.keep).toEqual([M]);
  });

  test("a standby in its grace that is promoted is excluded at once", () => {
    const mem = freshReadOnlyMemory();
    expect(candidate(route(lagging, mem))!.state).toBe("grace");
    const promoting = route({ ...lagging, now: NOW + 10, cd: (cd) => void (cd.cluster.status.master = "s") }, mem);
    expect(candidate(promoting)).toMatchObject({ state: "excluded", reason: expect.stringMatching(/^the cluster's master/) });
    expect(promoting.keep).toEqual([M]);
    expect(mem.badSince).toEqual({});
  });

  test("a promoted standby, now routed, is no candidate; the old master demoted is not eligible while it does not follow", () => {
    const promoted = (cd: ClusterData) => {
      cd.cluster.status.master = "s";
      cd.proxy.spec.masterDbUid = "s";
      cd.dbs.s!.spec.role = "master";
      cd.dbs.s!.spec.followConfig = null;
      cd.dbs.m!.spec.role = "standby";
    };
    const r = route({ cd: promoted, pg: { k1: { receivingWal: true, replayedXLogPos: MASTER_POS }, k2: { xLogPos: MASTER_POS } } });
    expect(r.candidates.map((c) => c.dbUid)).toEqual(["m"]);
    expect(candidate(r, "m")).toMatchObject({ state: "excluded", reason: "no follow config (not a standby of the master s)" });
    expect(r.pick).toEqual([S]);
    expect(r.fallback).toBe("master");
  });

  test("the memory of a db that is gone, or is now the master, is dropped", () => {
    const mem = freshReadOnlyMemory();
    mem.badSince.gone = NOW - 5;
    mem.badSince.m = NOW - 5;
    route(lagging, mem);
    expect(mem.badSince).toEqual({ s: NOW });
  });
});

describe("readOnlyRoute: the fallback when no standby is eligible", () => {
  const unhealthy: Case = { cd: (cd) => void (cd.dbs.s!.status.healthy = false) };
  const lagging: Case = { pg: { k2: { replayedXLogPos: MASTER_POS - 2 * MiB } } };
  test.each([
    ["master", unhealthy, { pick: [M], keep: [M], fallback: "master" }, "no eligible standby (s: unhealthy): new read-only connections go to the master m"],
    ["hold", unhealthy, { pick: [], keep: [], fallback: null }, "no eligible standby (s: unhealthy): new read-only connections are held"],
    ["refuse", unhealthy, { pick: [], keep: [], fallback: null }, "no eligible standby (s: unhealthy): new read-only connections are refused"],
    ["master", lagging, { pick: [M], keep: [M, S], fallback: "master" }, "go to the master m"],
    ["hold", lagging, { pick: [], keep: [S], fallback: null }, "are held"],
    ["refuse", lagging, { pick: [], keep: [S], fallback: null }, "are refused"],
  ] as [ReadOnlyFallback, Case, Partial<ReadOnlyRoute>, string][])("%s, %#", (fallback, c, expected, reason) => {
    const r = route({ ...c, policy: { fallback } });
    expect(r).toMatchObject(expected);
    expect(r.reason).toContain(reason);
  });

  test("no standby at all: the fallback with its reason", () => {
    const r = route({ cd: (cd) => void delete cd.dbs.s });
    expect(r).toMatchObject({ pick: [M], keep: [M], fallback: "master", candidates: [], reason: "no standby: new read-only connections go to the master m" });
  });

  test.each(READ_ONLY_FALLBACKS)("an eligible standby: the master is in neither set (fallback %s)", (fallback) => {
    const r = route({ policy: { fallback } });
    expect(r).toMatchObject({ pick: [S], keep: [S], fallback: null, reason: "" });
  });
});

describe("ReportAges", () => {
  const info = (k: string, infoUID: string) => ({ ...keeperInfoFor(steadyCluster(), k), infoUID });

  test("the first sight counts as a change; the same infoUID ages; a new one resets", () => {
    const ages = new ReportAges();
    expect(ages.ageMs("k1", 0)).toBeNull();
    ages.observe({ k1: info("k1", "a") }, 100);
    expect(ages.ageMs("k1", 100)).toBe(0);
    ages.observe({ k1: info("k1", "a") }, 1000);
    expect(ages.ageMs("k1", 1600)).toBe(1500);
    ages.observe({ k1: info("k1", "b") }, 1700);
    expect(ages.ageMs("k1", 1800)).toBe(100);
    expect(ages.ageMs("k1", 1600)).toBe(0);
  });

  test("a lease reading replaces the infoUID's age (keepers write only on change)", () => {
    const ages = new ReportAges();
    ages.observe({ k1: info("k1", "a") }, 0);
    // The same infoUID for a minute, its lease renewed: fresh.
    ages.observe({ k1: info("k1", "a") }, 60_000, { k1: 0 });
    expect(ages.ageMs("k1", 60_000)).toBe(0);
    // Read as not renewed for two seconds: stale, whatever the infoUID.
    ages.observe({ k1: info("k1", "b") }, 61_000, { k1: 2000 });
    expect(ages.ageMs("k1", 61_000)! > READ_ONLY_STALE_MS).toBe(true);
    expect(ages.ageMs("k1", 61_000)).toBe(2000);
  });

  test("a keeper absent from an observation is forgotten; seen again, it starts anew", () => {
    const ages = new ReportAges();
    ages.observe({ k1: info("k1", "a"), k2: info("k2", "x") }, 0);
    ages.observe({ k1: info("k1", "a") }, 500);
    expect(ages.ageMs("k2", 600)).toBeNull();
    expect(ages.ageMs("k1", 600)).toBe(600);
    ages.observe({ k1: info("k1", "a"), k2: info("k2", "x") }, 700);
    expect(ages.ageMs("k2", 800)).toBe(100);
  });

  test("the constants: stale once a lease reads two seconds without renewal, one second of grace", () => {
    expect(READ_ONLY_STALE_MS).toBe(1500);
    expect(READ_ONLY_STALE_MS).toBeGreaterThan(3 * KEEPER_REPORT_MS);
    expect(READ_ONLY_GRACE_MS).toBe(1000);
    expect(READ_ONLY_FALLBACKS).toEqual(["master", "hold", "refuse"]);
  });
});
