/**
 * The cluster's store: cluster data written by compare-and-swap, component infos under leases,
 * a prefix watch. Keys (stolon's etcd v3 layout), with base = <store-prefix>/<cluster-name>:
 *
 *   <base>/clusterdata               ClusterData JSON, compare-and-swap on the mod revision
 *   <base>/keepers/info/<uid>        KeeperInfo under a lease
 *   <base>/sentinels/info/<uid>      SentinelInfo under a lease
 *   <base>/proxies/info/<uid>        ProxyInfo under a lease
 *   <base>/sentinel-leader/<lease>   election candidates (see election.ts)
 */
import { posix } from "node:path";
import {
  checkKeeperInfo,
  checkProxyInfo,
  checkSentinelInfo,
  parseClusterData,
  uidRecord,
  type ClusterData,
  type InfoKind,
  type InvalidInfo,
  type KeeperInfo,
  type ProxyInfo,
  type SentinelInfo,
} from "../cluster/index.ts";
import { systemClock, type Clock } from "../lib/clock.ts";
import { KeyModifiedError, LeaseExpiredError } from "../lib/errors.ts";
import { KvElection, type Election } from "./election.ts";
import type { KvBackend } from "./kv.ts";

export interface VersionedClusterData {
  clusterData: ClusterData;
  /** Mod revision to pass back to putClusterData. */
  revision: number;
}

/**
 * Infos found under a prefix, checked (src/cluster/info-check.ts). `items` is a null-prototype
 * record by uid; entries that could not be decoded or failed their check are left out of it and
 * named in `invalid`.
 */
export interface InfoList<T> {
  items: Record<string, T>;
  invalid: InvalidInfo[];
  /** The lease each listed key (valid or not) lives under, by uid: for leaseSilenceMs. */
  leases: Record<string, string>;
}

/**
 * What etcd's lease table says about the last renewal of a lease whose remaining and granted TTL
 * are `ttlSeconds` and `grantedSeconds` (whole seconds, the remaining one truncated): it was more
 * than this many milliseconds ago. A lease renewed at L, read at t, has t - L in
 * (granted - ttl - 1, granted - ttl] seconds, so the bound is 0 until a whole second has passed,
 * then 1000 until two have, and so on. Never more than the truth, whatever the clocks: a reader
 * that acts once the bound passes a delay acts after it. A remaining TTL above the granted one (a
 * new etcd leader extends every lease) reads 0.
 */
export function leaseSilenceMs(ttlSeconds: number, grantedSeconds: number): number {
  return Math.max(0, grantedSeconds - ttlSeconds - 1) * 1000;
}

/**
 * Reads the lease of every info in `list` (Store.leaseSilenceMs; no raft proposal) and returns
 * each one's silence by uid. An info whose lease no longer exists is taken out of `list.items`, as
 * its key is about to be. A read that fails is left out of `silences` and named in `failed`: what
 * an unknown silence means is the caller's to say.
 */
export async function readInfoSilences<T>(
  store: Pick<Store, "leaseSilenceMs">,
  list: InfoList<T>,
): Promise<{ silences: Record<string, number>; failed: { uid: string; err: unknown }[] }> {
  const silences = uidRecord<number>();
  const failed: { uid: string; err: unknown }[] = [];
  await Promise.all(
    Object.entries(list.leases).map(async ([uid, lease]) => {
      try {
        const silence = await store.leaseSilenceMs(lease);
        if (silence === null) delete list.items[uid];
        else silences[uid] = silence;
      } catch (err) {
        failed.push({ uid, err });
      }
    }),
  );
  return { silences, failed };
}

/** An unchanged info is written again (a put, a proposal) at most this long after its last write, so one deleted by hand comes back. */
export const INFO_REWRITE_MS = 60_000;

