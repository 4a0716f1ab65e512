/**
 * Keeper and proxy infos as the daemons publish them, derived from the cluster data a test built
 * (test/harness/builders.ts): each case overrides only what matters. Frozen.
 */
import type { ClusterData, KeeperInfo, PostgresState, ProxyInfo } from "../../src/cluster/index.ts";
import { deepFreeze } from "./builders.ts";

/** The info of keeper `uid`, reporting the db it holds in `cd` as converged and healthy. */
export function keeperInfoFor(cd: ClusterData, uid: string, over: Partial<KeeperInfo> & { pg?: Partial<PostgresState> } = {}): KeeperInfo {
  const d = Object.values(cd.dbs).find((x) => x.spec.keeperUID === uid);
  const { pg, ...rest } = over;
  return deepFreeze({
    infoUID: `i-${uid}`,
    uid,
    clusterUID: cd.cluster.uid,
    bootUUID: `boot-${uid}`,
    postgresBinaryVersion: { Maj: 15, Min: 18 },
    canBeMaster: true,
    canBeSynchronousReplica: true,
    postgresState: {
      uid: d?.uid ?? "",
      generation: d?.status.currentGeneration ?? 0,
      listenAddress: "127.0.0.1",
      port: d?.status.port ?? "5432",
      healthy: d ? (d.status.healthy ?? true) : false,
      systemID: d?.status.systemdID ?? "",
      timelineID: d?.status.timelineID ?? 0,
      xLogPos: d?.status.xLogPos ?? 0,
      timelinesHistory: d?.status.timelinesHistory ?? null,
      pgParameters: d?.status.pgParameters ?? {},
      synchronousStandbys: null,
      olderWalFile: d?.status.olderWalFile ?? "000000010000000000000001",
      ...pg,
    },
    ...rest,
  });
}

/** Infos for every keeper of `cd` except those in `missing`. */
export function keeperInfosFor(cd: ClusterData, missing: string[] = []): Record<string, KeeperInfo> {
  return Object.fromEntries(Object.keys(cd.keepers).filter((k) => !missing.includes(k)).map((k) => [k, keeperInfoFor(cd, k)]));
}

export function proxyInfo(uid: string, generation: number, over: Partial<ProxyInfo> = {}): ProxyInfo {
  return deepFreeze({ infoUID: `p-${uid}`, UID: uid, Generation: generation, ProxyTimeout: 15e9, ...over });
}
