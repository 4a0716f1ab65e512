/**
 * The one set of cluster-data builders, for unit and integration tests alike: each case states
 * only what differs from a plain DB or a steady cluster. `deepFreeze` makes a builder's result
 * immutable, so a brain (decide, planKeeper) that mutates its input throws.
 */
import type { ClusterData, ClusterSpec, DB, DBSpec, Keeper, KeeperStatus } from "../../src/cluster/index.ts";
import { withDefaults } from "../../src/cluster/index.ts";
import type { Store } from "../../src/store/index.ts";

/** Freezes `o` and everything reachable from it; returns it. */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * A DB of keeper `spec.keeperUID`: the spec is the usual defaults (10s request timeout, 20 standbys,
 * asynchronous, no pg_rewind, 5 extra WAL senders, initMode none, no followers) with `spec` over
 * them; `o` sets anything else (generation 1, changeTime "" and an empty status unless given).
 */
export function makeDb(uid: string, spec: Partial<DBSpec> & Pick<DBSpec, "keeperUID">, o: Partial<DB> = {}): DB {
  return {
    uid,
    generation: 1,
    changeTime: "",
    spec: { requestTimeout: "10s", maxStandbys: 20, synchronousReplication: false, usePgrewind: false, additionalWalSenders: 5, initMode: "none", followers: [], ...spec },
    status: {},
    ...o,
  } as DB;
}

/** A DB with the spec fields a sentinel would copy from the cluster spec (as a sentinel writes it, now). */
export function makeDbFromSpec(
  spec: ClusterSpec,
  d: Pick<DBSpec, "keeperUID" | "role" | "initMode"> & Partial<DBSpec> & { uid: string; generation?: number },
): DB {
  const s = withDefaults(spec);
  const { uid, generation, ...rest } = d;
  return makeDb(
    uid,
    {
      requestTimeout: s.requestTimeout,
      maxStandbys: s.maxStandbys,
      synchronousReplication: s.synchronousReplication,
      usePgrewind: s.usePgrewind,
      additionalWalSenders: s.additionalWalSenders,
      additionalReplicationSlots: s.additionalMasterReplicationSlots,
      pgParameters: s.pgParameters,
      pgHBA: s.pgHBA,
      ...rest,
    },
    { generation: generation ?? 1, changeTime: new Date().toISOString() },
  );
}

/** Cluster data with no keepers and no DBs yet (phase normal), as a test seeds it before keepers start. */
export function makeClusterData(uid: string, spec: ClusterSpec): ClusterData {
  const now = new Date().toISOString();
  return {
    formatVersion: 1,
    changeTime: now,
    cluster: { uid, generation: 1, changeTime: now, spec, status: { phase: "normal" } },
    keepers: {},
    dbs: {},
    proxy: { generation: 1, changeTime: now, spec: {}, status: {} },
  };
}

/** A healthy, converged DB of the steady cluster below (its standby follows "m"). */
export function steadyDb(uid: string, keeperUID: string, role: "master" | "standby", o: { followers?: string[]; xlog: number; port?: number }): DB {
  return makeDb(
    uid,
    {
      keeperUID,
      additionalReplicationSlots: [],
      pgParameters: {},
      pgHBA: null,
      role,
      followConfig: role === "master" ? null : { type: "internal", dbuid: "m" },
      followers: o.followers ?? [],
      synchronousStandbys: [],
      externalSynchronousStandbys: [],
    },
    {
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
    },
  );
}

/** A healthy keeper as the sentinel records it, PostgreSQL 15, may be master and synchronous standby. */
export function makeKeeper(uid: string, status: Partial<KeeperStatus> = {}): Keeper {
  return {
    uid,
    generation: 1,
    changeTime: "",
    spec: {},
    status: { healthy: true, bootUUID: `boot-${uid}`, postgresBinaryVersion: { Maj: 15, Min: 18 }, canBeMaster: true, canBeSynchronousReplica: true, ...status },
  };
}

/** Master m on keeper k1, standby s on k2, both healthy and converged, proxies routed to m. */
export function steadyCluster(spec: Partial<ClusterSpec> = {}, o: { masterPort?: number; enabledProxies?: string[] } = {}): ClusterData {
  const keeper = (uid: string) => makeKeeper(uid);
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
    dbs: { m: steadyDb("m", "k1", "master", { followers: ["s"], xlog: 2000, port: o.masterPort }), s: steadyDb("s", "k2", "standby", { xlog: 2000 }) },
    proxy: { generation: 1, changeTime: "", spec: { masterDbUid: "m", enabledProxies: o.enabledProxies ?? [] }, status: {} },
  } as ClusterData;
}

/** The cluster data in the store now; throws when there is none (a test reads it once the cluster exists). */
export async function readClusterData(store: Store): Promise<ClusterData> {
  const r = await store.getClusterData();
  if (!r) throw new Error("no cluster data in the store");
  return r.clusterData;
}
