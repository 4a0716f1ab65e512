/**
 * stolonctl explain: the sentinel's decide() run as a dry run on what was read, shown as a
 * compact diff, the notes and the candidate table; nothing is written.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { ClusterData } from "../../../src/cluster/index.ts";
import { diffClusterData, explainDecision, renderExplainText, showExplain } from "../../../src/ctl/index.ts";
import { FakeClock } from "../../../src/lib/clock.ts";
import { KvStore, MemoryBackend, type Store } from "../../../src/store/index.ts";
import { deepFreeze, steadyCluster } from "../../harness/builders.ts";
import { keeperInfoFor, keeperInfosFor } from "../../harness/info-builders.ts";
import { ScriptedIO } from "../../harness/scripted-io.ts";

const NOW = new Date("2026-11-25T12:00:00Z");
const steady = (): ClusterData => deepFreeze(steadyCluster({}, { enabledProxies: [] }));
let uids = 0;
const newUid = () => `n${uids++}`;

describe("explainDecision", () => {
  test("a steady cluster: nothing would change", () => {
    const cd = steady();
    const r = explainDecision({ clusterData: cd, keepersInfo: keeperInfosFor(cd), proxiesInfo: {}, now: NOW, newUid });
    expect(r.change).not.toBe("decision");
    expect(r.diff).toEqual([]);
    expect(renderExplainText(r)).toContain("=== What the leader sentinel would change now ===\n");
    expect(r.note).toContain("empty sentinel memory");
    expect(r.candidates).toEqual([{ dbUid: "s", keeperUid: "k2", xLogPos: 2000, priority: 1, chosen: true, rule: "most advanced" }]);
    expect(renderExplainText(r)).toContain(
      ["KEEPER  DB  XLOGPOS  PRIORITY  VERDICT", "k2      s   2000     1         CHOSEN: most advanced"].join("\n"),
    );
  });

  test("the candidate table names the rule that excludes a standby", () => {
    const cd = steady();
    const infos = { k1: keeperInfoFor(cd, "k1"), k2: keeperInfoFor(cd, "k2", { priority: 0 }) };
    const r = explainDecision({ clusterData: cd, keepersInfo: infos, proxiesInfo: {}, now: NOW, newUid });
    expect(r.candidates).toMatchObject([{ keeperUid: "k2", excludedBy: "priority 0 (never elected automatically)" }]);
    expect(renderExplainText(r)).toContain("excluded: priority 0 (never elected automatically)");
  });

  test("the master's keeper info is gone: the diff shows the standby made master, the notes say why", () => {
    const cd = steady();
    const r = explainDecision({ clusterData: cd, keepersInfo: keeperInfosFor(cd, ["k1"]), proxiesInfo: {}, now: NOW, newUid });
    expect(r.change).toBe("decision");
    expect(r.diff).toContain('cluster status.master: "m" -> "s"');
    expect(r.diff).toContain('db s (k2) spec.role: "standby" -> "master"');
    expect(r.notes.join("\n")).toContain("k1");
    const text = renderExplainText(r);
    expect(text).toContain('- ');
    expect(text.split("\n")[0]).toBe(`(${r.note})`);
  });

  test("the input is not modified (frozen) and its notes are decide()'s", () => {
    const cd = steady();
    const infos = { k2: keeperInfoFor(cd, "k2") };
    expect(() => explainDecision({ clusterData: cd, keepersInfo: infos, proxiesInfo: {}, now: NOW, newUid })).not.toThrow();
  });
});

describe("diffClusterData", () => {
  test("names dbs with their keeper, leaves out what changes on every report, and shows added and removed values", () => {
    const a = steadyCluster();
    const b = structuredClone(a);
    b.changeTime = "2026-11-25T12:00:01.000Z";
    b.dbs.s!.status.xLogPos = 99999;
    b.dbs.s!.spec.followConfig = null;
    b.proxy.spec.masterDbUid = undefined;
    b.pause = { since: "2026-11-25T12:00:00.000Z" };
    delete b.keepers.k2;
    expect(diffClusterData(a, b)).toEqual([
      'db s (k2) spec.followConfig: {"type":"internal","dbuid":"m"} -> null',
      "keeper k2: removed",
      'pause: added {"since":"2026-11-25T12:00:00.000Z"}',
      "proxy spec.masterDbUid: removed",
    ]);
  });
});

describe("showExplain", () => {
  let kv: MemoryBackend;
  let store: Store;
  beforeEach(() => {
    kv = new MemoryBackend(new FakeClock());
    store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  });
  afterEach(() => kv.close());

  test("reads the store, prints the report as JSON, and writes nothing", async () => {
    const cd = steadyCluster();
    await store.putClusterData(cd, 0);
    await store.setKeeperInfo(keeperInfoFor(cd, "k2"), 30_000);
    const before = await store.getRawClusterData();
    const io = new ScriptedIO();
    await showExplain(store, io, { format: "json" });
    const r = JSON.parse(io.lines[0]!);
    expect(r.change).toBe("decision");
    expect(r.diff).toContain('db s (k2) spec.role: "standby" -> "master"');
    expect(await store.getRawClusterData()).toEqual(before);
  });
});
