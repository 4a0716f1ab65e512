/**
 * Soak benchmark: a saturated but healthy cluster must never fail over and never fence itself.
 *
 * A local cluster with the default spec (3 keepers, 2 sentinels, a proxy; as bench/failover.ts),
 * settled; then for --minutes N:
 *  - a write load through the proxy: 4 pooled clients, each writing one row per transaction back
 *    to back (scripts/row-writers.ts), every write's latency recorded, errors counted;
 *  - CPU saturation: 2 child processes busy-looping at the cluster's own priority (not niced);
 *  - disk bursts: a child that every 5 s writes 64 MB in 1 MB chunks, each followed by fsync, on
 *    the filesystem of the cluster's data (inside the cluster's temp dir);
 *  - with --slow-etcd-disk, also a child that writes 4 KiB and fsyncs, again and again, next to
 *    etcd's data dir (<dir>/etcd, same filesystem), so etcd's own fsyncs wait behind it.
 * Meanwhile the cluster data is read every 200 ms: changes of the master, keepers and dbs marked
 * unhealthy by the sentinel. At the end it prints the master changes (with times), the keepers'
 * self-fencing ("fencing the master") and the proxy's ("no successful check ... every connection
 * closed") from their logs, the longest pause between two acknowledged writes (all clients
 * merged), write latency p50 / p99 / max, writes acknowledged and failed, the load (load average,
 * hogs, bytes the burst writer wrote) and etcd's WAL fsync latency (from its /metrics histogram:
 * the quiet start-up until the load began, and the load window, as deltas), and each keeper's
 * report pass (its PostgreSQL state, then KeeperInfo written to etcd: the renewal whose absence
 * for KEEPER_FENCE_MS fences a master), from its stolon_loop_tick_duration_seconds{loop="report"}.
 *
 *   npm run bench:soak -- --minutes N [--slow-etcd-disk] [--base-port 26630] [--keep]
 *
 * --minutes defaults to 10 and takes fractions (0.5).
 *
 * Figures, never assertions. Every child (cluster and hogs) is stopped at the end, on an error and
 * on Ctrl-C; a hog whose parent is gone (this script SIGKILLed) notices and exits within seconds
 * (the cluster's own processes then stay: their pids are in <dir>/pids).
 * --keep leaves the cluster's dir (logs included) in place and prints where it is.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { ClusterData } from "../src/cluster/index.ts";
import { LocalCluster, SU_PASSWORD } from "../scripts/local-cluster.ts";
import { connectTo, ROW_TABLE_DDL, RowWriter } from "../scripts/row-writers.ts";
import { readLines } from "./lines.ts";
import { parsePromText, sumBy, sumOf } from "./prom-text.ts";

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string, def: number) => (flag(name) ? Number(args[args.indexOf(`--${name}`) + 1]) : def);
const MINUTES = opt("minutes", 10);
const SLOW_ETCD_DISK = flag("slow-etcd-disk");
const BASE_PORT = opt("base-port", 26630);
const WRITERS = 4;
const CPU_HOGS = 2;
const BURST = { mb: 64, everyMs: 5000 };
const POLL_MS = 200;
if (!(MINUTES > 0)) throw new Error(`--minutes must be a positive number (got ${args[args.indexOf("--minutes") + 1]})`);

const dir = mkdtempSync(join(tmpdir(), "stolon-soak-"));
const lc = new LocalCluster({ dir, basePort: BASE_PORT, spec: { initMode: "new", usePgrewind: true }, log: (m) => console.log(`  ${m}`) });
const stopAll = new AbortController();

// ---------------------------------------------------------------------------------------------
// Hogs: child processes, each a tiny Bun script that exits by itself once its parent is gone.

/** Prepended to every hog: exit when this script is gone (the child is re-parented). */
const ORPHAN_CHECK = `const parent = process.ppid; const orphaned = () => process.ppid !== parent;`;
const CPU_HOG = `${ORPHAN_CHECK} for (;;) { const t = Date.now(); while (Date.now() - t < 200) {} if (orphaned()) process.exit(0); }`;
/** Every `everyMs`, `mb` MiB in 1 MiB chunks, fsync after each; prints one JSON line per burst. */
const burstWriter = (file: string) => `${ORPHAN_CHECK}
const fs = require("node:fs");
const chunk = Buffer.alloc(1 << 20, 0x5a);
for (;;) {
  if (orphaned()) process.exit(0);
  const t = performance.now();
  const fd = fs.openSync(${JSON.stringify(file)}, "w");
  for (let i = 0; i < ${BURST.mb}; i++) { fs.writeSync(fd, chunk); fs.fsyncSync(fd); }
  fs.closeSync(fd);
  fs.unlinkSync(${JSON.stringify(file)});
  console.log(JSON.stringify({ bytes: ${BURST.mb} * chunk.length, ms: performance.now() - t }));
  Bun.sleepSync(${BURST.everyMs});
}`;
/** 4 KiB written and fsynced, continuously, over a 4 MiB file; prints one JSON line a second. */
const fsyncWriter = (file: string) => `${ORPHAN_CHECK}
const fs = require("node:fs");
const block = Buffer.alloc(4096, 0x5a);
const fd = fs.openSync(${JSON.stringify(file)}, "w");
let n = 0, last = performance.now();
for (;;) {
  fs.writeSync(fd, block, 0, block.length, (n % 1024) * 4096);
  fs.fsyncSync(fd);
  n++;
  if (performance.now() - last >= 1000) {
    if (orphaned()) process.exit(0);
    console.log(JSON.stringify({ fsyncs: n }));
    last = performance.now();
  }
}`;

