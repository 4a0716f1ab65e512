/**
 * Creating, parsing and checking ClusterData. Every reader goes through parseClusterData before it
 * acts, so an unknown formatVersion, a wrong shape or an invalid spec is refused with a message
 * that names the problem.
 */
import { ClusterDataError } from "../lib/errors.ts";
import { validateSpec, type ClusterSpec } from "./spec.ts";
import { CURRENT_FORMAT_VERSION, type ClusterData, type DB } from "./types.ts";

/** A new cluster in phase "initializing" (stolon's NewClusterData(NewCluster(uid, spec))). */
export function newClusterData(uid: string, spec: ClusterSpec, now: Date): ClusterData {
  const t = now.toISOString();
  return {
    formatVersion: CURRENT_FORMAT_VERSION,
    changeTime: t,
    cluster: { uid, generation: 1, changeTime: t, spec: structuredClone(spec), status: { phase: "initializing" } },
    keepers: {},
    dbs: {},
    proxy: { generation: 1, changeTime: t, spec: {}, status: {} },
  };
}

/** The master's DB, when the cluster has one. */
export function masterDb(cd: ClusterData): DB | undefined {
  const uid = cd.cluster.status.master;
  return uid ? cd.dbs[uid] : undefined;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Checks a decoded value and returns it typed; throws ClusterDataError naming the first defect. */
export function checkClusterData(v: unknown): ClusterData {
  if (!isObj(v)) throw new ClusterDataError("cluster data is not a JSON object");
  if (v.formatVersion !== CURRENT_FORMAT_VERSION)
    throw new ClusterDataError(
      `unsupported cluster data formatVersion ${JSON.stringify(v.formatVersion)} (this version understands ${CURRENT_FORMAT_VERSION})`,
    );
  const cluster = v.cluster;
  if (!isObj(cluster)) throw new ClusterDataError("cluster data has no cluster object");
  if (typeof cluster.uid !== "string" || cluster.uid === "") throw new ClusterDataError("cluster data has no cluster.uid");
  if (!isObj(cluster.status)) throw new ClusterDataError("cluster data has no cluster.status object");
  const problems = validateSpec(cluster.spec);
  if (problems.length > 0) throw new ClusterDataError(`cluster data has an invalid spec: ${problems.join("; ")}`);
  for (const key of ["keepers", "dbs"] as const) {
    const m = v[key];
    if (m === undefined || m === null) v[key] = {};
    else if (!isObj(m)) throw new ClusterDataError(`cluster data field "${key}" is not an object`);
    else
      for (const [uid, item] of Object.entries(m))
        if (!isObj(item) || !isObj(item.spec) || !isObj(item.status))
          throw new ClusterDataError(`cluster data ${key}.${uid} is not a valid object (needs spec and status)`);
  }
  if (v.proxy === undefined || v.proxy === null) v.proxy = { generation: 0, changeTime: "", spec: {}, status: {} };
  else if (!isObj(v.proxy) || !isObj(v.proxy.spec)) throw new ClusterDataError("cluster data field \"proxy\" is not a valid object");
  return v as unknown as ClusterData;
}

/** Decodes stored bytes; throws ClusterDataError for garbage, unknown versions and invalid specs. */
export function parseClusterData(text: string): ClusterData {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ClusterDataError(`cluster data is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  return checkClusterData(v);
}
