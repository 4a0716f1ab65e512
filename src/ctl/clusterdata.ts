import { checkClusterData } from "../cluster/index.ts";
import { ClusterDataError, ConfigError, StolonError, describeError } from "../lib/errors.ts";
import type { Store } from "../store/index.ts";
import { readJsonArg, type CtlIO } from "./io.ts";

/** `stolonctl clusterdata read [--pretty]`: the stored bytes, as they are (also when unusable). */
export async function readClusterData(store: Store, io: CtlIO, opts: { pretty: boolean }): Promise<void> {
  const raw = await store.getRawClusterData();
  if (!raw) throw new StolonError("ENOCLUSTER", `no cluster data at ${store.basePath}`);
  if (!opts.pretty) return io.out(raw.value);
  let v: unknown;
  try {
    v = JSON.parse(raw.value);
  } catch (err) {
    throw new ClusterDataError(`cluster data is not valid JSON (${describeError(err)}); read it without --pretty`, { cause: err });
  }
  io.out(JSON.stringify(v, null, 2));
}

/**
 * `stolonctl clusterdata write [-f file|-] [-y]`: replaces the cluster data with a checked value.
 * This is the repair path (also over garbage), so it refuses to replace existing data without -y.
 */
export async function writeClusterData(store: Store, io: CtlIO, opts: { file?: string; yes: boolean }): Promise<void> {
  const v = await readJsonArg(io, "cluster data", undefined, opts.file ?? "-");
  if (v === undefined) throw new ConfigError("no cluster data given");
  const cd = checkClusterData(v);
  const existing = await store.getRawClusterData();
  if (existing && !opts.yes)
    throw new StolonError("EEXISTS", `cluster data already exists at ${store.basePath}: run with -y to overwrite it`);
  await store.putClusterData(cd, existing?.revision ?? 0);
  io.out(`cluster data written at ${store.basePath}`);
}