interface HogReport {
  bytes?: number;
  ms?: number;
  fsyncs?: number;
}

class Hogs {
  private readonly procs: Subprocess[] = [];
  readonly cpu: number[] = [];
  readonly bursts: { bytes: number; ms: number }[] = [];
  fsyncs = 0;

  private spawn(script: string, onReport?: (r: HogReport) => void): Subprocess<"ignore", "pipe", "inherit"> {
    const p = Bun.spawn([process.execPath, "-e", script], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
    this.procs.push(p);
    if (onReport)
      void (async () => {
        for await (const line of readLines(p.stdout)) if (line.trim()) onReport(JSON.parse(line) as HogReport);
      })();
    return p;
  }

  startCpu(n: number): void {
    for (let i = 0; i < n; i++) this.cpu.push(this.spawn(CPU_HOG).pid);
  }

  startBursts(file: string): void {
    this.spawn(burstWriter(file), (r) => this.bursts.push({ bytes: r.bytes ?? 0, ms: r.ms ?? 0 }));
  }

  startFsyncs(file: string): void {
    this.spawn(fsyncWriter(file), (r) => (this.fsyncs = r.fsyncs ?? this.fsyncs));
  }

  /** Synchronous, so it can run from a signal handler too. */
  killAll(): void {
    for (const p of this.procs) p.kill("SIGKILL");
  }

  async stop(): Promise<void> {
    this.killAll();
    await Promise.all(this.procs.map((p) => p.exited));
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster view, read every 200 ms.

interface Change {
  at: number;
  what: string;
}

class ViewWatcher {
  readonly masterChanges: Change[] = [];
  readonly unhealthy: Change[] = [];
  readErrors = 0;
  reads = 0;
  private master: string | null | undefined;
  private readonly healthy = new Map<string, boolean>();
  private done: Promise<void> = Promise.resolve();

  constructor(private readonly t0: number) {}

  start(signal: AbortSignal): void {
    this.done = (async () => {
      while (!signal.aborted) {
        const cd = (await lc.store.getClusterData().catch(() => null))?.clusterData;
        if (cd) this.look(cd);
        else this.readErrors++;
        await Bun.sleep(POLL_MS);
      }
    })();
  }

  private look(cd: ClusterData): void {
    this.reads++;
    const now = performance.now() - this.t0;
    const m = cd.cluster.status.master ?? null;
    if (this.master !== undefined && m !== this.master) {
      this.masterChanges.push({ at: now, what: `master ${this.name(cd, this.master)} -> ${this.name(cd, m)}` });
    }
    this.master = m;
    const seen: [string, boolean | undefined][] = [
      ...Object.values(cd.keepers).map((k): [string, boolean | undefined] => [`keeper ${k.uid}`, k.status.healthy]),
      ...Object.values(cd.dbs).map((d): [string, boolean | undefined] => [`db ${d.uid} (${d.spec.keeperUID})`, d.status.healthy]),
    ];
    for (const [name, h] of seen) {
      const was = this.healthy.get(name);
      if (was === true && h !== true) this.unhealthy.push({ at: now, what: `${name} marked unhealthy` });
      if (was === false && h === true) this.unhealthy.push({ at: now, what: `${name} healthy again` });
      this.healthy.set(name, h === true);
    }
  }

  private name(cd: ClusterData, db: string | null): string {
    return db ? `db ${db} (${cd.dbs[db]?.spec.keeperUID ?? "?"})` : "none";
  }

  async stop(): Promise<void> {
    await this.done;
  }
}

// ---------------------------------------------------------------------------------------------
// Histograms from /metrics: etcd's WAL fsync, the keepers' report loop.

interface Histogram {
  buckets: [number, number][];
  sum: number;
  count: number;
}

/** Prometheus text `text`'s histogram `name`, summed over the series whose labels include `want` (besides le). */
function parseHistogram(text: string, name: string, want: Record<string, string> = {}): Histogram | null {
  const samples = parsePromText(text);
  const buckets = [...sumBy(samples, `${name}_bucket`, "le", want)].map(([le, c]): [number, number] => [le === "+Inf" ? Infinity : Number(le), c]);
  if (buckets.length === 0) return null;
  return { buckets, sum: sumOf(samples, `${name}_sum`, want) ?? 0, count: sumOf(samples, `${name}_count`, want) ?? 0 };
}

async function scrape(url: string): Promise<string | null> {
  return fetch(url, { signal: AbortSignal.timeout(5000) }).then((r) => r.text()).catch(() => null);
}

interface Histograms {
  etcdFsync: Histogram | null;
  /** The keepers' report loop (KeeperInfo written to etcd), by keeper. */
  report: Record<string, Histogram | null>;
}

async function histograms(): Promise<Histograms> {
  const etcd = await scrape(`${lc.endpoint}/metrics`);
  const report: Record<string, Histogram | null> = {};
  for (const k of lc.keeperNames) {
    const t = await scrape(`${lc.adminUrl(k)}/metrics`);
    report[k] = t ? parseHistogram(t, "stolon_loop_tick_duration_seconds", { loop: "report" }) : null;
  }
  return { etcdFsync: etcd ? parseHistogram(etcd, "etcd_disk_wal_fsync_duration_seconds") : null, report };
}

function delta(after: Histogram, before: Histogram | null): Histogram {
  if (!before) return after;
  return {
    buckets: after.buckets.map(([le, c], i) => [le, c - (before.buckets[i]?.[1] ?? 0)]),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/** The upper bound of the bucket holding quantile q (Prometheus buckets are cumulative). */
function bucketQuantile(h: Histogram, q: number): number {
  const want = q * h.count;
  for (const [le, c] of h.buckets) if (c >= want) return le;
  return Infinity;
}

function describeHistogram(h: Histogram, what: string): string {
  if (h.count === 0) return `no ${what}`;
  const ms = (s: number) => (s === Infinity ? "> largest bucket" : `<= ${(s * 1000).toFixed(s < 0.001 ? 1 : 0)} ms`);
  return `${h.count} ${what}, mean ${((h.sum / h.count) * 1000).toFixed(2)} ms, p50 ${ms(bucketQuantile(h, 0.5))}, p99 ${ms(bucketQuantile(h, 0.99))}, max ${ms(bucketQuantile(h, 1))}`;
}

// ---------------------------------------------------------------------------------------------
// The run.

const fmtS = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** Resolves with `p`, or rejects as soon as the run is aborted (Ctrl-C). */
function abortable<T>(p: Promise<T>): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      if (stopAll.signal.aborted) reject(new Error("interrupted"));
      stopAll.signal.addEventListener("abort", () => reject(new Error("interrupted")), { once: true });
    }),
  ]);
}

