/**
 * One contract suite for the Store and the Election, run against the in-memory backend
 * (test/unit/store/contract-memory.test.ts) and a real etcd (test/integration/store-etcd.test.ts).
 * Whatever the fake gets away with, this suite makes the real one prove too.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { newClusterData, type KeeperInfo } from "../../src/cluster/index.ts";
import type { Clock } from "../../src/lib/clock.ts";
import { ClusterDataError, KeyModifiedError, LeaseExpiredError } from "../../src/lib/errors.ts";
import { caught } from "./caught.ts";
import { KvStore, type KvBackend, type WatchEvent } from "../../src/store/index.ts";

export interface ContractTarget {
  name: string;
  make(): Promise<KvBackend>;
  clock: Clock;
  /** Lets `ms` of time pass for leases: a real sleep on etcd, a fake-clock advance in memory. */
  pass(ms: number): Promise<void>;
  /** Polls `fn` until true; real targets wait up to a few seconds, fake ones a few turns. */
  eventually(what: string, fn: () => Promise<boolean> | boolean): Promise<void>;
}

let seq = 0;
const keeperInfo = (uid: string): KeeperInfo => ({
  infoUID: `i${seq++}`,
  uid,
  clusterUID: "c0ffee00",
  bootUUID: "boot",
  postgresBinaryVersion: { Maj: 15, Min: 0 },
  postgresState: null,
});

