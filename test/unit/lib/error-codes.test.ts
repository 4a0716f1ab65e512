/**
 * Error codes are a closed union (src/lib/errors.ts ErrorCode), each with one meaning: the
 * election's two failures have two codes, and a free string does not type-check.
 */
import { expect, test } from "bun:test";
import { FakeClock } from "../../../src/lib/clock.ts";
import { StolonError, type ErrorCode } from "../../../src/lib/errors.ts";
import { KvStore, MemoryBackend } from "../../../src/store/index.ts";

test("a free string is not an error code (checked by tsc)", () => {
  // @ts-expect-error "EWHATEVER" is not in the ErrorCode union
  const free: ErrorCode = "EWHATEVER";
  expect(new StolonError("ENOCLUSTER", "no cluster").code).toBe("ENOCLUSTER");
  expect(free as string).toBe("EWHATEVER");
});

test("a campaign that ends before election has its own code, not the one of a clashing key", async () => {
  const clock = new FakeClock();
  const kv = new MemoryBackend(clock);
  const store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  const ac = new AbortController();
  await store.sentinelElection(2000, clock).campaign("s-a", ac.signal);
  const waiting = store.sentinelElection(2000, clock).campaign("s-b", new AbortController().signal).catch((e: unknown) => e);
  await Promise.resolve();
  // The waiting candidate's lease is lost: its campaign ends without an election.
  await kv.revokeLease((await kv.list("stolon/cluster/c1/sentinel-leader/")).at(-1)!.lease);
  const err = await waiting;
  expect(err).toBeInstanceOf(StolonError);
  expect((err as StolonError).code).toBe("ECAMPAIGNENDED");
});