/** The longest pause between two acknowledged writes of all clients, and when it began. */
function longestPause(acks: number[]): { ms: number; from: number } {
  const s = [...acks].sort((a, b) => a - b);
  let best = { ms: 0, from: s[0] ?? 0 };
  for (let i = 1; i < s.length; i++) if (s[i]! - s[i - 1]! > best.ms) best = { ms: s[i]! - s[i - 1]!, from: s[i - 1]! };
  return best;
}

/**
 * Lines of the components' logs that contain one of `needles` and were logged at or after `since`
 * (each line begins with its ISO time; a line without one is kept).
 */
function logLines(names: string[], needles: string[], since: Date): string[] {
  const inWindow = (l: string) => {
    const t = Date.parse(l.slice(0, l.indexOf(" ")));
    return Number.isNaN(t) || t >= since.getTime();
  };
  return names.flatMap((n) => lc.logOf(n).split("\n").filter((l) => needles.some((x) => l.includes(x)) && inWindow(l)).map((l) => `${n}: ${l}`));
}

/**
 * The keepers' fences since `since`, each with how long after it the keeper said "etcd answers
 * again" (the fence is then lifted at its next pass).
 */
function keeperFences(since: Date): string[] {
  const out: string[] = [];
  for (const k of lc.keeperNames) {
    const lines = logLines([k], ["fencing the master", "etcd answers again"], since);
    lines.forEach((l, i) => {
      if (!l.includes("fencing the master")) return;
      const next = lines.slice(i + 1).find((x) => x.includes("etcd answers again"));
      const t = (x: string) => Date.parse(x.slice(x.indexOf(": ") + 2).split(" ")[0]!);
      out.push(`${l}${next ? ` [etcd answered again ${t(next) - t(l)} ms later]` : " [still fenced at the end]"}`);
    });
  }
  return out;
}

