/**
 * What this project writes into etcd is readable by stolon's Go types (test/harness/stolon-go-types.ts):
 * stolon's keepers read our sentinel's cluster data during a takeover, and stolon's `stolonctl
 * clusterdata write` must accept our `clusterdata read`. No "" in a time field, durations as Go
 * duration strings, numbers in range, no type conflicts; the fields stolon does not have (Go
 * ignores them) are exactly the documented ones.
 */
import { describe, expect, test } from "bun:test";
import {
  decide,
  freshMemory,
  newClusterData,
  parseClusterData,
  type ClusterData,
  type KeeperInfo,
  type ProxyInfo,
  type SentinelMemory,
} from "../../../src/cluster/index.ts";
import { deepFreeze } from "../../harness/builders.ts";
import { loadStolonFixture, loadStolonInfos, STOLON_IDS } from "../../harness/stolon-fixtures.ts";
import { GO_CLUSTER_DATA, GO_KEEPER_INFO, GO_PROXY_INFO, fieldsGoIgnores, goDecodeProblems } from "../../harness/stolon-go-types.ts";

/**
 * Fields this project adds to stolon's format, each ignored by stolon's Go code (see the README of
 * test/fixtures/stolon): the sentinel's last decision, the operator's wipe confirmation.
 */
const ADDED_FIELDS = new Set(["lastDecision", "keepers.*.status.wipeConfirmation"]);

const WALL = Date.parse("2026-11-30T16:41:10Z");
let uids = 0;

function tick(cd: ClusterData, keepers: Record<string, unknown>, proxies: Record<string, unknown>, memory: SentinelMemory, now: number) {
  return decide({
    clusterData: deepFreeze(structuredClone(cd)),
    keepersInfo: keepers as Record<string, KeeperInfo>,
    proxiesInfo: proxies as Record<string, ProxyInfo>,
    memory,
    now,
    wallNow: WALL + now,
    sentinelUID: "s1",
    newUid: () => `fe${String(uids++).padStart(6, "0")}`,
  });
}

function expectDecodable(cd: unknown): void {
  expect(goDecodeProblems(JSON.parse(JSON.stringify(cd)), GO_CLUSTER_DATA)).toEqual([]);
  for (const f of fieldsGoIgnores(JSON.parse(JSON.stringify(cd)), GO_CLUSTER_DATA)) expect(ADDED_FIELDS).toContain(f);
}

