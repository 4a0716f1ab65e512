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