function printList(title: string, items: string[], max = 20): void {
  console.log(`${title}: ${items.length}`);
  for (const i of items.slice(0, max)) console.log(`    ${i}`);
  if (items.length > max) console.log(`    ... and ${items.length - max} more`);
}

async function main(): Promise<void> {
  const quote = (a: string) => (/^[\w./:=+-]+$/.test(a) ? a : JSON.stringify(a));
  console.log(`command: npm run bench:soak -- ${args.map(quote).join(" ")} (in ${process.cwd()})`);
  console.log(
    `soak benchmark: ${MINUTES} min, default spec, ${WRITERS} writers, ${CPU_HOGS} CPU hogs, ${BURST.mb} MiB fsynced bursts every ${BURST.everyMs / 1000} s` +
      `${SLOW_ETCD_DISK ? ", a 4 KiB write+fsync loop next to etcd's data dir" : ""} (Bun ${Bun.version}, ${navigator.hardwareConcurrency} CPUs, dir ${dir})`,
  );
  await abortable(lc.start());
  await abortable(lc.waitSettled(180_000));
  const setup = connectTo({ port: lc.ports.proxy, password: SU_PASSWORD });
  await abortable(setup.unsafe(ROW_TABLE_DDL));
  await setup.end({ timeout: 1 });

  const hogs = new Hogs();
  const writers = Array.from({ length: WRITERS }, (_, i) => new RowWriter(`w${i + 1}`, "pooled", { port: lc.ports.proxy, password: SU_PASSWORD }));
  const watchStop = new AbortController();
  const before = await histograms();
  const t0 = performance.now();
  const startedAt = new Date();
  const watcher = new ViewWatcher(t0);
  let maxLoad = 0;
  try {
    watcher.start(watchStop.signal);
    for (const w of writers) w.start();
    hogs.startCpu(CPU_HOGS);
    hogs.startBursts(join(dir, "burst.tmp"));
    if (SLOW_ETCD_DISK) hogs.startFsyncs(join(dir, "etcd-disk-hog.tmp"));
    console.log(`load started at ${startedAt.toISOString()} for ${MINUTES} min`);
    const endAt = t0 + MINUTES * 60_000;
    let nextReport = t0 + 30_000;
    while (performance.now() < endAt && !stopAll.signal.aborted) {
      await Bun.sleep(Math.min(1000, endAt - performance.now()));
      maxLoad = Math.max(maxLoad, loadavg()[0]!);
      if (performance.now() >= nextReport) {
        nextReport += 30_000;
        const acks = writers.reduce((n, w) => n + w.acks.length, 0);
        const errs = writers.reduce((n, w) => n + w.errors, 0);
        console.log(`  +${fmtS(performance.now() - t0)}: ${acks} writes acknowledged, ${errs} failed, ${watcher.masterChanges.length} master change(s), load ${loadavg()[0]!.toFixed(2)}`);
      }
    }
    if (stopAll.signal.aborted) throw new Error("interrupted");
  } finally {
    const after = await histograms();
    const load = loadavg();
    await hogs.stop();
    await Promise.all(writers.map((w) => w.stop().catch(() => {})));
    watchStop.abort();
    await watcher.stop();
    report({ writers, watcher, hogs, t0, startedAt, load, maxLoad, before, after });
  }
}

interface Results {
  writers: RowWriter[];
  watcher: ViewWatcher;
  hogs: Hogs;
  t0: number;
  startedAt: Date;
  load: number[];
  maxLoad: number;
  before: Histograms;
  after: Histograms;
}

