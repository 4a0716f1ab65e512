import type { CommonConfig } from "../lib/config.ts";
import { ConfigError, describeError } from "../lib/errors.ts";
import type { Election } from "./election.ts";
import { EtcdBackend } from "./etcd.ts";
import { KvStore, type Store } from "./store.ts";

export interface OpenedStore {
  store: Store;
  /** The sentinel leader election, on <base>/sentinel-leader with the given session TTL. */
  election(ttlMs: number): Election;
}

/** Connects to the store named by the common flags. Connecting is lazy: nothing is sent yet. */
export function openStore(cfg: CommonConfig): OpenedStore {
  let backend: EtcdBackend;
  try {
    backend = new EtcdBackend({
      endpoints: cfg.storeEndpoints,
      timeoutMs: cfg.storeTimeoutMs,
      certFile: cfg.storeCertFile,
      keyFile: cfg.storeKeyFile,
      caFile: cfg.storeCaFile,
      skipTlsVerify: cfg.storeSkipTlsVerify,
    });
  } catch (err) {
    throw new ConfigError(`cannot set up the etcd client: ${describeError(err)}`, { cause: err });
  }
  const store = new KvStore(backend, { prefix: cfg.storePrefix, clusterName: cfg.clusterName });
  return {
    store,
    election: (ttlMs) => store.sentinelElection(ttlMs),
  };
}
