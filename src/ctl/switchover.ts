/**
 * `stolonctl switchover [--to <keeper>] [--wait] [--timeout 30s] [--drain-timeout 5s]`.
 *
 * stolonctl only records the request (cd.switchover, phase "requested") by compare-and-swap; the
 * leader sentinel carries it out step by step and writes every step into the same field. With
 * --wait, stolonctl follows the cluster data (a watch, with a poll as the safety net) and prints
 * each new step line until the switchover ends: exit 0 on "done", 1 on "failed" / "rolled-back"
 * or when its own deadline (timeout + drainTimeout + a margin) passes first.
 *
 * `stolonctl switchover --cancel` ends a request no sentinel has accepted yet at once (nothing was
 * done for it), and asks the leader sentinel to roll back an accepted one (cancelRequestedAt); a
 * switchover whose promotion has started runs to its end.
 */
import {
  activePause,
  boundsProblem,
  DEFAULT_SWITCHOVER_DRAIN_TIMEOUT,
  DEFAULT_SWITCHOVER_TIMEOUT,
  formatDuration,
  masterDb,
  MAX_SWITCHOVER_STEPS,
  parseDuration,
  SWITCHOVER_DRAIN_TIMEOUT_BOUNDS,
  SWITCHOVER_TIMEOUT_BOUNDS,
  switchoverInProgress,
  UID_RE,
  type ClusterData,
  type DurationBounds,
  type Switchover,
} from "../cluster/index.ts";
import { ConfigError, StolonError } from "../lib/errors.ts";
import type { Store } from "../store/index.ts";
import { writeClusterDataWithRetry } from "./cas.ts";
import type { CtlIO } from "./io.ts";
import { describePause } from "./pause.ts";
import { requireClusterData } from "./spec.ts";

export const SWITCHOVER_DEFAULTS = { timeout: DEFAULT_SWITCHOVER_TIMEOUT, drainTimeout: DEFAULT_SWITCHOVER_DRAIN_TIMEOUT } as const;
/** What --wait allows beyond timeout + drainTimeout: the promotion itself and the proxies' switch. */
export const SWITCHOVER_WAIT_MARGIN_MS = 30_000;
/** How often --wait reads the cluster data when no watch event came. */
const WAIT_POLL_MS = 500;

export interface SwitchoverOptions {
  to?: string;
  timeout?: string;
  drainTimeout?: string;
  wait?: boolean;
}

/** The durations of a request, checked; every problem is reported at once. */
export function switchoverDurations(opts: SwitchoverOptions): { timeout: string; drainTimeout: string; timeoutMs: number; drainMs: number } {
  const problems: string[] = [];
  const check = (flag: string, raw: string, bounds: DurationBounds): number => {
    const r = parseDuration(raw);
    if ("error" in r) {
      problems.push(`--${flag}: ${r.error}`);
      return 0;
    }
    const p = boundsProblem(raw, r.ms, bounds);
    if (p) problems.push(`--${flag}: ${p}`);
    return r.ms;
  };
  const timeout = opts.timeout ?? SWITCHOVER_DEFAULTS.timeout;
  const drainTimeout = opts.drainTimeout ?? SWITCHOVER_DEFAULTS.drainTimeout;
  const timeoutMs = check("timeout", timeout, SWITCHOVER_TIMEOUT_BOUNDS);
  const drainMs = check("drain-timeout", drainTimeout, SWITCHOVER_DRAIN_TIMEOUT_BOUNDS);
  if (opts.to !== undefined && !UID_RE.test(opts.to)) problems.push(`--to: "${opts.to}" is not a keeper uid`);
  if (problems.length > 0) throw new ConfigError(problems);
  return { timeout, drainTimeout, timeoutMs, drainMs };
}

/**
 * Why a switchover cannot be requested on this cluster data now, or null. The sentinel checks the
 * target's eligibility itself when it picks the request up (it knows health and lag); these are
 * the refusals stolonctl can tell at once, so the operator gets them without waiting.
 */
