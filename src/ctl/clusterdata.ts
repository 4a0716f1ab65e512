import { checkClusterData, unknownSpecFields } from "../cluster/index.ts";
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
 *
 * What is stored is the JSON given, as given (compacted): a dump of stolon's `clusterdata read`
 * goes in with every field intact, those this version does not use included, and `clusterdata
 * read` gives it back. Its spec may hold fields this version does not know (they are named, and
 * kept); every field it knows is checked as for `stolonctl update`.
 */
export async function writeClusterData(store: Store, io: CtlIO, opts: { file?: string; yes: boolean }): Promise<void> {
  const v = await readJsonArg(io, "cluster data", undefined, opts.file ?? "-");
  if (v === undefined) throw new ConfigError("no cluster data given");
  const cd = checkClusterData(structuredClone(v), { keepUnknown: true });
  const existing = await store.getRawClusterData();
  if (existing && !opts.yes)
    throw new StolonError("EEXISTS", `cluster data already exists at ${store.basePath}: run with -y to overwrite it`);
  await store.putRawClusterData(JSON.stringify(v), existing?.revision ?? 0);
  const unknown = unknownSpecFields(cd.cluster.spec);
  if (unknown.length > 0) io.out(`spec fields this version does not use, kept as they are: ${unknown.join(", ")}`);
  io.out(`cluster data written at ${store.basePath}`);
}