export interface Store {
  readonly description: string;
  readonly basePath: string;
  /**
   * The cluster data and its revision, or null when absent.
   * @throws ClusterDataError when the stored value is garbage, of an unknown formatVersion or has an invalid spec
   * @throws StoreUnavailableError when the store does not answer
   */
  getClusterData(): Promise<VersionedClusterData | null>;
  /** The stored bytes, undecoded (for `clusterdata read` and repair). */
  getRawClusterData(): Promise<{ value: string; revision: number } | null>;
  /**
   * Compare-and-swap write: succeeds only if the key's revision is still `prevRevision`
   * (0 = the key must not exist). Returns the new revision.
   * @throws KeyModifiedError when the key changed since it was read
   */
  putClusterData(cd: ClusterData, prevRevision: number): Promise<number>;
  /** Same as putClusterData for an already validated raw value. */
  putRawClusterData(value: string, prevRevision: number): Promise<number>;
  /**
   * Publishes an info under the component's lease: a put when it differs from the last one written
   * (or INFO_REWRITE_MS passed), else a lease keep-alive alone, which costs etcd no raft proposal.
   * Either way the lease is renewed: the key vanishes one TTL after the last successful call.
   * Returns "written" or "renewed".
   */
  setKeeperInfo(info: KeeperInfo, ttlMs: number): Promise<InfoPublish>;
  /** Deletes a keeper's info at once (a keeper that stops), revoking its lease. */
  deleteKeeperInfo(uid: string): Promise<void>;
  getKeepersInfo(): Promise<InfoList<KeeperInfo>>;
  setSentinelInfo(info: SentinelInfo, ttlMs: number): Promise<InfoPublish>;
  /** A sentinel that stops says so at once, instead of leaving its info to its lease. */
  deleteSentinelInfo(uid: string): Promise<void>;
  getSentinelsInfo(): Promise<InfoList<SentinelInfo>>;
  setProxyInfo(info: ProxyInfo, ttlMs: number): Promise<InfoPublish>;
  getProxiesInfo(): Promise<InfoList<ProxyInfo>>;
  /** A proxy that has stopped routing says so at once, instead of letting its info expire. */
  deleteProxyInfo(uid: string): Promise<void>;
  /**
   * A lower bound of the time since the lease `lease` (from InfoList.leases) was last renewed, in
   * ms (see leaseSilenceMs: whole seconds); null when the lease no longer exists.
   */
  leaseSilenceMs(lease: string): Promise<number | null>;
  /** Calls onChange(key) for every change under the base path. Returns a cancel function. */
  watch(onChange: (key: string) => void, onError?: (err: Error) => void): () => void;
  /**
   * Calls onChange() whenever the cluster data key changes (a watch of that key alone, so no
   * caller needs to know it). Returns a cancel function.
   */
  watchClusterData(onChange: () => void, onError?: (err: Error) => void): () => void;
  /** The sentinel leader election on <base>/sentinel-leader, with the given session TTL. */
  sentinelElection(ttlMs: number, clock?: Clock): Election;
  close(): Promise<void>;
}

export interface StoreLocation {
  prefix: string;
  clusterName: string;
}

export function storeBasePath(loc: StoreLocation): string {
  return posix.join(loc.prefix, loc.clusterName);
}

type InfoDir = "keepers" | "sentinels" | "proxies";
export type InfoPublish = "written" | "renewed";
type Check<T> = (v: unknown, keyUid: string) => { ok: true; info: T } | { ok: false; invalid: InvalidInfo };

export class KvStore implements Store {
  readonly basePath: string;
  private readonly clusterDataKey: string;
  private readonly sentinelLeaderPrefix: string;
  /**
   * The lease each info key is written under: granted by the first write, kept alive by every
   * later one, replaced only when it expired or the TTL changed.
   */
  private readonly infoLeases = new Map<string, { id: string; ttlSeconds: number; value: string; writtenAt: number }>();

  constructor(
    private readonly kv: KvBackend,
    loc: StoreLocation,
    private readonly clock: Clock = systemClock,
  ) {
    this.basePath = storeBasePath(loc);
    this.clusterDataKey = `${this.basePath}/clusterdata`;
    this.sentinelLeaderPrefix = `${this.basePath}/sentinel-leader`;
  }

  /**
   * A watch of the cluster data key alone (etcd's prefix range of the key, which no other key of
   * the layout starts with), not of the cluster's prefix filtered here: a keeper or a proxy is then
   * sent one event per cluster data change instead of one per report of every component.
   */
  watchClusterData(onChange: () => void, onError?: (err: Error) => void): () => void {
    const key = this.clusterDataKey;
    return this.kv.watch(key, (e) => {
      if (e.key === key) onChange();
    }, onError);
  }

  sentinelElection(ttlMs: number, clock: Clock = systemClock): Election {
    return new KvElection(this.kv, this.sentinelLeaderPrefix, clock, ttlMs);
  }

  get description(): string {
    return `${this.kv.description}, cluster path ${this.basePath}`;
  }

  async getClusterData(): Promise<VersionedClusterData | null> {
    const raw = await this.getRawClusterData();
    if (!raw) return null;
    return { clusterData: parseClusterData(raw.value), revision: raw.revision };
  }

  async getRawClusterData(): Promise<{ value: string; revision: number } | null> {
    const e = await this.kv.get(this.clusterDataKey);
    return e ? { value: e.value, revision: e.modRevision } : null;
  }

  putClusterData(cd: ClusterData, prevRevision: number): Promise<number> {
    return this.putRawClusterData(JSON.stringify(cd), prevRevision);
  }

  async putRawClusterData(value: string, prevRevision: number): Promise<number> {
    const res = await this.kv.put(this.clusterDataKey, value, { expectModRevision: prevRevision });
    if (!res.ok) throw new KeyModifiedError(this.clusterDataKey);
    return res.revision;
  }