export function switchoverRefusal(cd: ClusterData, now: Date, to?: string): StolonError | null {
  const busy = cd.switchover;
  if (switchoverInProgress(busy))
    return new StolonError("ESWITCHOVERBUSY", `switchover ${busy.id} is already in progress (phase ${busy.phase} since ${busy.phaseTime}): wait for it to end`);
  const pause = activePause(cd, now);
  if (pause) return new StolonError("EPAUSED", `the cluster is paused (${describePause(pause)}): run "stolonctl resume" first`);
  if (cd.cluster.status.phase !== "normal")
    return new StolonError("ENOTREADY", `the cluster is still ${cd.cluster.status.phase}: there is no master to switch over from yet`);
  const master = masterDb(cd);
  if (!master) return new StolonError("ENOTREADY", "the cluster has no master: there is nothing to switch over from");
  if (to !== undefined) {
    if (!cd.keepers[to]) {
      const known = Object.keys(cd.keepers).sort();
      return new StolonError("ENOKEEPER", `keeper ${to} is not in the cluster (keepers: ${known.join(", ") || "none"})`);
    }
    if (master.spec.keeperUID === to) return new StolonError("EMASTERKEEPER", `keeper ${to} already holds the master db ${master.uid}`);
    if (!Object.values(cd.dbs).some((d) => d.spec.keeperUID === to))
      return new StolonError("ENOKEEPER", `keeper ${to} has no db: it cannot become master`);
  }
  return null;
}

/** The new request, as stolonctl writes it: the sentinel takes it from here. */
export function newSwitchover(o: { id: string; now: Date; to?: string; timeout: string; drainTimeout: string }): Switchover {
  const at = o.now.toISOString();
  return {
    id: o.id,
    requestedAt: at,
    ...(o.to !== undefined ? { to: o.to } : {}),
    timeout: o.timeout,
    drainTimeout: o.drainTimeout,
    phase: "requested",
    phaseTime: at,
    steps: [],
  };
}

/**
 * Records the request (compare-and-swap, re-checked on fresh data after a lost race) and returns
 * its id.
 */
export async function requestSwitchover(store: Store, io: CtlIO, opts: SwitchoverOptions): Promise<string> {
  const d = switchoverDurations(opts);
  const id = io.newUid();
  await writeClusterDataWithRetry(
    store,
    (cd) => {
      const now = io.now();
      const refused = switchoverRefusal(cd, now, opts.to);
      if (refused) throw refused;
      cd.switchover = newSwitchover({ id, now, to: opts.to, timeout: d.timeout, drainTimeout: d.drainTimeout });
      cd.changeTime = now.toISOString();
      const target = opts.to !== undefined ? `to keeper ${opts.to}` : "to the best eligible standby";
      return `switchover ${id} requested ${target} (timeout ${d.timeout}, drain timeout ${d.drainTimeout})`;
    },
    (msg) => io.out(msg),
  );
  return id;
}

/** The outcome stolonctl writes when it cancels a request no sentinel has picked up. */
export const CANCELLED_UNACCEPTED = "cancelled with stolonctl switchover --cancel before a sentinel accepted it";

/**
 * `stolonctl switchover --cancel`: compare-and-swap, re-checked on fresh data after a lost race
 * (a sentinel accepting the request meanwhile turns the cancel into a rollback request).
 */
