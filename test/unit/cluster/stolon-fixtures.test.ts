/**
 * Cluster data and infos exactly as stolon v0.17 writes them (test/fixtures/stolon, see its
 * README) are read, used and kept: parsed, decided on with a steady result, and written back
 * with every stolon field intact.
 */
import { describe, expect, test } from "bun:test";
import {
  checkKeeperInfo,
  checkProxyInfo,
  checkSentinelInfo,
  decide,
  freshMemory,
  isDifferentTimelineBranch,
  parseClusterData,
  withDefaults,
  type ClusterData,
  type KeeperInfo,
  type ProxyInfo,
} from "../../../src/cluster/index.ts";
import { sameForKeepers } from "../../../src/cluster/stolon-format.ts";
import { deepFreeze } from "../../harness/builders.ts";
import { loadStolonFixture, loadStolonInfos, STOLON_CLUSTERS, type StolonInfos } from "../../harness/stolon-fixtures.ts";

const WALL = Date.parse("2026-11-30T16:41:10Z");
const NOW = 50_000_000;

/** One decide() tick of a new leader on a fixture and its infos. */
function tick(cd: ClusterData, infos: StolonInfos, memory = freshMemory(), now = NOW) {
  return decide({
    clusterData: deepFreeze(cd),
    keepersInfo: deepFreeze(infos.keepers as Record<string, KeeperInfo>),
    proxiesInfo: deepFreeze(infos.proxies as Record<string, ProxyInfo>),
    memory,
    now,
    wallNow: WALL + (now - NOW),
    sentinelUID: "s1",
    newUid: () => "ffff0001",
  });
}

describe("stolon's cluster data parses as it is", () => {
  test.each(STOLON_CLUSTERS)("%s: parsed, and written back JSON-equal", (name) => {
    const { text, json } = loadStolonFixture(name);
    const cd = parseClusterData(text);
    const back = JSON.parse(JSON.stringify(cd));
    // Go's zero values the readers need are filled in: only a new cluster's proxy has none.
    if (name === "new-cluster") {
      expect(back.proxy.generation).toBe(0);
      delete back.proxy.generation;
    }
    expect(back).toEqual(json);
  });

  test("the nulls stolon stores are unset: the effective spec has the defaults", () => {
    const cd = parseClusterData(loadStolonFixture("new-cluster").text);
    expect(cd.cluster.spec.additionalWalSenders).toBeNull();
    const spec = withDefaults(cd.cluster.spec);
    expect(spec.additionalWalSenders).toBe(5);
    expect(spec.automaticPgRestart).toBe(false);
    expect(spec.pgHBA).toBeNull();
    expect(spec.additionalMasterReplicationSlots).toBeNull();
  });

  test("unknown keys anywhere, nulls on pointer fields, Go times of every kind: parsed and kept", () => {
    const { json } = loadStolonFixture("normal-one-failed");
    const v = structuredClone(json) as Record<string, any>;
    v.someFutureField = { a: 1 };
    v.cluster.spec.someFutureSpecField = "x";
    v.cluster.spec.newConfig = { locale: null, dataChecksums: true, futureOption: 3 };
    v.cluster.spec.failInterval = null;
    v.cluster.spec.standbyConfig = null;
    v.keepers.keeper0.status.canBeMaster = null;
    v.keepers.keeper0.spec = null;
    v.keepers.keeper0.changeTime = "2026-11-30T17:40:12.002173829+01:00";
    v.keepers.keeper1.status.lastHealthyTime = "0001-01-01T00:00:00Z";
    v.keepers.keeper2.status.lastHealthyTime = null;
    v.dbs["9a3f1b20"].spec.newConfig = null;
    v.dbs["9a3f1b20"].spec.futureDbField = [1];
    v.dbs["9a3f1b20"].status.timelinesHistory = null;
    v.proxy.spec.enabledProxies = null;
    const cd = parseClusterData(JSON.stringify(v));
    expect(JSON.parse(JSON.stringify(cd))).toEqual(v);
    expect(withDefaults(cd.cluster.spec).failInterval).toBe("5s");
  });
});

