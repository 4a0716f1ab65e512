/**
 * Leader election on KvBackend primitives, as etcd's Go concurrency.Election does it: every
 * candidate creates <prefix>/<lease> under its own lease; the key with the lowest create revision
 * is the leader; the others wait for the keys before theirs to go away.
 *
 * Leadership is held only while the lease is known to be alive. The local deadline is counted from
 * the moment the last successful keep-alive was *sent*, so a leader gives up no later than etcd can
 * expire its lease, and no other candidate can be elected while this one still believes it leads.
 */
import { StoreError } from "../lib/errors.ts";
import type { Clock } from "../lib/clock.ts";
import type { KvBackend } from "./kv.ts";

export interface Leadership {
  /** Aborted (with a reason string) as soon as leadership is lost or resigned. */
  readonly signal: AbortSignal;
  /** Gives leadership up and deletes the candidate key. */
  resign(): Promise<void>;
}

export interface Election {
  /**
   * Campaigns until elected. Resolves with the leadership; rejects when `signal` aborts or the
   * campaign fails (store unavailable, lease lost while waiting).
   */
  campaign(candidate: string, signal: AbortSignal): Promise<Leadership>;
  /** The current leader's candidate value, or null when there is none. */
  leader(): Promise<string | null>;
}

export class KvElection implements Election {
  constructor(
    private readonly kv: KvBackend,
    private readonly prefix: string,
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  async leader(): Promise<string | null> {
    const entries = await this.kv.list(`${this.prefix}/`);
    entries.sort((a, b) => a.createRevision - b.createRevision);
    return entries[0]?.value ?? null;
  }

  /**
   * Long because one campaign's lease, watch, keep-alive loop and watchdog share its state (the
   * `lost` signal, the last renewal sent, the wake-up): as closures over it they read as one
   * protocol, and each piece is a few lines; split into methods they would pass that state around.
   */
  async campaign(candidate: string, signal: AbortSignal): Promise<Leadership> {
    signal.throwIfAborted();
    const ttlSeconds = Math.max(1, Math.ceil(this.ttlMs / 1000));
    const ttlMs = ttlSeconds * 1000;
    let lastRenewSent = this.clock.now();
    const lease = await this.kv.grantLease(ttlSeconds);
    const key = `${this.prefix}/${lease}`;
    const lost = new AbortController();
    let wake: () => void = () => {};
    const stopWatch = this.kv.watch(
      `${this.prefix}/`,
      (e) => {
        if (e.type === "delete" && e.key === key) lose("leader key deleted");
        wake();
      },
      () => wake(),
    );
    const lose = (reason: string) => {
      if (lost.signal.aborted) return;
      lost.abort(reason);
      stopWatch();
      wake();
      this.kv.revokeLease(lease).catch(() => {});
    };
    const onOuterAbort = () => lose("campaign aborted");
    signal.addEventListener("abort", onOuterAbort, { once: true });
    lost.signal.addEventListener("abort", () => signal.removeEventListener("abort", onOuterAbort), { once: true });

    // Keep the lease alive every third of the TTL; a watchdog gives up when it may have expired.
    const keepAliveLoop = async () => {
      while (!lost.signal.aborted) {
        try {
          await this.clock.sleep(ttlMs / 3, lost.signal);
        } catch {
          return;
        }
        const sent = this.clock.now();
        try {
          if (!(await this.kv.keepAlive(lease))) return lose("lease expired");
          lastRenewSent = sent;
        } catch {
          // The watchdog decides; a later keep-alive may still succeed in time.
        }
      }
    };
    const watchdog = async () => {
      while (!lost.signal.aborted) {
        const left = lastRenewSent + ttlMs - this.clock.now();
        if (left <= 0) return lose(`lease not renewed for ${ttlMs} ms`);
        try {
          await this.clock.sleep(left, lost.signal);
        } catch {
          return;
        }
      }
    };

    try {
      const put = await this.kv.put(key, candidate, { lease, expectModRevision: 0 });
      if (!put.ok) throw new StoreError("EELECTIONKEY", `election key ${key} already exists`);
      void keepAliveLoop();
      void watchdog();
      for (;;) {
        if (lost.signal.aborted) throw new StoreError("ECAMPAIGNENDED", `campaign ended: ${String(lost.signal.reason)}`);
        const changed = new Promise<void>((resolve) => (wake = resolve));
        const entries = await this.kv.list(`${this.prefix}/`);
        entries.sort((a, b) => a.createRevision - b.createRevision);
        if (!entries.some((e) => e.key === key)) {
          lose("candidate key vanished");
          continue;
        }
        if (entries[0]?.key === key) break;
        // Wait for a change under the prefix; poll as a safety net for a missed watch event.
        await Promise.race([changed, this.clock.sleep(ttlMs / 2, lost.signal).catch(() => {})]);
      }
    } catch (err) {
      lose("campaign failed");
      throw err;
    }

    return {
      signal: lost.signal,
      resign: async () => {
        if (lost.signal.aborted) return;
        lost.abort("resigned");
        stopWatch();
        await this.kv.revokeLease(lease);
      },
    };
  }
}
