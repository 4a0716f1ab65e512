/**
 * Cluster data builders shared by the unit tests of the daemons (sentinel, proxy): each case
 * states only what differs from a steady two-keeper cluster.
 */
import type { ClusterData, ClusterSpec, DB } from "../../src/cluster/index.ts";

export function makeDb(uid: string, keeperUID: string, role: "master" | "standby", o: { followers?: string[]; xlog: number; port?: number }): DB {
  return {
    uid,
    generation: 1,
    changeTime: "",
    spec: {
      keeperUID,
      requestTimeout: "10s",
      maxStandbys: 20,
      synchronousReplication: false,
      usePgrewind: false,
      additionalWalSenders: 5,
      additionalReplicationSlots: [],
      initMode: "none",
      pgParameters: {},
      pgHBA: null,
      role,
      followConfig: role === "master" ? null : { type: "internal", dbuid: "m" },
      followers: o.followers ?? [],
      synchronousStandbys: [],
      externalSynchronousStandbys: [],
    },
    status: {
      healthy: true,
      currentGeneration: 1,
      listenAddress: "127.0.0.1",
      port: String(o.port ?? 5432),
      systemdID: "sys1",
      timelineID: 1,
      xLogPos: o.xlog,
      synchronousStandbys: [],
      olderWalFile: "000000010000000000000001",
      timelinesHistory: null,
      pgParameters: {},
    },
  };
}

/** Master m on keeper k1, standby s on k2, both healthy and converged, proxies routed to m. */
export function steadyCluster(spec: Partial<ClusterSpec> = {}, o: { masterPort?: number; enabledProxies?: string[] } = {}): ClusterData {
  const keeper = (uid: string) => ({
    uid,
    generation: 1,
    changeTime: "",
    spec: {},
    status: { healthy: true, bootUUID: `boot-${uid}`, postgresBinaryVersion: { Maj: 15, Min: 18 }, canBeMaster: true, canBeSynchronousReplica: true },
  });
  return {
    formatVersion: 1,
    changeTime: "",
    cluster: {
      uid: "c1",
      generation: 1,
      changeTime: "",
      spec: { initMode: "new", convergenceTimeout: "30s", pgParameters: {}, ...spec },
      status: { phase: "normal", master: "m" },
    },
    keepers: { k1: keeper("k1"), k2: keeper("k2") },
    dbs: { m: makeDb("m", "k1", "master", { followers: ["s"], xlog: 2000, port: o.masterPort }), s: makeDb("s", "k2", "standby", { xlog: 2000 }) },
    proxy: { generation: 1, changeTime: "", spec: { masterDbUid: "m", enabledProxies: o.enabledProxies ?? [] }, status: {} },
  } as ClusterData;
}