function report(r: Results): void {
  const elapsed = performance.now() - r.t0;
  const acks = r.writers.flatMap((w) => w.acks);
  const lat = acks.map((a) => a.ms).sort((a, b) => a - b);
  const errors = r.writers.reduce((n, w) => n + w.errors, 0);
  const pause = longestPause(acks.map((a) => a.at));
  const at = (c: Change) => `+${fmtS(c.at)}: ${c.what}`;
  console.log(`\n=== soak results (${fmtS(elapsed)} of load from ${r.startedAt.toISOString()}, ${SLOW_ETCD_DISK ? "with" : "without"} --slow-etcd-disk; log lines from the load's start) ===`);
  printList("master changes", r.watcher.masterChanges.map(at));
  printList("keepers' self-fencing (\"fencing the master\")", keeperFences(r.startedAt));
  printList("proxy's self-fencing (\"no successful check ... every connection closed\")", logLines(["proxy"], ["(proxyTimeout): every connection closed"], r.startedAt));
  printList("keepers / dbs marked unhealthy in the cluster data (or healthy again)", r.watcher.unhealthy.map(at));
  printList("sentinel notes of an unhealthy keeper or a failover", logLines(["sentinel1", "sentinel2"], ["is unhealthy", "failover from db"], r.startedAt), 10);
  console.log(`cluster data reads: ${r.watcher.reads} every ${POLL_MS} ms, ${r.watcher.readErrors} failed`);
  console.log(`writes acknowledged: ${acks.length} (${(acks.length / (elapsed / 1000)).toFixed(0)}/s), failed: ${errors}`);
  // Each writer keeps its first 5 error messages: the distinct ones, with how many writers saw each.
  const samples = new Map<string, number>();
  for (const w of r.writers) for (const e of new Set(w.errorSamples)) samples.set(e, (samples.get(e) ?? 0) + 1);
  for (const [e, n] of samples) console.log(`    error (among the first 5 of ${n} writer(s)): ${e}`);
  console.log(`write latency: p50 ${quantile(lat, 0.5).toFixed(1)} ms, p99 ${quantile(lat, 0.99).toFixed(1)} ms, max ${(lat.at(-1) ?? NaN).toFixed(1)} ms`);
  console.log(`longest pause between two acknowledged writes (all clients): ${pause.ms.toFixed(0)} ms, from +${fmtS(pause.from - r.t0)}`);
  const burstBytes = r.hogs.bursts.reduce((n, b) => n + b.bytes, 0);
  const burstMs = r.hogs.bursts.map((b) => b.ms).sort((a, b) => a - b);
  console.log(`load average at the end: ${r.load.map((x) => x.toFixed(2)).join(" ")} (1-min max seen ${Math.max(r.maxLoad, r.load[0] ?? 0).toFixed(2)}); CPU hogs: ${r.hogs.cpu.length}`);
  console.log(`burst writer: ${r.hogs.bursts.length} bursts, ${(burstBytes / 2 ** 20).toFixed(0)} MiB written with fsync per MiB; a burst took median ${quantile(burstMs, 0.5).toFixed(0)} ms, max ${(burstMs.at(-1) ?? NaN).toFixed(0)} ms`);
  if (SLOW_ETCD_DISK) console.log(`etcd disk hog: ${r.hogs.fsyncs} 4 KiB write+fsync (${(r.hogs.fsyncs / (elapsed / 1000)).toFixed(0)}/s)`);
  const { before, after } = r;
  if (before.etcdFsync) console.log(`etcd WAL fsync, start-up until the load: ${describeHistogram(before.etcdFsync, "fsyncs")}`);
  if (after.etcdFsync) console.log(`etcd WAL fsync, during the load:        ${describeHistogram(delta(after.etcdFsync, before.etcdFsync), "fsyncs")}`);
  else console.log("etcd WAL fsync: etcd's /metrics did not answer at the end");
  for (const k of lc.keeperNames) {
    const a = after.report[k];
    const b = before.report[k] ?? null;
    const cmp = a && b ? `; before the load: ${describeHistogram(b, "passes")}` : "";
    console.log(`${k}'s report pass (state + KeeperInfo to etcd) during the load: ${a ? describeHistogram(delta(a, b), "passes") : "no metrics"}${cmp}`);
  }
}

let exitCode = 0;
const onSignal = (sig: string) => {
  console.log(`\n${sig}: stopping`);
  stopAll.abort();
};
process.on("SIGINT", () => onSignal("SIGINT"));
process.on("SIGTERM", () => onSignal("SIGTERM"));
try {
  await main();
} catch (err) {
  console.error(`soak failed: ${err instanceof Error ? err.message : String(err)}`);
  exitCode = 1;
} finally {
  await lc.stop();
  if (flag("keep")) console.log(`cluster dir kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
