import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { newClusterData, type ClusterData } from "../../../src/cluster/index.ts";
import { CAS_ATTEMPTS, failKeeper, writeClusterDataWithRetry, type CtlIO } from "../../../src/ctl/index.ts";
import { FakeClock } from "../../../src/lib/clock.ts";
import { KeyModifiedError, StolonError } from "../../../src/lib/errors.ts";
import { KvStore, MemoryBackend, type Store } from "../../../src/store/index.ts";
import { caught } from "../../contract/caught.ts";

// The one compare-and-swap loop of stolonctl (src/ctl/cas.ts), on the in-memory store.

let kv: MemoryBackend;
let store: Store;
const clock = new FakeClock();
beforeEach(async () => {
  kv = new MemoryBackend(clock);
  store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  const cd = newClusterData("c0", { initMode: "new" }, new Date("2026-11-25T12:00:00Z"));
  cd.keepers.k1 = { uid: "k1", generation: 1, changeTime: "", spec: {}, status: { healthy: true } };
  await store.putClusterData(cd, 0);
});
afterEach(() => kv.close());

/** A store whose first `lose` writes find that another writer (bumping cluster.generation) got there first. */
function racingStore(lose: number): { store: Store; puts: () => number } {
  let puts = 0;
  const racing: Store = Object.create(store);
  racing.putClusterData = async (cd, rev) => {
    puts++;
    if (puts <= lose) {
      const cur = (await store.getClusterData())!;
      cur.clusterData.cluster.generation += 100;
      await store.putClusterData(cur.clusterData, cur.revision);
    }
    return store.putClusterData(cd, rev);
  };
  return { store: racing, puts: () => puts };
}

const bumpPrinting = (seen: number[]) => (cd: ClusterData) => {
  seen.push(cd.cluster.generation);
  cd.cluster.generation += 1;
  return `generation ${cd.cluster.generation}`;
};

describe("writeClusterDataWithRetry", () => {
  test("a lost race re-applies the change to the fresh data", async () => {
    const r = racingStore(1);
    const seen: number[] = [];
    const out: string[] = [];
    await writeClusterDataWithRetry(r.store, bumpPrinting(seen), (m) => out.push(m));
    expect(seen).toEqual([1, 101]);
    expect(r.puts()).toBe(2);
    expect(out).toEqual(["generation 102"]);
    expect((await store.getClusterData())!.clusterData.cluster.generation).toBe(102);
  });

  test(`gives up after ${CAS_ATTEMPTS} lost races with the KeyModifiedError, printing nothing`, async () => {
    const r = racingStore(Infinity);
    const out: string[] = [];
    const err = await caught(writeClusterDataWithRetry(r.store, bumpPrinting([]), (m) => out.push(m)));
    expect(err).toBeInstanceOf(KeyModifiedError);
    expect(r.puts()).toBe(CAS_ATTEMPTS);
    expect(CAS_ATTEMPTS).toBe(3);
    expect(out).toEqual([]);
  });

  test("null from the change writes nothing and prints nothing", async () => {
    const before = await store.getClusterData();
    const r = racingStore(0);
    const out: string[] = [];
    await writeClusterDataWithRetry(r.store, () => null, (m) => out.push(m));
    expect(r.puts()).toBe(0);
    expect(out).toEqual([]);
    expect((await store.getClusterData())!.revision).toBe(before!.revision);
  });

  test("a refusal thrown by the change is not retried and writes nothing", async () => {
    const r = racingStore(0);
    let calls = 0;
    const refusal = new StolonError("ENOKEEPER", "no");
    const err = await caught(
      writeClusterDataWithRetry(r.store, () => {
        calls++;
        throw refusal;
      }, () => {}),
    );
    expect(err).toBe(refusal);
    expect(calls).toBe(1);
    expect(r.puts()).toBe(0);
  });
});

describe("the commands written through it", () => {
  test("failkeeper re-applies its change after a lost race and keeps the other writer's change", async () => {
    const r = racingStore(1);
    const out: string[] = [];
    const io: CtlIO = {
      out: (t) => void out.push(t),
      readInput: async () => "",
      confirm: async () => false,
      now: () => new Date("2026-11-25T12:00:00Z"),
      newUid: () => "u1",
    };
    await failKeeper(r.store, io, "k1");
    const cd = (await store.getClusterData())!.clusterData;
    expect(cd.keepers.k1!.status.forceFail).toBe(true);
    expect(cd.cluster.generation).toBe(101);
    expect(r.puts()).toBe(2);
    expect(out).toEqual(["keeper k1 marked failed"]);
  });
});
