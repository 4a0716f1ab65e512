/**
 * The Proxy with a switchover's hold in the cluster data (in-memory store, system clock, a TCP
 * echo server as the master): the info says `drained: <hold id>` once the drain is over, and at
 * once (not at the next proxyCheckInterval) when the last connection leaves; the field is
 * absent without a hold.
 */
import { afterEach, expect, test } from "bun:test";
import type { ClusterData, ProxyInfo } from "../../../src/cluster/index.ts";
import { systemClock } from "../../../src/lib/clock.ts";
import { createLogger } from "../../../src/lib/log.ts";
import { resolveProxyConfig } from "../../../src/proxy/config.ts";
import { Proxy } from "../../../src/proxy/proxy.ts";
import { KvStore, MemoryBackend } from "../../../src/store/index.ts";
import { steadyCluster } from "../../harness/builders.ts";
import { freePort } from "../../harness/util.ts";

let kv: MemoryBackend | undefined;
afterEach(() => kv?.close());

async function until<T>(f: () => Promise<T | undefined | null | false>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`condition not reached: ${f.toString()}`);
    await Bun.sleep(10);
  }
}

test("drained: <hold id> is published at once when the last connection open at the hold leaves, and only during the hold", async () => {
  kv = new MemoryBackend(systemClock);
  const store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  const master = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, b) => void s.write(b) } });
  // A long check interval: an info published sooner than it is the drain's own.
  const cd: ClusterData = steadyCluster({ proxyCheckInterval: "30s", proxyTimeout: "60s" }, { masterPort: master.port, enabledProxies: ["p1"] });
  await store.putClusterData(cd, 0);
  const port = freePort();
  const cfg = resolveProxyConfig({ "cluster-name": "c1", "store-backend": "etcdv3", port: String(port) }, {});
  const proxy = new Proxy("p1", cfg, store, createLogger("error"), systemClock, () => `info${Math.random()}`);
  const ac = new AbortController();
  const running = proxy.run(ac.signal);
  const info = async (): Promise<ProxyInfo | undefined> => (await store.getProxiesInfo()).items.p1;
  try {
    await until(async () => proxy.forwarder.currentTarget !== null);
    expect((await info())?.drained).toBeUndefined();
    // Bytes the proxy cannot read as PostgreSQL's: the connection is waited for until it closes.
    const sock = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    sock.write("not postgres");
    await until(async () => proxy.forwarder.connectionCount === 1);
    const cur = await store.getClusterData();
    cd.proxy.generation++;
    cd.proxy.spec.hold = { id: "sw1", since: new Date().toISOString(), drainTimeout: "20s" };
    await store.putClusterData(cd, cur!.revision);
    await until(async () => (await info())?.Generation === cd.proxy.generation);
    expect((await info())?.drained).toBeUndefined();
    expect(proxy.health().details).toMatchObject({ hold: "sw1", draining: 1 });
    const t0 = Date.now();
    sock.end();
    const drained = await until(async () => ((await info())?.drained === "sw1" ? await info() : null));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(drained.Generation).toBe(cd.proxy.generation);
    // The hold cleared: no drained any more.
    const cur2 = await store.getClusterData();
    cd.proxy.generation++;
    cd.proxy.spec.hold = null;
    await store.putClusterData(cd, cur2!.revision);
    await until(async () => (await info())?.Generation === cd.proxy.generation);
    expect((await info())?.drained).toBeUndefined();
  } finally {
    ac.abort();
    await running;
    master.stop(true);
  }
});
