/**
 * The Prometheus text format (what a /metrics endpoint serves), read into samples, and the sums
 * and per-second rates the benchmarks compute from two scrapes. Pure: no I/O.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A label filter: each label must equal the string, or pass the test. */
export type Where = Record<string, string | ((value: string) => boolean)>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const ESCAPES: Record<string, string> = { n: "\n", "\\": "\\", '"': '"' };

/** The labels of `line` from `at` (just after "{"): the labels and where the "}" ends. */
function readLabels(line: string, at: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = at;
  for (;;) {
    while (line[i] === " " || line[i] === ",") i++;
    if (line[i] === "}") return { labels, end: i + 1 };
    const name = LABEL.exec(line.slice(i))?.[0];
    if (!name || line[i + name.length] !== "=" || line[i + name.length + 1] !== '"') throw new Error(`bad label at column ${i + 1}`);
    i += name.length + 2;
    let value = "";
    while (line[i] !== '"') {
      if (i >= line.length) throw new Error(`label ${name}: no closing quote`);
      if (line[i] === "\\") {
        const e = line[i + 1] ?? "";
        value += ESCAPES[e] ?? `\\${e}`;
        i += 2;
      } else value += line[i++];
    }
    labels[name] = value;
    i++;
  }
}

/** One sample line (not a comment, not blank). Throws on a line that is not one. */
function parseLine(line: string): Sample {
  const name = NAME.exec(line)?.[0];
  if (!name) throw new Error("no metric name");
  let labels: Record<string, string> = {};
  let i = name.length;
  if (line[i] === "{") ({ labels, end: i } = readLabels(line, i + 1));
  const rest = line.slice(i).trim().split(/\s+/);
  // A value, then maybe a timestamp.
  const raw = rest[0] ?? "";
  // Case-insensitive, as Prometheus reads them (Go's ParseFloat): prom-client writes "Nan".
  const special: Record<string, number> = { "+inf": Infinity, inf: Infinity, "-inf": -Infinity, nan: NaN };
  const lower = raw?.toLowerCase() ?? "";
  const value = lower in special ? special[lower]! : Number(raw);
  if (raw === "" || (Number.isNaN(value) && lower !== "nan") || rest.length > 2) throw new Error(`bad value "${rest.join(" ")}"`);
  return { name, labels, value };
}

/**
 * The samples of a /metrics body, in order. Comments (# HELP, # TYPE) and blank lines are
 * skipped; a line that is not a sample throws, with its number.
 */
export function parsePromText(text: string): Sample[] {
  const out: Sample[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    try {
      out.push(parseLine(line));
    } catch (err) {
      throw new Error(`metrics line ${i + 1}: ${err instanceof Error ? err.message : String(err)}: ${line}`);
    }
  });
  return out;
}

function matches(s: Sample, name: string, where: Where): boolean {
  if (s.name !== name) return false;
  for (const [k, want] of Object.entries(where)) {
    const v = s.labels[k];
    if (v === undefined || (typeof want === "string" ? v !== want : !want(v))) return false;
  }
  return true;
}

/** The sum of the samples named `name` whose labels pass `where`; null when none does. */
export function sumOf(samples: readonly Sample[], name: string, where: Where = {}): number | null {
  let sum: number | null = null;
  for (const s of samples) if (matches(s, name, where)) sum = (sum ?? 0) + s.value;
  return sum;
}

/** The samples named `name` that pass `where`, summed by the value of their label `by`. */
export function sumBy(samples: readonly Sample[], name: string, by: string, where: Where = {}): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    const key = s.labels[by];
    if (key !== undefined && matches(s, name, where)) out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

/**
 * How much a counter grew between two scrapes, and per second over `seconds`. null when it is
 * absent from either scrape, or went down (the process restarted: its counters began again).
 */
export function rate(before: number | null, after: number | null, seconds: number): { delta: number; perSecond: number } | null {
  if (before === null || after === null || after < before || !(seconds > 0)) return null;
  const delta = after - before;
  return { delta, perSecond: delta / seconds };
}

/** One cumulative histogram bucket: how many observations were at most `le`. */
export interface Bucket {
  le: number;
  count: number;
}

/**
 * The buckets of histogram `name` (its `<name>_bucket` series) whose labels pass `where`, summed
 * by upper bound over the series, as the counts grown between two scrapes; sorted by bound.
 * Empty when the histogram is absent from either scrape.
 */
export function bucketDeltas(before: readonly Sample[], after: readonly Sample[], name: string, where: Where = {}): Bucket[] {
  const les = (s: readonly Sample[]) => sumBy(s, `${name}_bucket`, "le", where);
  const b = les(before);
  const a = les(after);
  const parse = (le: string) => (le === "+Inf" ? Infinity : Number(le));
  return [...a.entries()]
    .filter(([le]) => b.has(le))
    .map(([le, n]) => ({ le: parse(le), count: Math.max(0, n - b.get(le)!) }))
    .sort((x, y) => x.le - y.le);
}

/**
 * The q-quantile (0..1) of cumulative buckets, as Prometheus's histogram_quantile computes it:
 * linear within the bucket that holds the rank (from 0 for the first bucket); the highest finite
 * bound when the rank falls in the +Inf bucket; null when there is no observation.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0 || buckets.at(-1)!.le !== Infinity) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank && b.count > prevCount) {
      if (b.le === Infinity) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / (b.count - prevCount);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}