describe("empty objects and Go's zero structs", () => {
  test("a proxy {} (Go's &Proxy{} before any write), empty keeper and db statuses: read as zero values", () => {
    const v = structuredClone(loadStolonFixture("normal-one-failed").json) as Record<string, any>;
    v.proxy = {};
    v.keepers.keeper2 = { uid: "keeper2", spec: {} };
    delete v.dbs.e2b85a07.status;
    const cd = parseClusterData(JSON.stringify(v));
    expect(cd.proxy).toEqual({ generation: 0, spec: {}, status: {} });
    expect(cd.keepers.keeper2!.status).toEqual({});
    expect(cd.dbs.e2b85a07!.status).toEqual({});
  });
});

describe("stolon's infos pass the info checks", () => {
  test.each(STOLON_CLUSTERS.filter((n) => n !== "new-cluster"))("%s: every keeper, proxy and sentinel info", (name) => {
    const infos = loadStolonInfos(name);
    for (const [uid, i] of Object.entries(infos.keepers)) expect(checkKeeperInfo(i, uid)).toMatchObject({ ok: true, info: i });
    for (const [uid, i] of Object.entries(infos.proxies)) expect(checkProxyInfo(i, uid)).toMatchObject({ ok: true, info: i });
    for (const [uid, i] of Object.entries(infos.sentinels)) expect(checkSentinelInfo(i, uid).ok).toBe(true);
  });

  test("a starting keeper's info (every zero field left out) reads as Go's zero values", () => {
    const raw = loadStolonFixture("keeper-info-starting").json;
    const c = checkKeeperInfo(raw, "keeper3");
    expect(c.ok).toBe(true);
    if (!c.ok) return;
    expect(c.info.postgresState).toEqual({
      uid: "",
      generation: 0,
      listenAddress: "127.0.0.1",
      port: "5435",
      healthy: false,
      systemID: "",
      timelineID: 0,
      xLogPos: 0,
      timelinesHistory: null,
      pgParameters: null,
      synchronousStandbys: null,
      olderWalFile: "",
    });
    const { postgresState: _, ...noState } = raw as Record<string, unknown>;
    const d = checkKeeperInfo(noState, "keeper3");
    expect(d.ok && d.info.postgresState).toBeNull();
  });
});