  setKeeperInfo(info: KeeperInfo, ttlMs: number): Promise<InfoPublish> {
    return this.setInfo("keepers", info.uid, info, ttlMs);
  }
  deleteKeeperInfo(uid: string): Promise<void> {
    return this.deleteInfo("keepers", uid);
  }
  deleteProxyInfo(uid: string): Promise<void> {
    return this.deleteInfo("proxies", uid);
  }
  deleteSentinelInfo(uid: string): Promise<void> {
    return this.deleteInfo("sentinels", uid);
  }
  private async deleteInfo(kind: InfoDir, uid: string): Promise<void> {
    const key = `${this.basePath}/${kind}/info/${uid}`;
    await this.kv.delete(key);
    const lease = this.infoLeases.get(key);
    this.infoLeases.delete(key);
    if (lease) await this.kv.revokeLease(lease.id).catch(() => {});
  }
  getKeepersInfo(): Promise<InfoList<KeeperInfo>> {
    return this.getInfos("keepers", "keeper", checkKeeperInfo);
  }
  setSentinelInfo(info: SentinelInfo, ttlMs: number): Promise<InfoPublish> {
    return this.setInfo("sentinels", info.UID, info, ttlMs);
  }
  getSentinelsInfo(): Promise<InfoList<SentinelInfo>> {
    return this.getInfos("sentinels", "sentinel", checkSentinelInfo);
  }
  setProxyInfo(info: ProxyInfo, ttlMs: number): Promise<InfoPublish> {
    return this.setInfo("proxies", info.UID, info, ttlMs);
  }
  getProxiesInfo(): Promise<InfoList<ProxyInfo>> {
    return this.getInfos("proxies", "proxy", checkProxyInfo);
  }

  /**
   * Publishes an info under its lease (see setKeeperInfo). The first call grants the lease; every
   * later one renews it with a keep-alive (no raft proposal) and, only when the value differs from
   * the last one written or INFO_REWRITE_MS passed, puts it beside (one proposal). The lease is
   * replaced (grant, put, revoke of the old one) only when it expired or the TTL changed. Whether
   * a component is alive is read from the lease (leaseSilenceMs), not from new writes.
   */
  private async setInfo(kind: InfoDir, uid: string, info: object, ttlMs: number): Promise<InfoPublish> {
    const key = `${this.basePath}/${kind}/info/${uid}`;
    const value = JSON.stringify(info);
    const ttlSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
    const held = this.infoLeases.get(key);
    if (held?.ttlSeconds === ttlSeconds) {
      const now = this.clock.now();
      const write = held.value !== value || now - held.writtenAt >= INFO_REWRITE_MS;
      try {
        const [alive] = await Promise.all([this.kv.keepAlive(held.id), write ? this.kv.put(key, value, { lease: held.id }) : null]);
        if (alive) {
          if (write) Object.assign(held, { value, writtenAt: now });
          return write ? "written" : "renewed";
        }
      } catch (err) {
        if (!(err instanceof LeaseExpiredError)) throw err;
      }
    }
    // No lease yet, a new TTL, or the lease expired (etcd was out of reach for a whole TTL).
    const writtenAt = this.clock.now();
    const lease = await this.kv.grantLease(ttlSeconds);
    await this.kv.put(key, value, { lease });
    this.infoLeases.set(key, { id: lease, ttlSeconds, value, writtenAt });
    if (held) this.kv.revokeLease(held.id).catch(() => {});
    return "written";
  }

  async leaseSilenceMs(lease: string): Promise<number | null> {
    const t = await this.kv.leaseTimeToLive(lease);
    return t === null ? null : leaseSilenceMs(t.ttlSeconds, t.grantedSeconds);
  }

  private async getInfos<T>(dir: InfoDir, kind: InfoKind, check: Check<T>): Promise<InfoList<T>> {
    const prefix = `${this.basePath}/${dir}/info/`;
    const out: InfoList<T> = { items: uidRecord(), invalid: [], leases: uidRecord() };
    for (const e of await this.kv.list(prefix)) {
      const uid = e.key.slice(prefix.length);
      if (e.lease !== "0") out.leases[uid] = e.lease;
      let v: unknown;
      try {
        v = JSON.parse(e.value);
      } catch {
        out.invalid.push({ kind, uid, problems: ["not valid JSON"] });
        continue;
      }
      const c = check(v, uid);
      if (c.ok) out.items[uid] = c.info;
      else out.invalid.push(c.invalid);
    }
    return out;
  }

  watch(onChange: (key: string) => void, onError?: (err: Error) => void): () => void {
    return this.kv.watch(`${this.basePath}/`, (e) => onChange(e.key), onError);
  }

  close(): Promise<void> {
    return this.kv.close();
  }
}
