/**
 * Process lifecycle: one AbortController per process, aborted by the first SIGINT or SIGTERM.
 * Daemons run until its signal aborts, tear down what they own, and return.
 */
import { describeError } from "./errors.ts";
import type { Logger } from "./log.ts";

export function shutdownSignal(log: Logger): AbortSignal {
  const ac = new AbortController();
  const on = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) return;
    log.info(`${sig} received: shutting down`);
    ac.abort(new Error(`${sig} received`));
  };
  process.on("SIGINT", () => on("SIGINT"));
  process.on("SIGTERM", () => on("SIGTERM"));
  return ac.signal;
}

/**
 * What a process must undo at exit, undone in reverse order of registration (the store client
 * opened first is closed last). Each step is awaited; a failing step is logged and the rest run.
 */
export class Teardown {
  private readonly steps: { name: string; fn: () => void | Promise<void> }[] = [];
  constructor(private readonly log: Logger) {}

  defer(name: string, fn: () => void | Promise<void>): void {
    this.steps.push({ name, fn });
  }

  async run(): Promise<void> {
    for (let s = this.steps.pop(); s; s = this.steps.pop()) {
      try {
        await s.fn();
      } catch (err) {
        this.log.warn(`at shutdown, ${s.name} failed: ${describeError(err)}`);
      }
    }
  }
}
