/**
 * Go-style duration strings ("5s", "1m30s", "500ms", "1.5h"), as stolon writes them in its spec.
 * Durations in code are numbers of milliseconds (`...Ms`); the spec keeps the strings.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/**
 * Parses a Go duration string to milliseconds. Returns an error message instead of throwing,
 * so spec validation can collect every problem. "0" is the only unit-less value Go accepts.
 */
export function parseDuration(input: string): { ms: number } | { error: string } {
  const bad = { error: `"${input}" is not a duration (use Go syntax such as "500ms", "5s", "1m30s", "48h")` };
  let s = input.trim();
  if (s !== input || s === "") return bad;
  let sign = 1;
  if (s[0] === "-" || s[0] === "+") {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return { ms: 0 };
  if (s === "") return bad;
  let total = 0;
  while (s.length > 0) {
    const m = PART.exec(s);
    if (!m) return bad;
    const [whole, num, unit] = m as unknown as [string, string, string];
    total += Number(num) * (UNIT_MS[unit] ?? Number.NaN);
    s = s.slice(whole.length);
  }
  if (!Number.isFinite(total)) return bad;
  return { ms: sign * total };
}

/**
 * The allowed range of one duration. Every duration a user can set (spec fields, flags) has
 * one: below `min` loops spin and a healthy master can fence itself; above `max` a timer no
 * longer fits in the 2^31-1 ms that setTimeout takes (Bun, like Node.js, fires a longer one
 * after 1 ms) and nothing sensible waits that long anyway. `zero` names what 0 means when 0 is
 * allowed as well ("no timeout", "no hold"); 0 is then the only value below `min`.
 */
export interface DurationBounds {
  readonly minMs: number;
  readonly maxMs: number;
  readonly zero?: string;
}

/** The longest duration anything accepts: 24 days, below setTimeout's 2^31-1 ms (24.8 days). */
export const MAX_DURATION_MS = 24 * 24 * 3_600_000;

/**
 * Why `ms` (parsed from `raw`) is outside `bounds`, as a sentence that names the value and the
 * bound, or null when it is inside. Negative values are reported as such.
 */
export function boundsProblem(raw: string, ms: number, bounds: DurationBounds): string | null {
  const min = formatDuration(bounds.minMs);
  const max = formatDuration(bounds.maxMs);
  if (ms < 0) return `must not be negative, got "${raw}"`;
  if (ms === 0 && bounds.zero !== undefined) return null;
  if (ms === 0 && bounds.minMs > 0) return `must be greater than zero (at least ${min}), got "${raw}"`;
  if (ms < bounds.minMs)
    return bounds.zero !== undefined
      ? `"${raw}" is below the minimum of ${min} (or 0 for ${bounds.zero})`
      : `"${raw}" is below the minimum of ${min}`;
  if (ms > bounds.maxMs) return `"${raw}" is above the maximum of ${max}`;
  return null;
}

/**
 * `ms` brought inside `bounds` (0 stays 0 where 0 is allowed): what a daemon uses when a stored
 * spec, written by an older version or a hostile etcd writer, holds a value out of range.
 */
export function clampDuration(ms: number, bounds: DurationBounds): number {
  if (ms === 0 && bounds.zero !== undefined) return 0;
  if (!(ms >= bounds.minMs)) return bounds.minMs;
  return Math.min(ms, bounds.maxMs);
}

/** The range of `bounds` in words, for help texts and the README: "100ms to 1h0m0s". */
export function describeBounds(bounds: DurationBounds): string {
  const range = `${formatDuration(bounds.minMs)} to ${formatDuration(bounds.maxMs)}`;
  return bounds.zero !== undefined ? `0 (${bounds.zero}) or ${range}` : range;
}

/** Parses or throws; for values already validated (defaults, validated specs). */
export function durationMs(input: string): number {
  const r = parseDuration(input);
  if ("error" in r) throw new RangeError(r.error);
  return r.ms;
}

/** Formats milliseconds the way Go's Duration.String() does ("1m30s", "500ms", "0s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out = "";
  if (rest < 1000) {
    out = `${trim(rest)}ms`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    if (h > 0) out += `${h}h`;
    if (h > 0 || m > 0) out += `${m}m`;
    out += `${trim(rest / 1000)}s`;
  }
  return neg ? `-${out}` : out;
}

function trim(n: number): string {
  return String(Number(n.toFixed(6)));
}
