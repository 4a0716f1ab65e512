import { afterEach, expect, test } from "bun:test";
import { FakeClock } from "../../../src/lib/clock.ts";
import { KvElection, MemoryBackend } from "../../../src/store/index.ts";

const clock = new FakeClock();
let kv: MemoryBackend;
afterEach(() => kv?.close());

test("a leader that cannot reach the store gives up before its lease can expire", async () => {
  kv = new MemoryBackend(clock);
  const election = new KvElection(kv, "p/sentinel-leader", clock, 3000);
  const a = await election.campaign("s-a", new AbortController().signal);
  await clock.advance(1100); // one keep-alive went through
  expect(a.signal.aborted).toBe(false);
  const lastRenew = clock.now() - 100;
  kv.setAvailable(false);
  // Not yet past the lease TTL counted from the last renewal that was sent: still leader.
  await clock.advance(2700);
  expect(a.signal.aborted).toBe(false);
  // Past it: leadership is given up locally, no later than the store would expire the lease.
  await clock.advance(300);
  expect(a.signal.aborted).toBe(true);
  expect(String(a.signal.reason)).toContain("lease not renewed");
  expect(clock.now() - lastRenew).toBeLessThanOrEqual(3000 + 100);
  kv.setAvailable(true);
  // Once the store is back, the lease has expired there too and a new leader can be elected.
  await clock.advance(100);
  const b = await new KvElection(kv, "p/sentinel-leader", clock, 3000).campaign("s-b", new AbortController().signal);
  expect(await election.leader()).toBe("s-b");
  await b.resign();
});

test("a waiting candidate is elected when the leader's lease expires", async () => {
  kv = new MemoryBackend(clock);
  const election = new KvElection(kv, "p/sentinel-leader", clock, 2000);
  // A leader that stops renewing: its lease is granted directly, as a crashed process leaves it.
  const lease = await kv.grantLease(2);
  await kv.put("p/sentinel-leader/dead", "s-dead", { lease, expectModRevision: 0 });
  let elected = false;
  const b = election.campaign("s-b", new AbortController().signal).then((l) => ((elected = true), l));
  await clock.advance(1500);
  expect(elected).toBe(false);
  expect(await election.leader()).toBe("s-dead");
  await clock.advance(1000);
  const lb = await b;
  expect(await election.leader()).toBe("s-b");
  await lb.resign();
});
