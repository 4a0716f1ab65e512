/**
 * Our Sentinel taking over cluster data that stolon's sentinel wrote, with stolon's keepers and
 * proxy still publishing their infos (test/fixtures/stolon), on the in-memory store and a
 * FakeClock: it leads, keeps the master, bumps no generation, keeps every stolon field and writes
 * only what stolon's Go types decode.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { ConsolaReporter } from "consola";
import type { KeeperInfo, ProxyInfo } from "../../../src/cluster/index.ts";
import { FakeClock } from "../../../src/lib/clock.ts";
import { createLogger } from "../../../src/lib/log.ts";
import { Sentinel } from "../../../src/sentinel/sentinel.ts";
import { KvStore, MemoryBackend } from "../../../src/store/index.ts";
import { loadStolonFixture, loadStolonInfos, type StolonCluster } from "../../harness/stolon-fixtures.ts";
import { GO_CLUSTER_DATA, goDecodeProblems } from "../../harness/stolon-go-types.ts";

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

/** Runs our Sentinel for `ms` on stolon's `name` cluster; returns every stored cluster data value, the fixture first. */
async function takeOver(name: StolonCluster, ms: number) {
  const clock = new FakeClock();
  const kv = new MemoryBackend(clock);
  const store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  await store.putRawClusterData(loadStolonFixture(name).text, 0);
  const infos = loadStolonInfos(name);
  const logs: { level: string; msg: string }[] = [];
  const reporter: ConsolaReporter = { log: (o) => void logs.push({ level: o.type, msg: o.args.map(String).join(" ") }) };
  const sentinel = new Sentinel({
    uid: "s1",
    store,
    election: store.sentinelElection(5000, clock),
    log: createLogger("debug", [reporter]),
    clock,
    newUid: () => "ffff0001",
  });
  const stored: string[] = [loadStolonFixture(name).text];
  let i = 0;
  const publish = async () => {
    i++;
    // As stolon's keepers and proxy do: the same info with a new infoUID, under a lease.
    for (const k of Object.values(infos.keepers) as Record<string, unknown>[])
      await store.setKeeperInfo({ ...k, infoUID: `${k.infoUID}${i}` } as unknown as KeeperInfo, 20_000);
    for (const p of Object.values(infos.proxies) as Record<string, unknown>[])
      await store.setProxyInfo({ ...p, infoUID: `${p.infoUID}${i}` } as unknown as ProxyInfo, 30_000);
  };
  await publish();
  const ac = new AbortController();
  const running = sentinel.run(ac.signal);
  stop = async () => {
    ac.abort();
    await clock.advance(10_000);
    await running;
    await kv.close();
  };
  for (let t = 0; t < ms; t += 500) {
    await publish();
    await clock.advance(500);
    for (let j = 0; j < 20; j++) await Promise.resolve();
    const raw = (await store.getRawClusterData())!.value;
    if (stored.at(-1) !== raw) stored.push(raw);
  }
  return { stored, sentinel, logs };
}

describe("our Sentinel on stolon's cluster data, stolon's keepers still running", () => {
  test.each(["normal-one-failed", "synchronous", "existing"] as const)("%s: steady, stolon's fields kept, what it writes decodes", async (name) => {
    const before = loadStolonFixture(name).json as Record<string, any>;
    const { stored, sentinel, logs } = await takeOver(name, 12_000);
    expect(sentinel.stats().isLeader).toBe(true);
    expect(logs.filter((l) => l.level === "error" || l.level === "fatal")).toEqual([]);
    // It wrote (the keepers' health, refreshed), on top of what stolon wrote.
    expect(stored.length).toBeGreaterThan(1);
    const last = JSON.parse(stored.at(-1)!);
    expect(last.keepers.keeper0.status.lastHealthyTime).not.toBe(before.keepers.keeper0.status.lastHealthyTime);
    expect(last.cluster).toEqual(before.cluster);
    expect(last.proxy).toEqual(before.proxy);
    expect(Object.keys(last.dbs).sort()).toEqual(Object.keys(before.dbs).sort());
    for (const [uid, db] of Object.entries(before.dbs) as [string, any][]) {
      expect(last.dbs[uid].generation).toBe(db.generation);
      expect(last.dbs[uid].spec).toEqual(db.spec);
    }
    for (const raw of stored) expect(goDecodeProblems(JSON.parse(raw), GO_CLUSTER_DATA)).toEqual([]);
    expect(logs.map((l) => l.msg).join("\n")).not.toContain("ignored (treated as absent)");
  });
});
