import { newClusterData, parseSpec } from "../cluster/index.ts";
import { ConfigError, StolonError } from "../lib/errors.ts";
import type { Store } from "../store/index.ts";
import { readJsonArg, type CtlIO } from "./io.ts";

export interface InitOptions {
  spec?: string;
  file?: string;
  yes: boolean;
  /** Create the cluster only if none exists; an existing one is left as it is (exit 0). */
  ifAbsent?: boolean;
}

/**
 * `stolonctl init`: writes a new cluster in phase "initializing". Without -y it asks first, and it
 * refuses outright when a cluster already exists. The write is a compare-and-swap against what was
 * read, so a concurrent init or sentinel write is never silently overwritten. With --if-absent
 * it never asks and never replaces anything: a one-shot init (docker compose, Kubernetes) that
 * is safe to run again.
 */
export async function initCluster(store: Store, io: CtlIO, opts: InitOptions): Promise<void> {
  const raw = (await readJsonArg(io, "cluster spec", opts.spec, opts.file)) ?? { initMode: "new" };
  const spec = parseSpec(raw);
  const existing = await store.getRawClusterData();
  if (opts.ifAbsent) {
    if (existing) {
      io.out(`a cluster already exists at ${store.basePath}: left as it is (--if-absent)`);
      return;
    }
    const cd = newClusterData(io.newUid(), spec, io.now());
    await store.putClusterData(cd, 0);
    io.out(`cluster initialized at ${store.basePath} (uid ${cd.cluster.uid}, initMode ${spec.initMode})`);
    return;
  }
  if (existing && !opts.yes)
    throw new StolonError(
      "EEXISTS",
      `a cluster already exists at ${store.basePath}; re-initializing discards its cluster data: run with -y to do it`,
    );
  if (!opts.yes && !(await io.confirm(`Initialize a new cluster at ${store.basePath}? [y/N] `)))
    throw new ConfigError("not confirmed: nothing written (use -y to skip the question)");
  const cd = newClusterData(io.newUid(), spec, io.now());
  await store.putClusterData(cd, existing?.revision ?? 0);
  io.out(`cluster initialized at ${store.basePath} (uid ${cd.cluster.uid}, initMode ${spec.initMode})`);
}
