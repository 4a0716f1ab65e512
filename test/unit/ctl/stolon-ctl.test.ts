/**
 * stolonctl on cluster data as stolon writes it (test/fixtures/stolon): `clusterdata write` then
 * `clusterdata read` give back every field; update, failkeeper and removekeeper change only what
 * they own and leave what they write decodable by stolon's Go types; status and spec read it.
 * The same round trip on a real etcd is in test/integration/stolon-format.test.ts.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  collectStatus,
  failKeeper,
  readClusterData,
  removeKeeper,
  showSpec,
  updateSpec,
  writeClusterData,
  type CtlIO,
} from "../../../src/ctl/index.ts";
import { FakeClock } from "../../../src/lib/clock.ts";
import { SpecError } from "../../../src/lib/errors.ts";
import { KvElection, KvStore, MemoryBackend, type Store } from "../../../src/store/index.ts";
import { caught } from "../../contract/caught.ts";
import { loadStolonFixture, STOLON_CLUSTERS, STOLON_IDS } from "../../harness/stolon-fixtures.ts";
import { GO_CLUSTER_DATA, fieldsGoIgnores, goDecodeProblems } from "../../harness/stolon-go-types.ts";

/** stdin is `input`; output lines are collected. */
function scriptedIO(input = ""): CtlIO & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    out: (t) => void lines.push(t),
    readInput: async () => input,
    confirm: async () => false,
    now: () => new Date("2026-11-30T17:00:00Z"),
    newUid: () => "ffff0001",
  };
}

let kv: MemoryBackend;
let store: Store;
beforeEach(() => {
  kv = new MemoryBackend(new FakeClock());
  store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
});
afterEach(() => kv.close());

async function writeFixture(name: string): Promise<unknown> {
  const { text, json } = loadStolonFixture(name);
  await writeClusterData(store, scriptedIO(text), { yes: false });
  return json;
}

async function stored(): Promise<Record<string, any>> {
  const raw = await store.getRawClusterData();
  return JSON.parse(raw!.value);
}

/** `after` equals `before` but for the paths listed (each "a.b.c"), which must differ. */
function expectOnlyChanged(before: unknown, after: Record<string, any>, paths: string[]): void {
  const a = structuredClone(before) as Record<string, any>;
  const b = structuredClone(after);
  for (const p of paths) {
    const keys = p.split(".");
    const last = keys.pop()!;
    const pa = keys.reduce((o, k) => o?.[k], a);
    const pb = keys.reduce((o, k) => o?.[k], b);
    expect(JSON.stringify(pb?.[last])).not.toBe(JSON.stringify(pa?.[last]));
    if (pa) delete pa[last];
    if (pb) delete pb[last];
  }
  expect(b).toEqual(a);
}

describe("clusterdata write, then read: every stolon field intact", () => {
  test.each(STOLON_CLUSTERS)("%s", async (name) => {
    const json = await writeFixture(name);
    const io = scriptedIO();
    await readClusterData(store, io, { pretty: false });
    expect(JSON.parse(io.lines.join(""))).toEqual(json);
    const pretty = scriptedIO();
    await readClusterData(store, pretty, { pretty: true });
    expect(JSON.parse(pretty.lines.join(""))).toEqual(json);
  });

  test("unknown spec fields are named and kept", async () => {
    const v = loadStolonFixture("normal-one-failed").json as Record<string, any>;
    v.cluster.spec.someOlderField = "x";
    v.somewhereElse = [1, 2];
    const io = scriptedIO(JSON.stringify(v));
    await writeClusterData(store, io, { yes: false });
    expect(io.lines.join("\n")).toContain("spec fields this version does not use, kept as they are: someOlderField");
    expect(await stored()).toEqual(v);
  });
});

