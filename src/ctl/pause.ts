/**
 * `stolonctl pause [--for 30m] [--reason text]` and `stolonctl resume`: maintenance mode.
 *
 * The pause is a field of the cluster data (cd.pause) that only these two commands write (the
 * leader sentinel clears it once its `until` has passed). While it holds, the sentinel keeps
 * computing and reporting but never changes the master, never demotes and never removes keepers
 * or dbs.
 */
import { activePause, boundsProblem, MAX_DURATION_MS, parseDuration, switchoverInProgress, type DurationBounds, type Pause } from "../cluster/index.ts";
import { ConfigError, StolonError } from "../lib/errors.ts";
import type { Store } from "../store/index.ts";
import { writeClusterDataWithRetry } from "./cas.ts";
import type { CtlIO } from "./io.ts";
import { modify } from "./ops.ts";

/** --for: at least a second, at most what any duration may be (24 days). */
export const PAUSE_FOR_BOUNDS: DurationBounds = { minMs: 1000, maxMs: MAX_DURATION_MS };
/** The longest --reason kept: it is shown on the first line of `stolonctl status`. */
export const PAUSE_REASON_MAX = 200;

/** "since 2026-…, reason: …, until 2026-…" (or "no end: stolonctl resume ends it"). */
export function describePause(p: Pause): string {
  const parts = [`since ${p.since}`];
  if (p.reason) parts.push(`reason: ${p.reason}`);
  parts.push(p.until ? `until ${p.until}` : `no end set ("stolonctl resume" ends it)`);
  return parts.join(", ");
}

export interface PauseOptions {
  for?: string;
  reason?: string;
}

/** The checked options: `forMs` when --for is given. */
export function pauseOptions(opts: PauseOptions): { forMs?: number; reason?: string } {
  const problems: string[] = [];
  let forMs: number | undefined;
  if (opts.for !== undefined) {
    const r = parseDuration(opts.for);
    if ("error" in r) problems.push(`--for: ${r.error}`);
    else {
      const p = boundsProblem(opts.for, r.ms, PAUSE_FOR_BOUNDS);
      if (p) problems.push(`--for: ${p}`);
      forMs = r.ms;
    }
  }
  const reason = opts.reason?.trim();
  if (reason !== undefined) {
    if (reason === "") problems.push("--reason: empty (leave it out, or say why)");
    // A control character would break the status line (and a terminal reading it).
    if (/[\u0000-\u001f\u007f]/.test(reason)) problems.push("--reason: must not hold control characters (newlines, tabs, escapes)");
    if (reason.length > PAUSE_REASON_MAX) problems.push(`--reason: ${reason.length} characters, at most ${PAUSE_REASON_MAX}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { forMs, reason };
}

/**
 * Sets the pause, or changes the end and reason of the one in force (its `since` is kept).
 * Refused while a switchover is under way: the sentinel would stop it half-way (no master
 * change while paused) and roll it back at its timeout; let it end first.
 */
export async function pauseCluster(store: Store, io: CtlIO, opts: PauseOptions): Promise<void> {
  const o = pauseOptions(opts);
  return modify(store, io, (cd) => {
    const now = io.now();
    const busy = cd.switchover;
    if (switchoverInProgress(busy) && busy.phase !== "requested")
      throw new StolonError("ESWITCHOVERBUSY", `switchover ${busy.id} is in progress (phase ${busy.phase}): wait for it to end, then pause`);
    const current = activePause(cd, now);
    const p: Pause = { since: current?.since ?? now.toISOString() };
    if (o.forMs !== undefined) p.until = new Date(now.getTime() + o.forMs).toISOString();
    if (o.reason !== undefined) p.reason = o.reason;
    cd.pause = p;
    return `cluster ${current ? "pause updated" : "paused"}: ${describePause(p)}; the sentinel makes no failover, demotion or removal until then`;
  });
}

/**
 * Ends the pause; the sentinel's usual rules apply again from its next tick. On a cluster that is
 * not paused it writes nothing and says so (exit 0: a script may resume twice).
 */
export function resumeCluster(store: Store, io: CtlIO): Promise<void> {
  return writeClusterDataWithRetry(
    store,
    (cd) => {
      const p = cd.pause;
      if (!p) {
        io.out("the cluster is not paused: nothing to resume");
        return null;
      }
      cd.pause = null;
      cd.changeTime = io.now().toISOString();
      return `cluster resumed (was paused ${describePause(p)}): the sentinel's usual rules apply again from its next tick`;
    },
    (msg) => io.out(msg),
  );
}