describe("what we write decodes as stolon's ClusterData", () => {
  test("a new cluster (stolonctl init, the sentinel's --initial-cluster-spec)", () => {
    expectDecodable(newClusterData("c0ffee00", { initMode: "new", failInterval: "5s" }, new Date(WALL)));
  });

  test("a cluster missing its proxy reads with a zero proxy that decodes (never a \"\" time)", () => {
    const v = loadStolonFixture("new-cluster").json as Record<string, unknown>;
    delete v.proxy;
    const cd = parseClusterData(JSON.stringify(v));
    expect(cd.proxy.changeTime).toBe("0001-01-01T00:00:00Z");
    expectDecodable(cd);
  });

  test("the sentinel on stolon's new cluster: a keeper joins, the first master db is created", () => {
    const cd = parseClusterData(loadStolonFixture("new-cluster").text);
    const starting = loadStolonFixture("keeper-info-starting").json as Record<string, unknown>;
    const r = tick(cd, { keeper3: starting }, {}, freshMemory(), 1000);
    expect(Object.keys(r.clusterData.dbs)).toHaveLength(1);
    expectDecodable(r.clusterData);
  });

  test("the sentinel on stolon's cluster through a failover: every tick's output decodes", () => {
    let cd = parseClusterData(loadStolonFixture("normal-one-failed").text);
    const infos = loadStolonInfos("normal-one-failed");
    let memory = freshMemory();
    // keeper0 (the master) stops reporting: its info expires, keeper1's db is elected.
    const { keeper0: _gone, ...rest } = infos.keepers;
    for (let i = 1; i <= 8; i++) {
      const keepers = structuredClone(i < 3 ? infos.keepers : rest) as Record<string, Record<string, any>>;
      for (const k of Object.values(keepers)) {
        k.infoUID = `${k.infoUID}${i}`;
        // The new master converges: its keeper reports the generation it was given.
        const db = cd.dbs[k.postgresState.uid];
        if (db) k.postgresState.generation = db.generation;
      }
      const proxies = structuredClone(infos.proxies) as Record<string, Record<string, any>>;
      for (const p of Object.values(proxies)) {
        p.infoUID = `${p.infoUID}${i}`;
        p.Generation = cd.proxy.generation;
      }
      const r = tick(cd, keepers, proxies, memory, i * 1000);
      expectDecodable(r.clusterData);
      cd = r.clusterData;
      memory = r.memory;
    }
    expect(cd.cluster.status.master).toBe(STOLON_IDS.standbyDb1);
    expect(cd.proxy.spec.masterDbUid).toBe(STOLON_IDS.standbyDb1);
  });

  test("a pitr standby cluster's first db (the standby leader) decodes; only the spec's retryOnOtherKeeper is ours", () => {
    const cd = parseClusterData(loadStolonFixture("new-cluster").text);
    cd.cluster.spec = {
      initMode: "pitr",
      role: "standby",
      pitrConfig: { dataRestoreCommand: "pg_basebackup -D %d -h source", archiveRecoverySettings: { restoreCommand: "cp /a/%f %p" }, retryOnOtherKeeper: true },
      standbyConfig: { standbySettings: { primaryConninfo: "host=source", primarySlotName: "dr" } },
    };
    const starting = loadStolonFixture("keeper-info-starting").json as Record<string, unknown>;
    const r = tick(cd, { keeper3: starting }, {}, freshMemory(), 1000);
    const db = Object.values(r.clusterData.dbs)[0]!;
    expect(db.spec).toMatchObject({ initMode: "pitr", role: "standby", followConfig: { type: "external" } });
    const json = JSON.parse(JSON.stringify(r.clusterData));
    expect(goDecodeProblems(json, GO_CLUSTER_DATA)).toEqual([]);
    expect(fieldsGoIgnores(json, GO_CLUSTER_DATA).filter((f) => !ADDED_FIELDS.has(f))).toEqual(["cluster.spec.pitrConfig.retryOnOtherKeeper"]);
  });
});

/** A master's keeper info as our keeper publishes it (with --allow-trust-on-network). */
function ourMasterKeeperInfo(): KeeperInfo {
  return {
    infoUID: "a1b2c3d4",
    uid: "keeper0",
    clusterUID: STOLON_IDS.clusterUID,
    bootUUID: "0b8c5a4e-7f0e-4a4b-9a7e-3f1c2d3e4f50",
    postgresBinaryVersion: { Maj: 15, Min: 10 },
    postgresState: {
      uid: STOLON_IDS.masterDb,
      generation: 3,
      listenAddress: "127.0.0.1",
      port: "5432",
      healthy: true,
      systemID: "7442816513127403520",
      timelineID: 2,
      xLogPos: 117440880,
      timelinesHistory: [{ timelineID: 1, switchPoint: 50331648, reason: "no recovery target specified" }],
      pgParameters: { max_connections: "100" },
      synchronousStandbys: [],
      olderWalFile: "000000020000000000000003",
      receivingWal: false,
    },
    canBeMaster: true,
    canBeSynchronousReplica: true,
    trustOnNetwork: true,
  };
}