describe("decide() on a cluster stolon's sentinel ran, with stolon's keepers still reporting", () => {
  test.each(STOLON_CLUSTERS.filter((n) => n !== "new-cluster"))("%s: steady: same master, no resync, no new generation, nothing decided", (name) => {
    const cd = parseClusterData(loadStolonFixture(name).text);
    const infos = loadStolonInfos(name);
    const r = tick(cd, infos);
    const out = r.clusterData;
    expect(r.change).not.toBe("decision");
    expect(out.cluster.status.master).toBe(cd.cluster.status.master);
    expect(out.cluster.status.phase).toBe("normal");
    expect(Object.keys(out.dbs).sort()).toEqual(Object.keys(cd.dbs).sort());
    for (const [uid, db] of Object.entries(cd.dbs)) {
      const after = out.dbs[uid]!;
      expect(after.generation).toBe(db.generation);
      expect(after.spec).toEqual(db.spec);
      expect(after.spec.initMode).toBe("none");
    }
    expect(out.proxy).toEqual(cd.proxy);
    expect(r.notes.join("\n")).not.toContain("ignored");
    // A few ticks later (infos renewed as stolon's keepers do), still steady.
    let memory = r.memory;
    let last = out;
    for (let i = 1; i <= 5; i++) {
      const renewed = structuredClone(infos);
      for (const k of Object.values(renewed.keepers) as Record<string, unknown>[]) k.infoUID = `${k.infoUID}${i}`;
      for (const p of Object.values(renewed.proxies) as Record<string, unknown>[]) p.infoUID = `${p.infoUID}${i}`;
      const next = tick(last, renewed, memory, NOW + i * 1000);
      expect(next.change).not.toBe("decision");
      memory = next.memory;
      last = next.clusterData;
    }
    for (const [uid, db] of Object.entries(cd.dbs)) expect(last.dbs[uid]!.generation).toBe(db.generation);
  });

  test("fields this version does not know survive the sentinel's read-modify-write", () => {
    const v = structuredClone(loadStolonFixture("normal-one-failed").json) as Record<string, any>;
    v.futureTop = { a: [1, 2] };
    v.cluster.futureCluster = "x";
    v.cluster.spec.futureSpec = 3;
    v.cluster.status.futureStatus = true;
    v.keepers.keeper0.status.futureKeeperStatus = "y";
    v.dbs["9a3f1b20"].spec.futureDbSpec = { b: null };
    v.dbs["c47e0d11"].status.futureDbStatus = 7;
    v.proxy.spec.futureProxy = ["p"];
    const r = tick(parseClusterData(JSON.stringify(v)), loadStolonInfos("normal-one-failed"));
    const out = JSON.parse(JSON.stringify(r.clusterData));
    expect(out.futureTop).toEqual({ a: [1, 2] });
    expect(out.cluster.futureCluster).toBe("x");
    expect(out.cluster.spec.futureSpec).toBe(3);
    expect(out.cluster.status.futureStatus).toBe(true);
    expect(out.keepers.keeper0.status.futureKeeperStatus).toBe("y");
    expect(out.dbs["9a3f1b20"].spec.futureDbSpec).toEqual({ b: null });
    expect(out.dbs["9a3f1b20"].generation).toBe(v.dbs["9a3f1b20"].generation);
    expect(out.dbs["c47e0d11"].status.futureDbStatus).toBe(7);
    expect(out.proxy.spec.futureProxy).toEqual(["p"]);
  });

  test("the synchronous standby stays the synchronous standby", () => {
    const cd = parseClusterData(loadStolonFixture("synchronous").text);
    const out = tick(cd, loadStolonInfos("synchronous")).clusterData;
    expect(out.dbs["9a3f1b20"]!.spec.synchronousStandbys).toEqual(["c47e0d11"]);
    expect(out.dbs["9a3f1b20"]!.status.synchronousStandbys).toEqual(["c47e0d11"]);
  });

  test("the failed keeper's db stays, unhealthy: nothing is removed or added", () => {
    const cd = parseClusterData(loadStolonFixture("normal-one-failed").text);
    const out = tick(cd, loadStolonInfos("normal-one-failed")).clusterData;
    expect(out.keepers.keeper2!.status.healthy).toBeFalsy();
    expect(out.dbs.e2b85a07!.status.healthy).toBeFalsy();
  });
});

describe("sameForKeepers", () => {
  const table: [string, unknown, unknown, boolean][] = [
    ["absent and false", { a: 1 }, { a: 1, usePgrewind: false }, true],
    ["null and []", { followers: null }, { followers: [] }, true],
    ["absent and {}", {}, { pgParameters: {} }, true],
    ["absent and 0 and \"\"", {}, { maxStandbys: 0, x: "" }, true],
    ["pgHBA null and [] differ (default lines or none)", { pgHBA: null }, { pgHBA: [] }, false],
    ["a value differs", { maxStandbys: 20 }, { maxStandbys: 21 }, false],
    ["a list differs", { followers: ["a"] }, { followers: [] }, false],
    ["nested zero", { followConfig: { type: "internal", dbuid: "m" } }, { followConfig: { type: "internal", dbuid: "m", standbySettings: null } }, true],
  ];
  test.each(table)("%s", (_n, a, b, same) => expect(sameForKeepers(a, b)).toBe(same));
});

describe("timeline histories as stolon writes them (a switch point of 0 left out)", () => {
  const db = (tl: number, history: unknown[], xLogPos = 100) =>
    ({ uid: "d", generation: 1, changeTime: "", spec: {}, status: { timelineID: tl, timelinesHistory: history, xLogPos } }) as never;
  test("a left-out switch point is 0: same branch as an explicit 0", () => {
    expect(isDifferentTimelineBranch(db(2, [{ timelineID: 1 }]), db(2, [{ timelineID: 1, switchPoint: 0 }]))).toBe(false);
  });
  test("a left-out switch point is 0: a standby past it on the old timeline cannot follow", () => {
    expect(isDifferentTimelineBranch(db(2, [{ timelineID: 1 }]), db(1, [], 100))).toBe(true);
  });
});
