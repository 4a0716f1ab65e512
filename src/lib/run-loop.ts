/**
 * The one loop every daemon runs its periodic work in: keeper reconcile and report, sentinel info,
 * election and leadership term, proxy check. Level-triggered and never overlapping:
 *
 *   while (!signal.aborted) { tick(); wait(interval) or an earlier wake-up }
 *
 * Each loop counts its ticks and errors, remembers the last error and how long the last tick took
 * (LoopStats, read by /health and /metrics), and logs a failure once per distinct message rather
 * than on every tick. Time comes from the injected clock, so tests run loops on a FakeClock.
 */
import type { Clock } from "./clock.ts";
import { describeError } from "./errors.ts";
import { logNotes, type Logger } from "./log.ts";
import { Trigger } from "./trigger.ts";

/** What a loop reports about itself; plain numbers, cheap to read at any time. */
export interface LoopSnapshot {
  name: string;
  ticks: number;
  errors: number;
  /** The message of the last failed tick, "" once a tick succeeds again. */
  lastError: string;
  /** Clock time (ms) of the end of the last successful tick, 0 before the first. */
  lastSuccessAt: number;
  /** Clock time (ms) of the last failure, 0 before the first. */
  lastErrorAt: number;
  /** Duration of the last tick (ms), failed or not. */
  lastTickMs: number;
  running: boolean;
}

/** Receives every tick's outcome (metrics): called after each tick with its duration. */
export type TickObserver = (loop: string, durationMs: number, error: unknown | null) => void;

export interface LoopOptions {
  /** Short and stable: it is a metric label ("reconcile", "report", "check", ...). */
  name: string;
  /** Read before every wait, so a new spec's interval applies at once. */
  intervalMs: () => number;
  /**
   * One pass. Returning true asks for another pass at once (it changed something worth
   * re-checking). A throw is counted, logged once per distinct message and the loop goes on.
   */
  tick: (signal: AbortSignal) => Promise<boolean | void>;
  clock: Clock;
  log: Logger;
  /** Wakes the loop before its interval ends (a watch event). One is created when absent. */
  trigger?: Trigger;
  /** After any wake-up, wait at least this long (coalesces a burst of watch events). */
  minGapMs?: number;
  /**
   * The interval counts from the start of the tick, not its end: a fixed cadence, where a slow
   * tick is followed by the next at once instead of a whole interval later (the keeper's report,
   * whose fence deadline counts from the start of the last report that landed).
   */
  fromStart?: boolean;
  /** Level of a new failure's log line; repeats go to debug. Default: warn. */
  errorLevel?: "warn" | "error";
  /** Turns a failure into its log message. Default: describeError. */
  describe?: (err: unknown) => string;
  observe?: TickObserver;
}

export class Loop {
  readonly trigger: Trigger;
  private readonly stats: LoopSnapshot;

  constructor(private readonly o: LoopOptions) {
    this.trigger = o.trigger ?? new Trigger(o.clock);
    this.stats = { name: o.name, ticks: 0, errors: 0, lastError: "", lastSuccessAt: 0, lastErrorAt: 0, lastTickMs: 0, running: false };
  }

  snapshot(): LoopSnapshot {
    return { ...this.stats };
  }

  /** Runs until the signal aborts; never throws (a failure of the tick is its business). */
  async run(signal: AbortSignal): Promise<void> {
    const { o, stats } = this;
    stats.running = true;
    try {
      while (!signal.aborted) {
        const again = await this.once(signal);
        if (signal.aborted) break;
        if (!again) await this.trigger.wait(o.fromStart ? Math.max(0, o.intervalMs() - stats.lastTickMs) : o.intervalMs(), signal);
        if (o.minGapMs) await o.clock.sleep(o.minGapMs, signal).catch(() => {});
      }
    } finally {
      stats.running = false;
    }
  }

  /** One tick with its bookkeeping; true when the tick asked for another pass at once. */
  async once(signal: AbortSignal): Promise<boolean> {
    const { o, stats } = this;
    const start = o.clock.now();
    let error: unknown | null = null;
    let again = false;
    try {
      again = (await o.tick(signal)) === true;
    } catch (err) {
      error = err;
    }
    const end = o.clock.now();
    stats.ticks++;
    stats.lastTickMs = end - start;
    if (error === null) {
      stats.lastSuccessAt = end;
      stats.lastError = "";
    } else if (!signal.aborted) {
      stats.errors++;
      stats.lastErrorAt = end;
      const msg = (o.describe ?? describeError)(error);
      if (msg !== stats.lastError) o.log[o.errorLevel ?? "warn"](msg);
      else o.log.debug(msg);
      stats.lastError = msg;
    }
    o.observe?.(o.name, stats.lastTickMs, error);
    return again && error === null;
  }
}

/** Convenience for a loop that needs no handle: builds it and runs it. */
export function runLoop(o: LoopOptions, signal: AbortSignal): Promise<void> {
  return new Loop(o).run(signal);
}

/**
 * "Log it when it changes": one channel per kind of message (notes, warnings, routing reason...).
 * A text equal to the last one on its channel goes to debug, so steady state is quiet.
 */
export class SayOnce {
  private readonly last = new Map<string, string>();
  constructor(private readonly log: Logger) {}

  /**
   * Logs `lines` at `level` unless they equal the channel's last lines. Returns true if logged.
   * With a `summary`, they are logged as one decision with its notes (logNotes: a `notes` field
   * in json logs).
   */
  say(channel: string, level: "info" | "warn" | "error", lines: readonly string[], summary?: string): boolean {
    const text = lines.join("\n");
    if (text === (this.last.get(channel) ?? "")) {
      for (const l of lines) this.log.debug(l);
      return false;
    }
    this.last.set(channel, text);
    if (summary !== undefined && lines.length > 0) logNotes(this.log, level, summary, lines);
    else for (const l of lines) this.log[level](l);
    return true;
  }

  /** Forgets a channel, so its next text is logged even if it equals the last. */
  reset(channel: string): void {
    this.last.delete(channel);
  }
}