export function storeContract(t: ContractTarget): void {
  describe(`store contract: ${t.name}`, () => {
    let kv: KvBackend;
    let store: KvStore;
    let cluster: string;
    beforeEach(async () => {
      kv = await t.make();
      cluster = `c${Date.now().toString(36)}${seq++}`;
      store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: cluster });
    });
    afterEach(async () => {
      await kv.close();
    });

    test("keys live under <prefix>/<cluster-name>", () => {
      expect(store.basePath).toBe(`stolon/cluster/${cluster}`);
    });

    test("absent cluster data reads as null", async () => {
      expect(await store.getClusterData()).toBeNull();
      expect(await store.getRawClusterData()).toBeNull();
    });

    test("cluster data: create-if-absent, then compare-and-swap on the revision", async () => {
      const cd = newClusterData("aaaa0001", { initMode: "new" }, new Date(0));
      const r1 = await store.putClusterData(cd, 0);
      expect(await caught(store.putClusterData(cd, 0))).toBeInstanceOf(KeyModifiedError);
      const read = await store.getClusterData();
      expect(read?.revision).toBe(r1);
      expect(read?.clusterData.cluster.uid).toBe("aaaa0001");

      cd.cluster.spec.failInterval = "10s";
      const r2 = await store.putClusterData(cd, r1);
      expect(r2).toBeGreaterThan(r1);
      // A writer holding the old revision loses and changes nothing.
      cd.cluster.spec.failInterval = "99s";
      expect(await caught(store.putClusterData(cd, r1))).toBeInstanceOf(KeyModifiedError);
      expect((await store.getClusterData())?.clusterData.cluster.spec.failInterval).toBe("10s");
    });

    test("garbage cluster data is refused with ClusterDataError; the raw bytes stay readable", async () => {
      const r = await store.putRawClusterData("{not json", 0);
      expect(await caught(store.getClusterData())).toBeInstanceOf(ClusterDataError);
      expect((await store.getRawClusterData())?.value).toBe("{not json");
      await store.putRawClusterData(JSON.stringify({ formatVersion: 2 }), r);
      expect((await caught(store.getClusterData())).message).toMatch(/formatVersion 2/);
    });

    test("infos are listed by uid; undecodable ones are reported, not returned", async () => {
      await store.setKeeperInfo(keeperInfo("k1"), 30_000);
      await store.setKeeperInfo(keeperInfo("k2"), 30_000);
      await kv.put(`${store.basePath}/keepers/info/k3`, "garbage");
      const infos = await store.getKeepersInfo();
      expect(Object.keys(infos.items).sort()).toEqual(["k1", "k2"]);
      expect(infos.invalid).toHaveLength(1);
      expect(infos.invalid[0]).toMatchObject({ kind: "keeper", uid: "k3", problems: ["not valid JSON"] });

      await store.setSentinelInfo({ UID: "s1" }, 30_000);
      await store.setProxyInfo({ infoUID: "x", UID: "p1", Generation: 3, ProxyTimeout: 15e9 }, 30_000);
      expect(Object.keys((await store.getSentinelsInfo()).items)).toEqual(["s1"]);
      expect((await store.getProxiesInfo()).items.p1?.Generation).toBe(3);
    });

    test("infos are checked: a hostile one is reported, uids such as __proto__ and constructor are plain keys", async () => {
      await kv.put(`${store.basePath}/keepers/info/__proto__`, JSON.stringify({ ...keeperInfo("__proto__"), postgresState: { xLogPos: 1e30 } }));
      await kv.put(`${store.basePath}/keepers/info/constructor`, JSON.stringify(keeperInfo("constructor")));
      await kv.put(`${store.basePath}/keepers/info/k1`, JSON.stringify({ ...keeperInfo("k1"), postgresState: { timelinesHistory: "garbage" } }));
      await kv.put(`${store.basePath}/proxies/info/p1`, JSON.stringify({ infoUID: "x", UID: "p1", Generation: "3", ProxyTimeout: 15e9 }));
      const infos = await store.getKeepersInfo();
      expect(Object.keys(infos.items)).toEqual(["constructor"]);
      expect(infos.items["__proto__"]).toBeUndefined();
      expect(infos.items["toString"]).toBeUndefined();
      expect(infos.invalid.map((i) => i.uid).sort()).toEqual(["__proto__", "k1"]);
      expect(infos.invalid.find((i) => i.uid === "k1")?.problems.join("; ")).toContain("postgresState.timelinesHistory: must be a list");
      const proxies = await store.getProxiesInfo();
      expect(Object.keys(proxies.items)).toEqual([]);
      expect(proxies.invalid[0]?.problems[0]).toContain("Generation: must be an integer");
    });

    test("a deleted keeper info is gone at once", async () => {
      await store.setKeeperInfo(keeperInfo("k1"), 30_000);
      await store.setKeeperInfo(keeperInfo("k2"), 30_000);
      await store.deleteKeeperInfo("k1");
      expect(Object.keys((await store.getKeepersInfo()).items)).toEqual(["k2"]);
      await store.deleteKeeperInfo("k9");
    });

    test("a deleted proxy info is gone at once", async () => {
      await store.setProxyInfo({ infoUID: "x", UID: "p1", Generation: 3, ProxyTimeout: 15e9 }, 30_000);
      await store.setProxyInfo({ infoUID: "y", UID: "p2", Generation: 3, ProxyTimeout: 15e9 }, 30_000);
      await store.deleteProxyInfo("p1");
      expect(Object.keys((await store.getProxiesInfo()).items)).toEqual(["p2"]);
      await store.deleteProxyInfo("p9");
    });

    test("an info vanishes once its TTL passes without a new write", async () => {
      await store.setKeeperInfo(keeperInfo("k1"), 1000);
      await store.setKeeperInfo(keeperInfo("k2"), 60_000);
      await t.pass(1000);
      await t.eventually("k1's info to expire", async () => !("k1" in (await store.getKeepersInfo()).items));
      expect(Object.keys((await store.getKeepersInfo()).items)).toEqual(["k2"]);
    });

    test("rewriting an info keeps it alive past the first TTL", async () => {
      await store.setKeeperInfo(keeperInfo("k1"), 2000);
      await t.pass(1000);
      await store.setKeeperInfo(keeperInfo("k1"), 60_000);
      await t.pass(2500);
      expect(Object.keys((await store.getKeepersInfo()).items)).toEqual(["k1"]);
    });

    test("rewrites with the same TTL keep one lease, renewed by each write; a key not written for a TTL is gone", async () => {
      const key = `${store.basePath}/keepers/info/k1`;
      await store.setKeeperInfo(keeperInfo("k1"), 2000);
      const first = (await kv.get(key))!.lease;
      await t.pass(1500);
      await store.setKeeperInfo(keeperInfo("k1"), 2000);
      expect((await kv.get(key))!.lease).toBe(first);
      // 3 s after the grant, 1.5 s after the renewal: alive.
      await t.pass(1500);
      expect(Object.keys((await store.getKeepersInfo()).items)).toEqual(["k1"]);
      await t.pass(2500);
      expect(Object.keys((await store.getKeepersInfo()).items)).toEqual([]);
    });

    test("an unchanged info renews the lease alone (same revision); a changed one is written", async () => {
      const key = `${store.basePath}/keepers/info/k1`;
      const info = keeperInfo("k1");
      expect(await store.setKeeperInfo(info, 2000)).toBe("written");
      const first = (await kv.get(key))!;
      for (let i = 0; i < 3; i++) {
        await t.pass(1000);
        expect(await store.setKeeperInfo(info, 2000)).toBe("renewed");
      }
      // 3 s after the only write, past its 2 s TTL, kept by the renewals: same revision, same lease.
      const kept = (await kv.get(key))!;
      expect({ rev: kept.modRevision, lease: kept.lease }).toEqual({ rev: first.modRevision, lease: first.lease });
      expect(await store.setKeeperInfo({ ...info, infoUID: "changed" }, 2000)).toBe("written");
      expect(JSON.parse((await kv.get(key))!.value).infoUID).toBe("changed");
    });

    test("leaseSilenceMs: 0 after a renewal, 1000 once a whole second passed without one, null once expired", async () => {
      const info = keeperInfo("k1");
      await store.setKeeperInfo(info, 3000);
      const lease = (await store.getKeepersInfo()).leases.k1!;
      expect(lease).toBeDefined();
      expect(await store.leaseSilenceMs(lease)).toBe(0);
      await t.pass(1200);
      expect(await store.leaseSilenceMs(lease)).toBe(1000);
      await store.setKeeperInfo(info, 3000);
      expect(await store.leaseSilenceMs(lease)).toBe(0);
      await t.pass(4000);
      expect(await store.leaseSilenceMs(lease)).toBeNull();
    });

    test("an info whose lease expired is written again under a new lease", async () => {
      const key = `${store.basePath}/keepers/info/k1`;
      await store.setKeeperInfo(keeperInfo("k1"), 1000);
      const first = (await kv.get(key))!.lease;
      await t.pass(2500);
      expect(await kv.get(key)).toBeNull();
      await store.setKeeperInfo(keeperInfo("k1"), 1000);
      const second = (await kv.get(key))!.lease;
      expect(second).not.toBe(first);
      expect(await kv.keepAlive(second)).toBe(true);
    });

    test("a write under a revoked lease fails with LeaseExpiredError", async () => {
      const lease = await kv.grantLease(30);
      await kv.put(`${store.basePath}/x`, "1", { lease });
      await kv.revokeLease(lease);
      expect(await kv.get(`${store.basePath}/x`)).toBeNull();
      expect(await caught(kv.put(`${store.basePath}/x`, "2", { lease }))).toBeInstanceOf(LeaseExpiredError);
      expect(await kv.keepAlive(lease)).toBe(false);
    });

    test("clusters with different names do not see each other", async () => {
      const other = new KvStore(kv, { prefix: "stolon/cluster", clusterName: `${cluster}x` });
      await store.putClusterData(newClusterData("aaaa0002", { initMode: "new" }, new Date(0)), 0);
      expect(await other.getClusterData()).toBeNull();
    });

    test("the watch reports changes under the cluster path only", async () => {
      const seen: string[] = [];
      const cancel = store.watch((key) => seen.push(key));
      try {
        await t.pass(50); // let a real watch get established
        await new KvStore(kv, { prefix: "stolon/cluster", clusterName: `${cluster}x` }).putRawClusterData("{}", 0);
        await store.putClusterData(newClusterData("aaaa0003", { initMode: "new" }, new Date(0)), 0);
        await t.eventually("the watch event", () => seen.includes(`${store.basePath}/clusterdata`));
        expect(seen.every((k) => k.startsWith(`${store.basePath}/`))).toBe(true);
      } finally {
        cancel();
      }
    });

    test("watchClusterData fires for this cluster's cluster data only, not for infos or other clusters", async () => {
      let fired = 0;
      const cancel = store.watchClusterData(() => fired++);
      try {
        await t.pass(50); // let a real watch get established
        await store.setKeeperInfo(keeperInfo("k1"), 30_000);
        await new KvStore(kv, { prefix: "stolon/cluster", clusterName: `${cluster}x` }).putRawClusterData("{}", 0);
        await store.putClusterData(newClusterData("aaaa0004", { initMode: "new" }, new Date(0)), 0);
        await t.eventually("the cluster data event", () => fired > 0);
        expect(fired).toBe(1);
      } finally {
        cancel();
      }
    });

    test("watchClusterData is sent only the cluster data's events, not every info write (watch cost)", async () => {
      let delivered = 0;
      const counting: KvBackend = Object.assign(Object.create(kv) as KvBackend, {
        watch: (prefix: string, onEvent: (e: WatchEvent) => void, onError?: (err: Error) => void) =>
          kv.watch(prefix, (e) => {
            delivered++;
            onEvent(e);
          }, onError),
      });
      const watched = new KvStore(counting, { prefix: "stolon/cluster", clusterName: cluster });
      let fired = 0;
      const cancel = watched.watchClusterData(() => fired++);
      try {
        await t.pass(50); // let a real watch get established
        for (let i = 0; i < 5; i++) await store.setKeeperInfo(keeperInfo("k1"), 30_000);
        await store.putClusterData(newClusterData("aaaa0005", { initMode: "new" }, new Date(0)), 0);
        await t.eventually("the cluster data event", () => fired > 0);
        expect({ fired, delivered }).toEqual({ fired: 1, delivered: 1 });
      } finally {
        cancel();
      }
    });

    describe("election", () => {
      const election = () => store.sentinelElection(2000, t.clock);

      test("sentinelElection campaigns under <base>/sentinel-leader, where the original stolon looks", async () => {
        const ac = new AbortController();
        const a = await election().campaign("s-a", ac.signal);
        const entries = await kv.list(`${store.basePath}/sentinel-leader/`);
        expect(entries.map((e) => e.value)).toEqual(["s-a"]);
        await a.resign();
        ac.abort();
      });

      test("one leader at a time; the next is elected when it resigns", async () => {
        const ac = new AbortController();
        const a = await election().campaign("s-a", ac.signal);
        expect(await election().leader()).toBe("s-a");
        let bElected = false;
        const bPromise = election()
          .campaign("s-b", ac.signal)
          .then((l) => {
            bElected = true;
            return l;
          });
        await t.pass(200);
        expect(bElected).toBe(false);
        expect(a.signal.aborted).toBe(false);
        await a.resign();
        expect(a.signal.aborted).toBe(true);
        const b = await bPromise;
        expect(await election().leader()).toBe("s-b");
        await b.resign();
        expect(await election().leader()).toBeNull();
        ac.abort();
      });

      test("a leader whose key disappears loses leadership at once", async () => {
        const ac = new AbortController();
        const a = await election().campaign("s-a", ac.signal);
        const [entry] = await kv.list(`${store.basePath}/sentinel-leader/`);
        await kv.revokeLease(entry!.lease);
        await t.eventually("leadership loss", () => a.signal.aborted);
        expect(await election().leader()).toBeNull();
        ac.abort();
      });

      test("a leader keeps leadership across several TTLs by renewing its lease", async () => {
        const ac = new AbortController();
        const a = await election().campaign("s-a", ac.signal);
        for (let i = 0; i < 4; i++) await t.pass(1000);
        expect(a.signal.aborted).toBe(false);
        expect(await election().leader()).toBe("s-a");
        await a.resign();
        ac.abort();
      });

      test("an aborted campaign rejects and leaves no candidate behind", async () => {
        const ac = new AbortController();
        const a = await election().campaign("s-a", ac.signal);
        const bAc = new AbortController();
        const b = election().campaign("s-b", bAc.signal);
        await t.pass(100);
        bAc.abort();
        expect(await caught(b)).toBeInstanceOf(Error);
        await a.resign();
        await t.eventually("no leader", async () => (await election().leader()) === null);
        ac.abort();
      });
    });
  });
}
