import { systemClock, type Clock } from "./clock.ts";

/**
 * A wake-up call for periodic loops: `wait(ms, signal)` resolves after `ms` on the trigger's
 * clock, when `fire()` is called (also if it was called since the last wait), or when the signal
 * aborts. It never rejects, so a loop reads `while (!signal.aborted) { await tick(); await trigger.wait(ms, signal) }`.
 * The delay never ends early, however long (see afterAtLeast); a NaN delay throws a RangeError.
 */
export class Trigger {
  private pending = false;
  private wakeUp: (() => void) | null = null;

  constructor(private readonly clock: Clock = systemClock) {}

  fire(): void {
    this.pending = true;
    this.wakeUp?.();
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (Number.isNaN(ms)) throw new RangeError("a wait must be a number of milliseconds, got NaN");
    if (this.pending || signal?.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    const stop = new AbortController();
    const sleep = this.clock.sleep(ms, signal ? AbortSignal.any([signal, stop.signal]) : stop.signal).catch(() => {});
    this.wakeUp = () => stop.abort();
    return sleep.then(() => {
      this.wakeUp = null;
      this.pending = false;
    });
  }
}
