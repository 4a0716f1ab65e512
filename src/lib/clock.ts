/**
 * Time as an injected dependency, so loops and TTLs can run on a fake clock in unit tests.
 * `now()` is milliseconds (monotonic for the system clock: wall-clock jumps must not fire timers).
 */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The longest delay setTimeout takes: Bun, like Node.js, fires a longer one after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The timer primitives `afterAtLeast` schedules with; tests pass their own to see the delays. */
export interface TimerHost {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: TimerHost = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Calls `fn` once, no earlier than `ms` from now, and returns a cancel function. Unlike a bare
 * setTimeout it never fires early: a delay past MAX_TIMER_MS is waited in steps (a bare one
 * would fire after 1 ms, and a loop would spin), and a timer that comes back before the deadline
 * (timers may be rounded) is set again for the rest. Infinity waits until cancelled; a negative
 * delay means now; NaN is a programming error and throws a RangeError.
 */
export function afterAtLeast(ms: number, fn: () => void, host: TimerHost = realTimers): () => void {
  if (Number.isNaN(ms)) throw new RangeError("a timer delay must be a number of milliseconds, got NaN");
  const deadline = host.now() + Math.max(0, ms);
  let handle: unknown;
  let cancelled = false;
  // Never calls fn synchronously: callers may still be setting up when afterAtLeast returns.
  const arm = (delay: number) => {
    handle = host.setTimeout(() => {
      if (cancelled) return;
      const left = deadline - host.now();
      if (left <= 0) fn();
      else arm(left);
    }, Math.min(Math.max(0, Math.ceil(delay)), MAX_TIMER_MS));
  };
  arm(ms);
  return () => {
    cancelled = true;
    host.clearTimeout(handle);
  };
}

export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const cancel = afterAtLeast(ms, () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      const onAbort = () => {
        cancel();
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/** A clock that only moves when told to; sleepers wake in deadline order on `advance`. */
export class FakeClock implements Clock {
  private t: number;
  private sleepers: { at: number; resolve: () => void }[] = [];
  constructor(start = 1_000_000) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      if (Number.isNaN(ms)) return reject(new RangeError("a sleep must be a number of milliseconds, got NaN"));
      const entry = {
        at: this.t + Math.max(0, ms),
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((s) => s !== entry);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.sleepers.push(entry);
    });
  }
  /** Moves time forward and wakes every sleeper whose deadline has passed. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      this.sleepers.sort((a, b) => a.at - b.at);
      const next = this.sleepers[0];
      if (!next || next.at > target) break;
      this.sleepers.shift();
      this.t = Math.max(this.t, next.at);
      next.resolve();
      // Let the woken task run (and maybe schedule its next sleep) before moving on.
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
    this.t = target;
  }
}