describe("read-modify-write by stolonctl changes only what it owns", () => {
  test.each(STOLON_CLUSTERS)("%s: update --patch", async (name) => {
    const before = await writeFixture(name);
    await updateSpec(store, scriptedIO(), { patch: true, spec: '{"sleepInterval":"2s"}' });
    const after = await stored();
    expect(after.cluster.spec.sleepInterval).toBe("2s");
    expect(after.cluster.spec.additionalWalSenders).toBeNull();
    // A new cluster's proxy has no generation (omitempty, 0): the readers fill in Go's zero value.
    const zeroFilled = name === "new-cluster" ? ["proxy.generation"] : [];
    expectOnlyChanged(before, after, ["cluster.spec.sleepInterval", "cluster.generation", "cluster.changeTime", ...zeroFilled]);
    expect(goDecodeProblems(after, GO_CLUSTER_DATA)).toEqual([]);
  });

  test("update keeps the unknown fields the stored spec had, and refuses new ones (typos)", async () => {
    const v = loadStolonFixture("normal-one-failed").json as Record<string, any>;
    v.cluster.spec.someOlderField = "x";
    await writeClusterData(store, scriptedIO(JSON.stringify(v)), { yes: false });
    await updateSpec(store, scriptedIO(), { patch: true, spec: '{"failInterval":"10s"}' });
    expect((await stored()).cluster.spec.someOlderField).toBe("x");
    const err = await caught(updateSpec(store, scriptedIO(), { patch: true, spec: '{"failIntreval":"10s"}' }));
    expect(err).toBeInstanceOf(SpecError);
    expect((err as Error).message).toContain(`unknown field "failIntreval"`);
  });

  test("failkeeper", async () => {
    const before = await writeFixture("normal-one-failed");
    await failKeeper(store, scriptedIO(), "keeper1");
    const after = await stored();
    expect(after.keepers.keeper1.status.forceFail).toBe(true);
    expectOnlyChanged(before, after, ["keepers.keeper1.status.forceFail", "changeTime"]);
    expect(goDecodeProblems(after, GO_CLUSTER_DATA)).toEqual([]);
  });

  test("removekeeper", async () => {
    const before = (await writeFixture("normal-one-failed")) as Record<string, any>;
    await removeKeeper(store, scriptedIO(), "keeper2");
    const after = await stored();
    expect(after.keepers.keeper2).toBeUndefined();
    expect(after.dbs[STOLON_IDS.standbyDb2]).toBeUndefined();
    expect(after.dbs[STOLON_IDS.masterDb].spec.followers).toEqual([STOLON_IDS.standbyDb1]);
    expectOnlyChanged(before, after, [
      "keepers.keeper2",
      `dbs.${STOLON_IDS.standbyDb2}`,
      `dbs.${STOLON_IDS.masterDb}.spec.followers`,
      `dbs.${STOLON_IDS.masterDb}.generation`,
      "changeTime",
    ]);
    expect(goDecodeProblems(after, GO_CLUSTER_DATA)).toEqual([]);
    expect(fieldsGoIgnores(after, GO_CLUSTER_DATA)).toEqual([]);
  });
});

describe("status and spec read stolon's cluster data", () => {
  test("status: the master, its keepers and dbs", async () => {
    await writeFixture("normal-one-failed");
    const r = await collectStatus(store, new KvElection(kv, `${store.basePath}/sentinel-leader`, new FakeClock(), 20_000));
    expect(r.initialized).toBe(true);
    expect(r.keepers.map((k) => k.uid).sort()).toEqual(["keeper0", "keeper1", "keeper2"]);
    const k2 = r.keepers.find((k) => k.uid === "keeper2")!;
    expect(k2.healthy).toBeFalsy();
    expect(r.keepers.find((k) => k.uid === "keeper0")!.dbUid).toBe(STOLON_IDS.masterDb);
  });

  test("spec: as stored, nulls included; --defaults: the effective spec", async () => {
    await writeFixture("new-cluster");
    const io = scriptedIO();
    await showSpec(store, io, { defaults: false });
    expect(JSON.parse(io.lines.join(""))).toEqual({ additionalWalSenders: null, additionalMasterReplicationSlots: null, initMode: "new", pgHBA: null, automaticPgRestart: null });
    const d = scriptedIO();
    await showSpec(store, d, { defaults: true });
    const spec = JSON.parse(d.lines.join(""));
    expect(spec.additionalWalSenders).toBe(5);
    expect(spec.automaticPgRestart).toBe(false);
  });
});