export async function cancelSwitchover(store: Store, io: CtlIO): Promise<void> {
  await writeClusterDataWithRetry(
    store,
    (cd) => {
      const last: Switchover | undefined = cd.switchover ?? undefined;
      const sw = cd.switchover;
      if (!switchoverInProgress(sw))
        throw new StolonError(
          "ENOSWITCHOVER",
          last ? `no switchover is in progress: the last one, ${last.id}, ended ${last.phase}${last.outcome ? ` (${last.outcome})` : ""}` : "no switchover is in progress",
        );
      const now = io.now().toISOString();
      if (sw.phase === "requested") {
        Object.assign(sw, { phase: "failed", phaseTime: now, outcome: CANCELLED_UNACCEPTED });
        sw.steps = [...(sw.steps ?? []), { time: now, text: CANCELLED_UNACCEPTED }].slice(-MAX_SWITCHOVER_STEPS);
        cd.changeTime = now;
        return `switchover ${sw.id} cancelled: no sentinel had accepted it, nothing was changed`;
      }
      if (sw.phase === "promoting")
        throw new StolonError("ENOSWITCHOVER", `switchover ${sw.id} is promoting db ${sw.toDb} already: too late to cancel, it runs to its end`);
      if (sw.cancelRequestedAt !== undefined) {
        io.out(`switchover ${sw.id}: cancel already requested at ${sw.cancelRequestedAt}`);
        return null;
      }
      sw.cancelRequestedAt = now;
      cd.changeTime = now;
      return `switchover ${sw.id} (phase ${sw.phase}): cancel requested; the leader sentinel rolls it back and db ${sw.fromDb} stays master (follow it with "stolonctl status")`;
    },
    (msg) => io.out(msg),
  );
}

/** The line --wait prints for a step. */
export const stepLine = (s: { time: string; text: string }) => `${s.time}  ${s.text}`;

export interface WaitOptions {
  /** Give up (exit 1) after this long. */
  deadlineMs: number;
  /** Monotonic milliseconds (performance.now in real use). */
  monoNow?: () => number;
}

/**
 * Follows switchover `id` until it ends, printing every step line not printed yet. Returns it when
 * done; throws ESWITCHOVERFAILED with the outcome when it failed or was rolled back, and
 * ESWITCHOVERWAIT when the deadline passes first or the request disappears.
 */
export async function waitSwitchover(store: Store, io: CtlIO, id: string, o: WaitOptions): Promise<Switchover> {
  const mono = o.monoNow ?? (() => performance.now());
  const deadline = mono() + o.deadlineMs;
  let wake: (() => void) | null = null;
  const unwatch = store.watchClusterData(
    () => wake?.(),
    () => {}, // the poll below carries on
  );
  const printed = new Set<string>();
  try {
    for (;;) {
      const { clusterData } = await requireClusterData(store);
      const s = clusterData.switchover;
      if (!s || s.id !== id)
        throw new StolonError("ESWITCHOVERWAIT", `switchover ${id} is no longer in the cluster data (${s ? `switchover ${s.id} replaced it` : "it was removed"})`);
      for (const step of s.steps ?? []) {
        const line = stepLine(step);
        if (printed.has(line)) continue;
        printed.add(line);
        io.out(line);
      }
      if (s.phase === "done") {
        io.out(`switchover ${id} done${s.outcome ? `: ${s.outcome}` : ""}`);
        return s;
      }
      if (s.phase === "failed" || s.phase === "rolled-back")
        throw new StolonError("ESWITCHOVERFAILED", `switchover ${id} ${s.phase}: ${s.outcome ?? "(no outcome given)"}`);
      const left = deadline - mono();
      if (left <= 0)
        throw new StolonError(
          "ESWITCHOVERWAIT",
          `gave up waiting for switchover ${id} after ${formatDuration(o.deadlineMs)}: it is in phase ${s.phase} since ${s.phaseTime}${
            s.phase === "requested" ? " (is a sentinel running?)" : ""
          }; follow it with "stolonctl status"`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(WAIT_POLL_MS, left));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    unwatch();
  }
}

/** `stolonctl switchover`: request, and with --wait follow it to its end. */
export async function switchover(store: Store, io: CtlIO, opts: SwitchoverOptions): Promise<void> {
  const d = switchoverDurations(opts);
  const id = await requestSwitchover(store, io, opts);
  if (!opts.wait) {
    io.out(`follow it with "stolonctl status" (or run with --wait)`);
    return;
  }
  await waitSwitchover(store, io, id, { deadlineMs: d.timeoutMs + d.drainMs + SWITCHOVER_WAIT_MARGIN_MS });
}
