/**
 * Timers never fire early: afterAtLeast (under systemClock.sleep and Trigger.wait) waits a delay
 * past setTimeout's 2^31-1 ms in steps, and a timer that comes back early is set again.
 */
import { describe, expect, test } from "bun:test";
import { afterAtLeast, FakeClock, MAX_TIMER_MS, systemClock, type TimerHost } from "../../../src/lib/clock.ts";
import { Trigger } from "../../../src/lib/trigger.ts";

/** Timer primitives on a fake time line: records every delay asked for; `run` fires the next timer. */
class FakeTimers implements TimerHost {
  t = 0;
  delays: number[] = [];
  private pending: { at: number; fn: () => void; id: number }[] = [];
  private ids = 0;
  /** How much earlier than asked the host fires a timer (real timers may round). */
  constructor(private readonly early = 0) {}
  now() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number) {
    this.delays.push(ms);
    const id = ++this.ids;
    // An early timer still lets at least 1 ms pass (ms > 0), as real ones do.
    this.pending.push({ at: this.t + (ms > 0 ? Math.max(1, ms - this.early) : 0), fn, id });
    return id;
  }
  clearTimeout(h: unknown) {
    this.pending = this.pending.filter((p) => p.id !== h);
  }
  /** Fires the earliest timer; false when none is left. */
  run(): boolean {
    this.pending.sort((a, b) => a.at - b.at);
    const next = this.pending.shift();
    if (!next) return false;
    this.t = next.at;
    next.fn();
    return true;
  }
}

describe("afterAtLeast", () => {
  const huge: [string, number][] = [
    ["2^31 ms", 2 ** 31],
    ["24 days", 24 * 86_400_000],
    ["2562047h (Go's longest duration)", 2562047 * 3_600_000],
    ["Number.MAX_SAFE_INTEGER", Number.MAX_SAFE_INTEGER],
  ];
  test.each(huge)("%s: every scheduled delay fits in setTimeout, and it fires at the deadline, not before", (_n, ms) => {
    const host = new FakeTimers();
    let firedAt = -1;
    afterAtLeast(ms, () => (firedAt = host.t), host);
    for (let i = 0; i < 10_000 && firedAt < 0; i++) if (!host.run()) break;
    if (ms / MAX_TIMER_MS < 9000) expect(firedAt).toBe(ms);
    else expect(firedAt).toBe(-1); // still waiting after 10000 steps of 24.8 days
    for (const d of host.delays) {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(MAX_TIMER_MS);
    }
  });

  test("a timer that comes back early is set again for the rest", () => {
    const host = new FakeTimers(3);
    let firedAt = -1;
    afterAtLeast(10, () => (firedAt = host.t), host);
    while (firedAt < 0 && host.run());
    expect(firedAt).toBeGreaterThanOrEqual(10);
  });

  test("Infinity waits until cancelled; cancel stops it", () => {
    const host = new FakeTimers();
    let fired = false;
    const cancel = afterAtLeast(Infinity, () => (fired = true), host);
    for (let i = 0; i < 5; i++) host.run();
    expect(fired).toBe(false);
    cancel();
    expect(host.run()).toBe(false);
  });

  test("NaN is refused", () => {
    expect(() => afterAtLeast(Number.NaN, () => {}, new FakeTimers())).toThrow(RangeError);
  });

  test("never calls back synchronously, even for 0", () => {
    let fired = false;
    afterAtLeast(0, () => (fired = true), new FakeTimers());
    expect(fired).toBe(false);
  });
});

/** Whether `p` settles within `ms` of real time. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true, () => true), Bun.sleep(ms).then(() => false)]);
}

describe("the sleep and wait helpers on real timers", () => {
  test.each([2 ** 31, 2 ** 32, 2562047 * 3_600_000])("systemClock.sleep(%d) does not resolve early", async (ms) => {
    const ac = new AbortController();
    const p = systemClock.sleep(ms, ac.signal);
    expect(await settlesWithin(p, 50)).toBe(false);
    ac.abort(new Error("done"));
    expect(await settlesWithin(p, 50)).toBe(true);
  });

  test.each([2 ** 31, 2562047 * 3_600_000])("Trigger.wait(%d) does not resolve early, and fire() still wakes it", async (ms) => {
    const trigger = new Trigger();
    const p = trigger.wait(ms);
    expect(await settlesWithin(p, 50)).toBe(false);
    trigger.fire();
    expect(await settlesWithin(p, 50)).toBe(true);
  });

  test("an ordinary sleep lasts at least its delay", async () => {
    const start = performance.now();
    await systemClock.sleep(30);
    expect(performance.now() - start).toBeGreaterThanOrEqual(30);
  });

  test("FakeClock refuses a NaN sleep instead of waking at once", async () => {
    expect(await new FakeClock().sleep(Number.NaN).then(() => "resolved", (e) => String(e))).toContain("RangeError");
  });
});
