/**
 * Where a proxy routes (reference §5.2): to the master's advertised address, only when this proxy
 * is enabled and masterDbUid names a DB with an address. Pure.
 */
import { own } from "./info-check.ts";
import type { ClusterData, DB } from "./types.ts";

export interface ProxyTarget {
  dbUid: string;
  host: string;
  port: number;
}

export interface ProxyRoute {
  target: ProxyTarget | null;
  /** The proxy generation to acknowledge once the target is applied (0 without cluster data). */
  generation: number;
  /** Why there is no target (for logs). */
  reason: string;
}

export function proxyRoute(cd: ClusterData | null, proxyUid: string): ProxyRoute {
  if (!cd) return { target: null, generation: 0, reason: "no cluster data" };
  const generation = cd.proxy.generation;
  const uid = cd.proxy.spec.masterDbUid;
  if (!uid) return { target: null, generation, reason: "no master is routed (failover in progress or cluster initializing)" };
  // own(): a masterDbUid such as "constructor" must not find Object.prototype's member.
  const db = own(cd.dbs, uid);
  if (!db) return { target: null, generation, reason: `masterDbUid ${uid} names no db` };
  const target = dbTarget(db);
  if (!target) return { target: null, generation, reason: `master db ${uid} has no valid address yet` };
  if (!(cd.proxy.spec.enabledProxies ?? []).includes(proxyUid))
    return { target: null, generation, reason: `this proxy (${proxyUid}) is not enabled yet` };
  return { target, generation, reason: "" };
}

/** The address a db advertises in its status, as a target; null without a listen address and a port 1..65535. */
export function dbTarget(db: DB): ProxyTarget | null {
  const port = Number(db.status.port);
  if (!db.status.listenAddress || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { dbUid: db.uid, host: db.status.listenAddress, port };
}

export function sameTarget(a: ProxyTarget | null, b: ProxyTarget | null): boolean {
  if (a === null || b === null) return a === b;
  return a.dbUid === b.dbUid && a.host === b.host && a.port === b.port;
}
