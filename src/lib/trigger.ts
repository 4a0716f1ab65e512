import { afterAtLeast } from "./clock.ts";

/**
 * A wake-up call for periodic loops: `wait(ms, signal)` resolves after `ms`, when `fire()` is
 * called (also if it was called since the last wait), or when the signal aborts. It never
 * rejects, so a loop reads `while (!signal.aborted) { await tick(); await trigger.wait(ms, signal) }`.
 * The delay never ends early, however long (see afterAtLeast); a NaN delay throws a RangeError.
 */
export class Trigger {
  private pending = false;
  private wakeUp: (() => void) | null = null;

  fire(): void {
    this.pending = true;
    this.wakeUp?.();
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.pending || signal?.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        cancel();
        signal?.removeEventListener("abort", done);
        this.wakeUp = null;
        this.pending = false;
        resolve();
      };
      const cancel = afterAtLeast(ms, done);
      signal?.addEventListener("abort", done, { once: true });
      this.wakeUp = done;
    });
  }
}
