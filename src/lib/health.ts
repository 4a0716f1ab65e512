/**
 * What a component says about itself, for /health, /ready and stolonctl: a verdict and the
 * reason behind it, plus its loops. `ok` decides the HTTP status (200 or 503); the rest is the body.
 */
import type { LoopSnapshot } from "./run-loop.ts";

export interface Check {
  ok: boolean;
  /** One sentence: why it is (not) ok. */
  reason: string;
}

export interface HealthReport {
  component: string;
  uid: string;
  /** /health: the process works (its loops run and are not stuck). */
  live: Check;
  /** /ready: it is doing its job (keeper: PostgreSQL up and converged; sentinel: sees etcd; proxy: has a target, not fenced). */
  ready: Check;
  loops: LoopSnapshot[];
  /** Component-specific facts (role, target, connections...), JSON-serialisable. */
  details: Record<string, unknown>;
}

/** A component the runtime can run, ask for health and scrape. */
export interface Component {
  run(signal: AbortSignal): Promise<void>;
  health(): HealthReport;
}

/**
 * A loop is stuck when it is running and has not finished a pass for this many intervals (and
 * at least `minMs`): /health turns 503 so a supervisor can restart the process.
 */
export function loopsLive(loops: readonly LoopSnapshot[], now: number, stuckAfterMs: number): Check {
  for (const l of loops) {
    if (!l.running) return { ok: false, reason: `loop ${l.name} is not running` };
    const last = Math.max(l.lastSuccessAt, l.lastErrorAt);
    if (last !== 0 && now - last > stuckAfterMs) return { ok: false, reason: `loop ${l.name} has not finished a pass for ${Math.round((now - last) / 1000)} s` };
  }
  return { ok: true, reason: "all loops run" };
}
