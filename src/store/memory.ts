/**
 * An in-memory KvBackend with etcd's semantics (revisions, compare-and-swap, leases with TTL,
 * prefix watches) on an injected clock. Used by unit tests of everything that takes a Store;
 * `setAvailable(false)` simulates an unreachable store.
 */
import { LeaseExpiredError, StoreUnavailableError } from "../lib/errors.ts";
import { systemClock, type Clock } from "../lib/clock.ts";
import type { KvBackend, KvEntry, PutOptions, WatchEvent } from "./kv.ts";

interface Watcher {
  prefix: string;
  onEvent: (e: WatchEvent) => void;
}

export class MemoryBackend implements KvBackend {
  readonly description = "in-memory store";
  private readonly data = new Map<string, KvEntry>();
  private readonly leases = new Map<string, { ttlMs: number; expiresAt: number }>();
  private readonly watchers = new Set<Watcher>();
  private revision = 1;
  private nextLease = 0x1000;
  private available = true;
  private readonly stop = new AbortController();

  constructor(private readonly clock: Clock = systemClock) {
    void this.sweepLoop();
  }

  /** Simulates an outage: while unavailable every call throws StoreUnavailableError. */
  setAvailable(available: boolean): void {
    this.available = available;
  }

  async get(key: string): Promise<KvEntry | null> {
    this.enter();
    const e = this.data.get(key);
    return e ? { ...e } : null;
  }

  async list(prefix: string): Promise<KvEntry[]> {
    this.enter();
    return [...this.data.values()]
      .filter((e) => e.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((e) => ({ ...e }));
  }

  async put(key: string, value: string, opts: PutOptions = {}): Promise<{ ok: boolean; revision: number }> {
    this.enter();
    const cur = this.data.get(key);
    if (opts.expectModRevision !== undefined && (cur?.modRevision ?? 0) !== opts.expectModRevision)
      return { ok: false, revision: this.revision };
    const lease = opts.lease ?? "0";
    if (lease !== "0" && !this.leases.has(lease)) throw new LeaseExpiredError(`lease ${lease} not found (expired or revoked)`);
    this.revision++;
    this.data.set(key, {
      key,
      value,
      createRevision: cur?.createRevision ?? this.revision,
      modRevision: this.revision,
      lease,
    });
    this.emit({ type: "put", key, value });
    return { ok: true, revision: this.revision };
  }

  async delete(key: string): Promise<void> {
    this.enter();
    this.remove(key);
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    this.enter();
    const id = (this.nextLease++).toString();
    this.leases.set(id, { ttlMs: ttlSeconds * 1000, expiresAt: this.clock.now() + ttlSeconds * 1000 });
    return id;
  }

  async keepAlive(lease: string): Promise<boolean> {
    this.enter();
    const l = this.leases.get(lease);
    if (!l) return false;
    l.expiresAt = this.clock.now() + l.ttlMs;
    return true;
  }

  async leaseTimeToLive(lease: string): Promise<{ ttlSeconds: number; grantedSeconds: number } | null> {
    this.enter();
    const l = this.leases.get(lease);
    if (!l) return null;
    // Truncated to whole seconds, as etcd reports it.
    return { ttlSeconds: Math.floor((l.expiresAt - this.clock.now()) / 1000), grantedSeconds: l.ttlMs / 1000 };
  }

  async revokeLease(lease: string): Promise<void> {
    this.enter();
    this.dropLease(lease);
  }

  watch(prefix: string, onEvent: (e: WatchEvent) => void): () => void {
    const w: Watcher = { prefix, onEvent };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.watchers.clear();
  }

  private enter(): void {
    if (!this.available) throw new StoreUnavailableError("in-memory store is unavailable (simulated outage)");
    this.sweep();
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [id, l] of this.leases) if (l.expiresAt <= now) this.dropLease(id);
  }

  private async sweepLoop(): Promise<void> {
    while (!this.stop.signal.aborted) {
      try {
        await this.clock.sleep(50, this.stop.signal);
      } catch {
        return;
      }
      this.sweep();
    }
  }

  private dropLease(id: string): void {
    if (!this.leases.delete(id)) return;
    for (const e of [...this.data.values()]) if (e.lease === id) this.remove(e.key);
  }

  private remove(key: string): void {
    if (!this.data.delete(key)) return;
    this.revision++;
    this.emit({ type: "delete", key, value: null });
  }

  private emit(e: WatchEvent): void {
    for (const w of this.watchers) {
      if (!e.key.startsWith(w.prefix)) continue;
      // Delivered asynchronously, as a real watch is.
      queueMicrotask(() => w.onEvent(e));
    }
  }
}
