/**
 * How the proxy reads a switchover's hold (ProxySpec.hold, issue 17) into the numbers its
 * Forwarder works with. Pure: the wall clock comes in as a number.
 *
 * The hold's `since` is the sentinel's wall clock; the drain deadline is `since + drainTimeout`,
 * brought within [0, drainTimeout] from now, so a clock skew between the two hosts can shorten
 * the drain but never make it longer than asked. The drain timeout is the hold's, capped by
 * --drain-timeout when that was given (the smaller wins); --drain-timeout's value (or default)
 * applies alone only when the hold's cannot be used.
 *
 * Held clients wait at least the switchover's timeout plus the drain timeout, plus
 * SWITCHOVER_HOLD_MARGIN_MS for the promotion and the proxies' barrier after it (the timeout
 * counts until the promotion must have started, not until it is over), and never less than
 * --hold-timeout; at most HOLD_TIMEOUT_BOUNDS.maxMs.
 */
import { boundsProblem, durationMs, parseDuration, type DurationBounds } from "../cluster/duration.ts";
import { DEFAULT_SWITCHOVER_TIMEOUT, SWITCHOVER_TIMEOUT_BOUNDS, type ClusterData } from "../cluster/types.ts";
import { DRAIN_TIMEOUT_BOUNDS, HOLD_TIMEOUT_BOUNDS } from "./config.ts";

/** Time for the promotion and the proxy barrier after a switchover's timeout (see above). */
export const SWITCHOVER_HOLD_MARGIN_MS = 15_000;

export interface HoldOptions {
  /** --hold-timeout. */
  holdMs: number;
  /** --drain-timeout (or its default). */
  drainTimeoutMs: number;
  /** --drain-timeout was given. */
  drainTimeoutGiven: boolean;
}

export interface HoldPlan {
  /** The switchover's id: what the proxy reports as `drained` once done. */
  id: string;
  /** The drain timeout that applies. */
  drainMs: number;
  /** What is left of it now: the open connections still draining are cut after this. */
  drainLeftMs: number;
  /** How long a client that connects during the hold may wait (from when it connected). */
  holdMs: number;
  /** What was wrong with the stored values (a default was used instead), for a warning. */
  problems: string[];
}

/** The hold in `cd`, or null when there is none. */
export function readHold(cd: ClusterData | null, o: HoldOptions, nowWallMs: number): HoldPlan | null {
  const h = cd?.proxy.spec.hold;
  if (!cd || !h) return null;
  const problems: string[] = [];
  let drainMs = durationWithin(h.drainTimeout, DRAIN_TIMEOUT_BOUNDS, "proxy.spec.hold.drainTimeout", problems) ?? o.drainTimeoutMs;
  if (o.drainTimeoutGiven) drainMs = Math.min(drainMs, o.drainTimeoutMs);
  const since = Date.parse(h.since);
  if (!Number.isFinite(since)) problems.push(`proxy.spec.hold.since "${h.since}" is not a time: the drain counts from now`);
  const drainLeftMs = Number.isFinite(since) ? Math.min(drainMs, Math.max(0, since + drainMs - nowWallMs)) : drainMs;
  const sw = cd.switchover?.id === h.id ? cd.switchover : null;
  const timeoutMs =
    (sw ? durationWithin(sw.timeout, SWITCHOVER_TIMEOUT_BOUNDS, "switchover.timeout", problems) : null) ?? durationMs(DEFAULT_SWITCHOVER_TIMEOUT);
  const holdMs = Math.min(HOLD_TIMEOUT_BOUNDS.maxMs, Math.max(o.holdMs, timeoutMs + drainMs + SWITCHOVER_HOLD_MARGIN_MS));
  return { id: h.id, drainMs, drainLeftMs, holdMs, problems };
}

function durationWithin(raw: string, bounds: DurationBounds, what: string, problems: string[]): number | null {
  const d = parseDuration(raw);
  const bad = "error" in d ? d.error : boundsProblem(raw, d.ms, bounds);
  if (bad !== null || "error" in d) {
    problems.push(`${what}: ${bad}`);
    return null;
  }
  return d.ms;
}
