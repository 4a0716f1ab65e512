/**
 * The few key-value primitives the store needs. Two implementations: etcd v3 (etcd.ts) and an
 * in-memory one with the same semantics on an injected clock (memory.ts). Everything above
 * (Store, Election) is written once against this interface, and one contract test suite checks
 * both implementations.
 *
 * All methods throw StoreUnavailableError when the store does not answer, LeaseExpiredError when
 * a write names a lease that no longer exists, StoreError otherwise.
 */
export interface KvEntry {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** Lease id, or "0" when none. */
  lease: string;
}

export interface WatchEvent {
  type: "put" | "delete";
  key: string;
  /** New value for puts; null for deletes. */
  value: string | null;
}

export interface PutOptions {
  lease?: string;
  /** Compare-and-swap: the key's current mod revision must equal this; 0 means it must not exist. */
  expectModRevision?: number;
}

export interface KvBackend {
  /** A human description of where the store is, for error messages. */
  readonly description: string;
  get(key: string): Promise<KvEntry | null>;
  /** Every key that starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<KvEntry[]>;
  /** Returns whether the write happened (false only when expectModRevision did not match). */
  put(key: string, value: string, opts?: PutOptions): Promise<{ ok: boolean; revision: number }>;
  delete(key: string): Promise<void>;
  /** Grants a lease; keys put with it vanish `ttlSeconds` after the last keep-alive. */
  grantLease(ttlSeconds: number): Promise<string>;
  /** Renews a lease; returns false when it no longer exists (expired or revoked). */
  keepAlive(lease: string): Promise<boolean>;
  /**
   * A lease's remaining and granted TTL in whole seconds, as etcd reports them (the remaining TTL
   * truncated: a 3 s lease reads 2 right after a keep-alive); null when the lease no longer exists.
   * etcd answers it from the leader's lease table, without a raft proposal.
   */
  leaseTimeToLive(lease: string): Promise<{ ttlSeconds: number; grantedSeconds: number } | null>;
  /** Revokes a lease and deletes its keys. Revoking an unknown lease is not an error. */
  revokeLease(lease: string): Promise<void>;
  /**
   * Calls `onEvent` for every change under `prefix` from now on; `onError` when the watch had to
   * be re-established (events may have been missed, so the caller should re-read).
   * Returns a function that cancels the watch.
   */
  watch(prefix: string, onEvent: (e: WatchEvent) => void, onError?: (err: Error) => void): () => void;
  close(): Promise<void>;
}
