/**
 * The proxy's timings before it has read a spec are the default spec's: its first published
 * info advertises the default proxyTimeout (it used to advertise 15 s, so the sentinel waited
 * three times too long for a proxy that died right after starting). And the self-fencing
 * deadline, on a FakeClock.
 */
import { afterEach, expect, test } from "bun:test";
import { DEFAULT_SPEC_TIMINGS, newClusterData, proxyInfoTtlMs, type ClusterSpec, type ProxyInfo } from "../../../src/cluster/index.ts";
import { FakeClock, systemClock } from "../../../src/lib/clock.ts";
import { createLogger } from "../../../src/lib/log.ts";
import { resolveProxyConfig } from "../../../src/proxy/config.ts";
import { Proxy } from "../../../src/proxy/proxy.ts";
import { KvStore, MemoryBackend, type InfoPublish } from "../../../src/store/index.ts";
import { steadyCluster } from "../../harness/builders.ts";
import { freePort } from "../../harness/util.ts";

/** A store that remembers every proxy info written, with its lease. */
class RecordingStore extends KvStore {
  proxyInfos: { info: ProxyInfo; ttlMs: number }[] = [];
  override setProxyInfo(info: ProxyInfo, ttlMs: number): Promise<InfoPublish> {
    this.proxyInfos.push({ info, ttlMs });
    return super.setProxyInfo(info, ttlMs);
  }
}

let kv: MemoryBackend | undefined;
afterEach(() => kv?.close());

const cases: [string, ClusterSpec, number][] = [
  ["the default spec", { initMode: "new" }, DEFAULT_SPEC_TIMINGS.proxyTimeoutMs],
  // A longer proxyTimeout in the spec is advertised at once; a shorter one only after the first
  // info (the longer of the two is advertised while they change, so the sentinel waits enough).
  ["a spec with a longer proxyTimeout", { initMode: "new", proxyTimeout: "20s" }, 20_000],
  ["a spec with a shorter proxyTimeout", { initMode: "new", proxyTimeout: "2s" }, DEFAULT_SPEC_TIMINGS.proxyTimeoutMs],
];
test.each(cases)("the first proxy info with %s advertises the right proxyTimeout", async (_name, spec, expectedMs) => {
  kv = new MemoryBackend(systemClock);
  const store = new RecordingStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  await store.putClusterData(newClusterData("cuid", spec, new Date()), 0);
  const cfg = resolveProxyConfig({ "cluster-name": "c1", "store-backend": "etcdv3", port: String(freePort()) }, {});
  const proxy = new Proxy("p1", cfg, store, createLogger("error"), systemClock, () => "info1");
  const ac = new AbortController();
  const running = proxy.run(ac.signal);
  for (let i = 0; i < 200 && store.proxyInfos.length === 0; i++) await Bun.sleep(10);
  ac.abort();
  await running;
  const first = store.proxyInfos[0];
  expect(first?.info.ProxyTimeout).toBe(expectedMs * 1e6);
  expect(first?.ttlMs).toBe(proxyInfoTtlMs(expectedMs));
});

/** A TCP server that sends back what it receives: the "master" the proxy forwards to. */
function echoServer() {
  return Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, buf) => void s.write(buf) } });
}

/** A client through the proxy: `roundTrip` sends bytes and resolves with the echo; `closed` once the proxy drops it. */
async function clientOf(port: number) {
  let onData: ((b: string) => void) | null = null;
  let closed = false;
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_s, buf) => onData?.(Buffer.from(buf).toString()),
      close: () => void (closed = true),
      error: () => void (closed = true),
    },
  });
  return {
    roundTrip: (text: string) =>
      new Promise<string>((resolve) => {
        onData = resolve;
        sock.write(text);
      }),
    get closed() {
      return closed;
    },
    end: () => sock.end(),
  };
}

/** Lets real I/O (sockets) happen between steps of the fake clock. */
const settle = async (ms = 20) => Bun.sleep(ms);

test("fencing: checks that fail cut every connection and drop the target exactly after proxyTimeout, not before; a successful check restores them", async () => {
  const clock = new FakeClock();
  kv = new MemoryBackend(clock);
  const store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  const master = echoServer();
  const timeoutMs = 3000;
  await store.putClusterData(steadyCluster({ proxyTimeout: `${timeoutMs / 1000}s`, proxyCheckInterval: "1s" }, { masterPort: master.port, enabledProxies: ["p1"] }), 0);
  const port = freePort();
  const cfg = resolveProxyConfig({ "cluster-name": "c1", "store-backend": "etcdv3", port: String(port) }, {});
  const proxy = new Proxy("p1", cfg, store, createLogger("error"), clock, () => `info${Math.random()}`);
  const ac = new AbortController();
  const running = proxy.run(ac.signal);
  try {
    // The first check (at once) reads the spec, listens and routes; the second (1 s later)
    // publishes with the spec's proxyTimeout in force.
    await settle();
    await clock.advance(1000);
    await settle();
    expect(proxy.forwarder.currentTarget?.port).toBe(master.port);
    const client = await clientOf(port);
    expect(await client.roundTrip("hello")).toBe("hello");
    // The store goes away right after the last successful check, which started now.
    const lastSuccess = clock.now();
    kv.setAvailable(false);
    // Checks fail from here on; until proxyTimeout is over the proxy still routes.
    for (let t = 0; t < timeoutMs; t += 100) await clock.advance(100);
    await settle();
    expect(clock.now() - lastSuccess).toBe(timeoutMs);
    expect(proxy.forwarder.currentTarget).not.toBeNull();
    expect(client.closed).toBe(false);
    expect(await client.roundTrip("still")).toBe("still");
    // Past it, at the next fence check: every connection cut, no target, listener stopped.
    await clock.advance(100);
    await settle();
    expect(proxy.forwarder.currentTarget).toBeNull();
    expect(proxy.forwarder.listening).toBe(false);
    expect(client.closed).toBe(true);
    expect(proxy.forwarder.cut).toBe(1);
    const fenced = proxy.health();
    expect(fenced.live.ok).toBe(true);
    expect(fenced.ready.ok).toBe(false);
    expect(fenced.ready.reason).toContain("fenced");
    // The store answers again: the next check routes and listens again.
    kv.setAvailable(true);
    await clock.advance(1000);
    await settle();
    expect(proxy.forwarder.currentTarget?.port).toBe(master.port);
    expect(proxy.forwarder.listening).toBe(true);
    expect(proxy.health().ready.ok).toBe(true);
    const again = await clientOf(port);
    expect(await again.roundTrip("back")).toBe("back");
    again.end();
    expect(proxy.forwarder.accepted).toBe(2);
  } finally {
    ac.abort();
    await clock.advance(1000);
    await running;
    master.stop(true);
  }
});
