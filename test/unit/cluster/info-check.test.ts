/**
 * The checks of what other processes wrote into etcd (src/cluster/info-check.ts): the bounds at
 * their edges, unknown fields let through, and cluster data whose keepers, dbs or proxy are
 * hostile refused with every problem named. decide()'s behaviour with hostile infos is in
 * decide.test.ts ("hostile or broken etcd contents").
 */
import { describe, expect, test } from "bun:test";
import {
  checkKeeperInfo,
  checkProxyInfo,
  checkSentinelInfo,
  newClusterData,
  parseClusterData,
  type ClusterData,
  type KeeperInfo,
} from "../../../src/cluster/index.ts";
import { MAX_TIMELINES, show } from "../../../src/cluster/info-check.ts";
import { ClusterDataError } from "../../../src/lib/errors.ts";
import { makeDb } from "../../harness/builders.ts";

const sound = (): KeeperInfo => ({
  infoUID: "a1b2c3d4",
  uid: "k1",
  clusterUID: "c0ffee00",
  bootUUID: "0b8c5a4e-7f0e-4a4b-9a7e-3f1c2d3e4f50",
  postgresBinaryVersion: { Maj: 15, Min: 8 },
  postgresState: {
    uid: "d1",
    generation: 3,
    listenAddress: "127.0.0.1",
    port: "5432",
    healthy: true,
    systemID: "7301234567890123456",
    timelineID: 2,
    xLogPos: 50_331_800,
    timelinesHistory: [{ timelineID: 1, switchPoint: 50_331_648, reason: "no recovery target specified" }],
    pgParameters: { max_connections: "100" },
    synchronousStandbys: ["d2"],
    olderWalFile: "000000020000000000000003",
    receivingWal: false,
  },
  canBeMaster: true,
  canBeSynchronousReplica: true,
});

/** A KeeperInfo.init for a restore in progress, with `over` put over it. */
const initOf = (over: Record<string, unknown>): unknown => ({
  dbUid: "d1",
  phase: "restoring",
  since: "2026-01-02T03:04:05Z",
  detail: "running dataRestoreCommand",
  ...over,
});

/** sound() with `path` (dot separated, under the info) set to `v`. */
function withField(path: string, v: unknown): unknown {
  const info = sound() as unknown as Record<string, unknown>;
  const keys = path.split(".");
  let o = info;
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
  o[keys.at(-1)!] = v;
  return info;
}

