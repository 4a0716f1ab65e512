import { withDefaults, type ClusterData, type ClusterSpec } from "../cluster/index.ts";
import { StolonError } from "../lib/errors.ts";
import type { Store, VersionedClusterData } from "../store/index.ts";
import type { CtlIO } from "./io.ts";

/** Reads the cluster data or fails with an error that says how to create it. */
export async function requireClusterData(store: Store): Promise<VersionedClusterData> {
  const cd = await store.getClusterData();
  if (!cd) throw new StolonError("ENOCLUSTER", `no cluster data at ${store.basePath}: initialize the cluster with "stolonctl init"`);
  return cd;
}

export function renderSpec(cd: ClusterData, defaults: boolean): string {
  const spec: ClusterSpec = defaults ? withDefaults(cd.cluster.spec) : cd.cluster.spec;
  return JSON.stringify(spec, null, 2);
}

/** `stolonctl spec [--defaults]`. */
export async function showSpec(store: Store, io: CtlIO, opts: { defaults: boolean }): Promise<void> {
  const { clusterData } = await requireClusterData(store);
  io.out(renderSpec(clusterData, opts.defaults));
}
