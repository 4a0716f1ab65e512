/**
 * Process lifecycle: one AbortController per process, aborted by the first SIGINT or SIGTERM.
 * Daemons run until its signal aborts, tear down what they own, and return.
 */
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
