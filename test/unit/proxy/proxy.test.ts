/**
 * The proxy's timings before it has read a spec are the default spec's: its first published
 * info advertises the default proxyTimeout (it used to advertise 15 s, so the sentinel waited
 * three times too long for a proxy that died right after starting).
 */
import { afterEach, expect, test } from "bun:test";
import { DEFAULT_SPEC_TIMINGS, newClusterData, proxyInfoTtlMs, type ClusterSpec, type ProxyInfo } from "../../../src/cluster/index.ts";
import { systemClock } from "../../../src/lib/clock.ts";
import { createLogger } from "../../../src/lib/log.ts";
import { resolveProxyConfig } from "../../../src/proxy/config.ts";
import { Proxy } from "../../../src/proxy/proxy.ts";
import { KvStore, MemoryBackend } from "../../../src/store/index.ts";

/** A store that remembers every proxy info written, with its lease. */
class RecordingStore extends KvStore {
  proxyInfos: { info: ProxyInfo; ttlMs: number }[] = [];
  override setProxyInfo(info: ProxyInfo, ttlMs: number): Promise<void> {
    this.proxyInfos.push({ info, ttlMs });
    return super.setProxyInfo(info, ttlMs);
  }
}

function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
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