describe("checkKeeperInfo", () => {
  test("a sound info is returned as it is, fields it does not know included", () => {
    const info = { ...sound(), someNewFlag: true, postgresState: { ...sound().postgresState!, someNewFigure: "x" } };
    const c = checkKeeperInfo(info, "k1");
    expect(c.ok).toBe(true);
    if (c.ok) expect(c.info).toBe(info);
    expect(checkKeeperInfo({ ...sound(), postgresState: null }, "k1").ok).toBe(true);
    expect(checkKeeperInfo(withField("postgresState.uid", ""), "k1").ok).toBe(true);
  });

  const edges: [string, unknown, boolean][] = [
    ["postgresState.xLogPos", 2 ** 53 - 1, true],
    ["postgresState.xLogPos", 2 ** 53, false],
    ["postgresState.xLogPos", 0, true],
    ["postgresState.xLogPos", -0.5, false],
    ["postgresState.timelineID", 2 ** 32 - 1, true],
    ["postgresState.timelineID", 2 ** 32, false],
    ["postgresState.generation", 1e300, false],
    ["postgresState.port", "65535", true],
    ["postgresState.port", "1", true],
    ["postgresState.port", "0", false],
    ["postgresState.port", "5432 ", false],
    ["postgresState.port", 5432, false],
    ["postgresState.listenAddress", "a".repeat(1024), true],
    ["postgresState.listenAddress", "a".repeat(1025), false],
    ["postgresState.timelinesHistory", Array.from({ length: MAX_TIMELINES }, (_, i) => ({ timelineID: i + 1, switchPoint: i, reason: "" })), true],
    ["postgresState.timelinesHistory", Array.from({ length: MAX_TIMELINES + 1 }, (_, i) => ({ timelineID: i + 1, switchPoint: i, reason: "" })), false],
    ["postgresState.timelinesHistory", null, true],
    ["postgresState.pgParameters", Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`p${i}`, "1"])), true],
    ["postgresState.pgParameters", Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`p${i}`, "1"])), false],
    ["postgresState.pgParameters", { shared_preload_libraries: "x".repeat(64 * 1024) }, true],
    ["postgresState.pgParameters", { shared_preload_libraries: "x".repeat(64 * 1024 + 1) }, false],
    ["postgresState.pgParameters", ["a"], false],
    ["postgresState.synchronousStandbys", ["d2", "d3"], true],
    ["postgresState.synchronousStandbys", ["D2"], false],
    ["postgresState.synchronousStandbys", "d2", false],
    ["postgresState.receivingWal", "no", false],
    ["postgresState.replayedXLogPos", 2 ** 53 - 1, true],
    ["postgresState.replayedXLogPos", 0, true],
    ["postgresState.replayedXLogPos", -1, false],
    ["postgresState.replayedXLogPos", "0/3000000", false],
    ["postgresState.replayedXLogPos", null, false],
    ["uid", "a".repeat(64), false],
    ["canBeMaster", 1, false],
    ["postgresBinaryVersion", "15.8", false],
    ["postgresBinaryVersion.Maj", -15, false],
    ["init", initOf({}), true],
    ["init", initOf({ phase: "recovering", replayedXLogPos: 2 ** 53 - 1, lastReplayTime: "2026-01-02T03:04:05.123456Z" }), true],
    ["init", initOf({ phase: "failed", output: "x".repeat(4000) }), true],
    ["init", initOf({ phase: "failed", output: "x".repeat(4001) }), false],
    ["init", initOf({ phase: "done" }), false],
    ["init", initOf({ dbUid: "D1" }), false],
    ["init", initOf({ since: "yesterday" }), false],
    ["init", initOf({ detail: 3 }), false],
    ["init", initOf({ detail: "x".repeat(1025) }), false],
    ["init", initOf({ replayedXLogPos: -1 }), false],
    ["init", initOf({ lastReplayTime: "" }), false],
    ["init", { phase: "restoring", since: "2026-01-02T03:04:05Z", detail: "" }, false],
    ["init", null, false],
  ];
  test.each(edges)("%s = %p: accepted %p", (path, v, ok) => {
    const key = path === "uid" && typeof v === "string" ? v : "k1";
    const c = checkKeeperInfo(withField(path, v), key);
    expect(c.ok).toBe(ok);
    if (!c.ok) expect(c.invalid.problems[0]).toStartWith(path.replace(/^postgresState\.postgresState/, "postgresState"));
  });

  test("problems are capped and quote values cut short", () => {
    const c = checkKeeperInfo({ uid: "k1", infoUID: "x".repeat(100_000), clusterUID: 1, bootUUID: 2, postgresBinaryVersion: 3, postgresState: 4, canBeMaster: 5 }, "k1");
    expect(c.ok).toBe(false);
    if (c.ok) return;
    expect(c.invalid).toMatchObject({ kind: "keeper", uid: "k1" });
    expect(c.invalid.problems).toHaveLength(6);
    expect(c.invalid.problems.at(-1)).toBe("and 1 more problems");
    expect(c.invalid.problems.join("; ").length).toBeLessThan(1000);
    expect(show("y".repeat(1000))).toHaveLength(40);
  });
});

describe("checkProxyInfo and checkSentinelInfo", () => {
  const proxy = { infoUID: "i1", UID: "p1", Generation: 4, ProxyTimeout: 5e9 };
  test.each([
    [proxy, true],
    [{ ...proxy, extra: [1] }, true],
    [{ ...proxy, Generation: "4" }, false],
    [{ ...proxy, Generation: -1 }, false],
    [{ ...proxy, ProxyTimeout: Infinity }, false],
    [{ ...proxy, UID: "p2" }, false],
    [{ ...proxy, infoUID: undefined }, false],
  ])("proxy %j: accepted %p", (v, ok) => {
    expect(checkProxyInfo(v, "p1").ok).toBe(ok);
  });
  test.each([
    [{ UID: "s1" }, "s1", true],
    [{ UID: "s1" }, "s2", false],
    [{ UID: 1 }, "s1", false],
    ["s1", "s1", false],
  ])("sentinel %j under %s: accepted %p", (v, key, ok) => {
    expect(checkSentinelInfo(v, key).ok).toBe(ok);
  });
});

