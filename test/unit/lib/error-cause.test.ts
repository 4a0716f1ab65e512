/** A wrapped error keeps what it wraps as `cause`, and describeError reads any thrown value. */
import { expect, test } from "bun:test";
import { readClusterData } from "../../../src/ctl/clusterdata.ts";
import { FakeClock } from "../../../src/lib/clock.ts";
import { ClusterDataError, describeError } from "../../../src/lib/errors.ts";
import { KvStore, MemoryBackend } from "../../../src/store/index.ts";

test("clusterdata read --pretty of garbage: a ClusterDataError whose cause is the JSON parser's error", async () => {
  const store = new KvStore(new MemoryBackend(new FakeClock()), { prefix: "stolon/cluster", clusterName: "c1" });
  await store.putRawClusterData("{not json", 0);
  const io = { out: () => {}, readInput: async () => "", confirm: async () => false, now: () => new Date(0), newUid: () => "u1" };
  const err = await readClusterData(store, io, { pretty: true }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ClusterDataError);
  expect((err as Error).cause).toBeInstanceOf(SyntaxError);
});

test("describeError: an Error's message, anything else as a string", () => {
  const cases: [unknown, string][] = [
    [new Error("boom"), "boom"],
    ["plain", "plain"],
    [undefined, "undefined"],
    [42, "42"],
  ];
  for (const [thrown, text] of cases) expect(describeError(thrown)).toBe(text);
});