describe("our infos decode as stolon's (a stolon sentinel brought back by a rollback reads them)", () => {
  test("a keeper info as our keeper publishes it: only receivingWal and trustOnNetwork are added", () => {
    const info = ourMasterKeeperInfo();
    expect(goDecodeProblems(info, GO_KEEPER_INFO)).toEqual([]);
    expect(fieldsGoIgnores(info, GO_KEEPER_INFO).sort()).toEqual(["postgresState.receivingWal", "trustOnNetwork"]);
  });

  test("a standby's keeper info adds its replayed position (replayedXLogPos), ignored by stolon", () => {
    const master = ourMasterKeeperInfo();
    const info: KeeperInfo = {
      ...master,
      uid: "keeper1",
      postgresState: { ...master.postgresState!, uid: STOLON_IDS.standbyDb1, timelinesHistory: null, pgParameters: null, synchronousStandbys: null, receivingWal: true, replayedXLogPos: 117440000 },
    };
    delete info.trustOnNetwork;
    expect(goDecodeProblems(info, GO_KEEPER_INFO)).toEqual([]);
    expect(fieldsGoIgnores(info, GO_KEEPER_INFO).sort()).toEqual(["postgresState.receivingWal", "postgresState.replayedXLogPos"]);
  });

  test("a keeper info with a pitr restore's progress or failure adds only init, ignored by stolon", () => {
    const info: KeeperInfo = {
      ...ourMasterKeeperInfo(),
      postgresState: null,
      init: { dbUid: STOLON_IDS.masterDb, phase: "failed", since: "2026-11-30T16:41:10Z", detail: "dataRestoreCommand exited with code 2", output: "no such file\n", replayedXLogPos: 0, lastReplayTime: "2026-11-30T16:40:00Z" },
    };
    delete info.trustOnNetwork;
    expect(goDecodeProblems(info, GO_KEEPER_INFO)).toEqual([]);
    expect(fieldsGoIgnores(info, GO_KEEPER_INFO)).toEqual(["init"]);
  });

  test("a proxy info: ProxyTimeout in nanoseconds, as Go's time.Duration", () => {
    const info: ProxyInfo = { infoUID: "x", UID: STOLON_IDS.proxy, Generation: 5, ProxyTimeout: 5000 * 1e6 };
    expect(goDecodeProblems(info, GO_PROXY_INFO)).toEqual([]);
    expect(goDecodeProblems({ ...info, ProxyTimeout: "5s" }, GO_PROXY_INFO)).not.toEqual([]);
  });
});

describe("the checker catches what stolon cannot decode", () => {
  const cd = () => loadStolonFixture("normal-one-failed").json as Record<string, any>;
  const table: [string, (v: Record<string, any>) => void, string][] = [
    ["an empty time", (v) => void (v.proxy.changeTime = ""), "proxy.changeTime"],
    ["a duration in milliseconds", (v) => void (v.dbs[STOLON_IDS.masterDb].spec.requestTimeout = 10000), "requestTimeout"],
    ["a null value Duration", (v) => void (v.dbs[STOLON_IDS.masterDb].spec.requestTimeout = null), "requestTimeout"],
    ["a uint16 out of range", (v) => void (v.cluster.spec.maxStandbys = 70000), "maxStandbys"],
    ["a fraction", (v) => void (v.dbs[STOLON_IDS.masterDb].generation = 1.5), "generation"],
    ["a type conflict", (v) => void (v.keepers.keeper0.status.healthy = "yes"), "healthy"],
  ];
  test.each(table)("%s", (_n, change, where) => {
    const v = cd();
    change(v);
    expect(goDecodeProblems(v, GO_CLUSTER_DATA).join("\n")).toContain(where);
  });

  test("stolon's own fixtures decode, with no field it does not have", () => {
    for (const name of ["new-cluster", "normal-one-failed", "synchronous", "existing"]) {
      const v = loadStolonFixture(name).json;
      expect(goDecodeProblems(v, GO_CLUSTER_DATA)).toEqual([]);
      expect(fieldsGoIgnores(v, GO_CLUSTER_DATA)).toEqual([]);
    }
    for (const i of Object.values(loadStolonInfos("synchronous").keepers)) expect(fieldsGoIgnores(i, GO_KEEPER_INFO)).toEqual([]);
  });
});
