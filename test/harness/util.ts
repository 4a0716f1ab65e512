/**
 * Generic test helpers, for unit and integration tests alike: a free loopback port, a bounded
 * wait on an observable condition (never a fixed sleep) and a bound on one call.
 */
import { withTimeout } from "../../src/lib/timeout.ts";

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/**
 * Polls `fn` every `intervalMs` until it returns a value (anything but undefined, null or false)
 * and returns it; after `timeoutMs` throws, naming `what` and the last error `fn` threw.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v as T;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ""}`);
    await Bun.sleep(intervalMs);
  }
}

/**
 * `p`, or an error naming `what` once `timeoutMs` passed without it settling (withTimeout, the
 * project's one timeout race): a client call that can hang (postgres.js after a cut connection,
 * porsager/postgres#1208) fails a step with its name instead of running into the test's timeout
 * with no message.
 */
export function within<T>(what: string, p: Promise<T>, timeoutMs: number): Promise<T> {
  return withTimeout(p, timeoutMs, () => new Error(`${what}: no answer within ${timeoutMs} ms`));
}

/**
 * The running processes whose command line contains `needle` (pgrep -a -f), one "pid command" a
 * line, "" for none: what a test's cluster or demo left behind. pgrep itself is left out: in a
 * PID namespace of its own (the docs session) it does not recognise itself.
 */
export function processesMatching(needle: string): string {
  const out = Bun.spawnSync(["pgrep", "-a", "-f", needle], { stdout: "pipe" }).stdout.toString();
  return out.split("\n").filter((l) => l.trim() !== "" && !/^\d+ pgrep /.test(l)).join("\n");
}