describe("parseClusterData: keepers, dbs and proxy", () => {
  const good = (): ClusterData => {
    const cd = newClusterData("c0ffee00", { initMode: "new" }, new Date(0));
    cd.cluster.status = { phase: "normal", master: "d1" };
    cd.keepers.k1 = { uid: "k1", generation: 1, changeTime: "", spec: {}, status: { healthy: true } };
    cd.dbs.d1 = makeDb(
      "d1",
      { keeperUID: "k1", role: "master", followConfig: null },
      { generation: 2, status: { healthy: true, currentGeneration: 2, listenAddress: "127.0.0.1", port: "5432", xLogPos: 100, timelinesHistory: null } },
    );
    cd.proxy.spec = { masterDbUid: "d1", enabledProxies: ["p1"] };
    return cd;
  };

  test("sound data is accepted, with fields it does not know; keepers and dbs have no prototype", () => {
    const cd = good() as ClusterData & { futureField?: number };
    cd.futureField = 1;
    (cd.dbs.d1!.spec as unknown as Record<string, unknown>).someNewSetting = "x";
    const parsed = parseClusterData(JSON.stringify(cd));
    expect(parsed).toEqual(JSON.parse(JSON.stringify(cd)));
    expect(Object.getPrototypeOf(parsed.dbs)).toBeNull();
    expect(Object.getPrototypeOf(parsed.keepers)).toBeNull();
    expect(parsed.dbs["constructor"]).toBeUndefined();
    expect(parsed.keepers["__proto__"]).toBeUndefined();
  });

  const spoiled: [string, (cd: ClusterData) => void, string[]][] = [
    ["a db role", (cd) => ((cd.dbs.d1!.spec as { role: string }).role = "boss"), [`dbs.d1.spec.role: must be one of "master", "standby", got "boss"`]],
    ["a db without keeperUID", (cd) => delete (cd.dbs.d1!.spec as { keeperUID?: string }).keeperUID, ["dbs.d1.spec.keeperUID: required"]],
    ["a db initMode and pgParameters", (cd) => Object.assign(cd.dbs.d1!.spec, { initMode: "wipe", pgParameters: { a: 1 } }), ["dbs.d1.spec.initMode", "dbs.d1.spec.pgParameters.a: must be a string"]],
    ["a db generation", (cd) => (cd.dbs.d1!.generation = -1), ["dbs.d1.generation"]],
    ["a db followers list", (cd) => (cd.dbs.d1!.spec.followers = "d2" as unknown as string[]), ["dbs.d1.spec.followers: must be a list"]],
    ["a db status xLogPos", (cd) => (cd.dbs.d1!.status.xLogPos = "big" as unknown as number), ["dbs.d1.status.xLogPos"]],
    ["a db under another key", (cd) => (cd.dbs.d1!.uid = "d2"), [`dbs.d1.uid: "d2" differs from its key`]],
    ["a keeper status", (cd) => (cd.keepers.k1!.status.healthy = 1 as unknown as boolean), ["keepers.k1.status.healthy"]],
    ["the proxy's masterDbUid", (cd) => (cd.proxy.spec.masterDbUid = "../d1"), ["proxy.spec.masterDbUid"]],
    ["the proxy generation", (cd) => (cd.proxy.generation = NaN), ["proxy.generation"]],
    ["the master uid", (cd) => (cd.cluster.status.master = ""), ["cluster.status.master"]],
    [
      "a db's recovery target",
      (cd) => (cd.dbs.d1!.spec.pitrConfig = { recoveryTargetSettings: { recoveryTargetXid: 42 as unknown as string } }),
      ["dbs.d1.spec.pitrConfig.recoveryTargetSettings.recoveryTargetXid: must be a string"],
    ],
    [
      "a db's archive recovery settings",
      (cd) => (cd.dbs.d1!.spec.pitrConfig = { archiveRecoverySettings: "cp" as unknown as object }),
      ["dbs.d1.spec.pitrConfig.archiveRecoverySettings: must be an object"],
    ],
  ];
  test("a pitr db spec with all of pitrConfig (restore, archive recovery, target) is accepted", () => {
    const cd = good();
    Object.assign(cd.dbs.d1!.spec, {
      initMode: "pitr",
      pitrConfig: {
        dataRestoreCommand: "tar -xf /backup/base.tar -C %d",
        archiveRecoverySettings: { restoreCommand: "cp /archive/%f %p" },
        recoveryTargetSettings: { recoveryTargetTime: "2026-01-02 03:04:05+00", recoveryTargetTimeline: "latest" },
      },
    });
    expect(parseClusterData(JSON.stringify(cd)).dbs.d1!.spec.pitrConfig).toEqual(cd.dbs.d1!.spec.pitrConfig!);
  });

  test.each(spoiled)("%s is refused, every problem named", (_n, spoil, problems) => {
    const cd = good();
    spoil(cd);
    let err: unknown;
    try {
      parseClusterData(JSON.stringify(cd));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClusterDataError);
    expect((err as Error).message).toContain("nothing in it can be acted on");
    for (const p of problems) expect((err as Error).message).toContain(p);
  });
});
