/**
 * How many clusters one etcd carries: N clusters on one etcd, a simulation. Each cluster has its
 * two real sentinels and its real proxy (cmd/sentinel.ts, cmd/proxy.ts, as processes) and three
 * simulated keepers (bench/sim-keepers.ts: no PostgreSQL, but their reads, watch and reports are
 * the real keeper's, through the real Store code). For each N:
 *
 *   1. etcd alone, in a temp dir, on free ports, with the settings printed (ETCD_SETTINGS);
 *   2. N clusters c001.. initialized (`stolonctl init`, initMode new); the simulated keepers
 *      started in --keeper-procs child processes; the sentinels and proxies started in batches of
 *      --batch clusters, each batch once the previous one's admin listeners answer;
 *   3. settle: every cluster normal, its master routed by the proxy, two converged standbys;
 *   4. idle window (--settle s, then --seconds s counted): etcd's rates from its /metrics (raft
 *      proposals, revisions, requests by method, watch messages, leases; bench/etcd-figures.ts),
 *      request latency (grpc_server_handling_seconds, etcd runs with --metrics extensive), WAL
 *      fsync and backend commit latency, the db's size and growth, and the CPU and memory of
 *      etcd, of the sentinels, the proxies, the keeper simulators and of the machine (/proc);
 *   5. failover probe, --failovers clusters one at a time: the master's keeper is silenced (as a
 *      killed keeper; its PostgreSQL would run on, so its standbys keep streaming and only the
 *      lease expiry or stale reports fail it), and the time is taken from its last report that
 *      landed to its info key's deletion (the lease expiry) and to the cluster data naming another
 *      master (both seen by a watch of the cluster's prefix from this process); the keeper is then
 *      started again and the cluster waited for until it is whole (the old master a standby);
 *   6. keepers only: every sentinel and proxy stopped (SIGTERM), their keys waited out of etcd,
 *      then the same window again. The difference of the two windows is the sentinels' and
 *      proxies' share (by removal, as bench/etcd-load.ts does: their requests, the watch messages
 *      sent to them and what their writes cause in the keepers).
 *
 *   npm run bench:etcd-scale -- --clusters 10[,50,100] [--real 10] [--seconds 60] [--settle 10]
 *       [--failovers 5] [--keeper-procs auto] [--batch 10] [--wal-rate 16384] [--base-port 27000]
 *       [--no-keepers-only] [--keep]
 *
 * --clusters takes a list: each N runs on a fresh etcd, one after the other. --real M runs the
 * sentinels and proxy of the first M clusters only (a sample, when the machine cannot hold 3N Bun
 * processes of about 90 MB and their CPU): the cluster data of the others is made whole offline
 * (the real decide() on simulated reports, bench/sim-keeper-state.ts settleOffline) and written
 * once, so their keepers report a master and standbys as in a running cluster; the figures for
 * N whole clusters are then estimated as keepers only + N x (the sample's share / M), and said to
 * be estimates. --keeper-procs auto is one simulator process per 25 clusters. --wal-rate: bytes/s a master writes (its reports show
 * an advancing position, so the leading sentinel writes the reported figures once per
 * sleepInterval, as for a cluster taking writes). --keep leaves the dir (logs) in place.
 * Figures, never assertions.
 */
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { KEEPER_REPORT_MS, masterDb, type ClusterData } from "../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../src/store/index.ts";
import { portFree } from "../scripts/local-cluster.ts";
import { difference, divided, etcdFigures, fmtRate, type Figure, sideBySide } from "./etcd-figures.ts";
import { readLines } from "./lines.ts";
import { bucketDeltas, histogramQuantile, parsePromText, type Sample, sumOf, type Where } from "./prom-text.ts";
import { settleOffline } from "./sim-keeper-state.ts";
import { SIM_KEEPERS, STORE_PREFIX, wallNow } from "./sim-keepers.ts";

const args = process.argv.slice(2);
const optRaw = (name: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
const opt = (name: string, def: number, min: number) => {
  const v = optRaw(name);
  const n = v === undefined ? def : Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} wants a number >= ${min}, not "${v}"`);
  return n;
};
const CLUSTER_COUNTS = (optRaw("clusters") ?? "10").split(",").map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 999) throw new Error(`--clusters wants numbers 1..999 separated by commas, not "${s}"`);
  return n;
});
const SECONDS = opt("seconds", 60, 1);
const SETTLE = opt("settle", 10, 0);
const FAILOVERS = opt("failovers", 5, 0);
const BATCH = opt("batch", 10, 1);
const WAL_RATE = opt("wal-rate", 16384, 0);
const BASE_PORT = opt("base-port", 27000, 1024);
const REAL = optRaw("real") === undefined || optRaw("real") === "all" ? null : opt("real", 1, 1);
const KEEPER_PROCS = optRaw("keeper-procs") === undefined || optRaw("keeper-procs") === "auto" ? null : opt("keeper-procs", 1, 1);
const SETTLE_TIMEOUT_MS = 600_000;
/** After the probes, a window with every sentinel and proxy stopped (to split the cost, and to estimate N whole clusters from a sample). */
const KEEPERS_ONLY = !args.includes("--no-keepers-only");

/**
 * The etcd settings the benchmark runs with, and the ones recommended for many clusters (see the
 * README section "How many clusters per etcd"): history older than 5 minutes compacted every 5
 * minutes (the revision rate grows with the clusters: a revision count would mean a different age
 * for every N), and an explicit 8 GiB quota; --metrics extensive for the request latency
 * histograms (grpc_server_handling_seconds).
 */
export const ETCD_SETTINGS = [
  "--auto-compaction-mode", "periodic",
  "--auto-compaction-retention", "5m",
  "--quota-backend-bytes", String(8 * 2 ** 30),
  "--metrics", "extensive",
];

const quote = (a: string) => (/^[\w./:=+,-]+$/.test(a) ? a : JSON.stringify(a));
const COMMAND = `npm run bench:etcd-scale${args.length ? ` -- ${args.map(quote).join(" ")}` : ""}`;
const root = join(import.meta.dir, "..");
const say = (m: string) => console.log(`  [${new Date().toISOString().slice(11, 19)}] ${m}`);

// ---- ports, processes, /proc ---------------------------------------------------------------------

let nextPort = BASE_PORT;
/** The next free port from --base-port up (below the kernel's ephemeral ports). */
function takePort(): number {
  while (!portFree(nextPort)) nextPort++;
  return nextPort++;
}

type Group = "etcd" | "sentinels" | "proxies" | "keeper simulators";

interface Proc {
  name: string;
  group: Group;
  proc: Subprocess<"pipe" | "ignore", "pipe" | number, number>;
}

const CLK_TCK = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; null when it is gone. */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After the name: state is field 3, utime field 14, stime field 15 (1-based, man 5 proc).
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Resident memory of a process in bytes (VmRSS); 0 when it is gone. */
function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The machine's busy and total CPU time (all cores), from /proc/stat, in ticks. */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

// ---- one run: N clusters --------------------------------------------------------------------------

interface ClusterProcs {
  name: string;
  /** Its sentinels and proxy run (the first --real clusters); else its cluster data was made whole offline. */
  real: boolean;
  store: KvStore;
  sentinels: { port: number; proc: Proc }[];
  proxy: { port: number; metrics: number; proc: Proc };
}

interface Probe {
  cluster: string;
  oldKeeper: string;
  newKeeper: string;
  toExpiryMs: number | null;
  expiryToNewMs: number | null;
  toNewMs: number | null;
  sentinelSaysMs: number | null;
  wholeAgainMs: number | null;
}

interface Window {
  what: string;
  seconds: number;
  /** The simulated keepers' reports that landed per second, and how many they should have made. */
  reportsPerSecond: number;
  expectedReportsPerSecond: number;
  figures: Figure[];
  latency: { label: string; p50: number | null; p99: number | null; count: number }[];
  cpu: { group: string; procs: number; cpuPct: number | null; rssMiB: number }[];
  notes: string[];
}

interface Result extends Window {
  n: number;
  real: number;
  probes: Probe[];
  /** The same with every sentinel and proxy stopped (the simulated keepers of every cluster alone). */
  keepersOnly: Window | null;
}

class Run {
  readonly dir = mkdtempSync(join(tmpdir(), "stolon-etcd-scale-"));
  readonly procs: Proc[] = [];
  readonly clusters: ClusterProcs[] = [];
  readonly sims: { proc: Proc; clusters: string[]; pending: Map<string, (line: string) => void> }[] = [];
  endpoint = "";
  private backend: EtcdBackend | null = null;
  etcd: Proc | null = null;

  /** How many clusters run their sentinels and proxy. */
  readonly real: number;

  constructor(readonly n: number) {
    this.real = Math.min(n, REAL ?? n);
    for (const d of ["logs"]) mkdirSync(join(this.dir, d), { recursive: true });
  }

  spawn(name: string, group: Group, argv: string[], stdio: "pipe" | "ignore" = "ignore"): Proc {
    const logFd = openSync(join(this.dir, "logs", `${name}.log`), "a");
    const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" };
    const proc = Bun.spawn(argv, { stdin: stdio, stdout: stdio === "pipe" ? "pipe" : logFd, stderr: logFd, env });
    const p = { name, group, proc } as Proc;
    this.procs.push(p);
    return p;
  }

  cmd(name: string, cluster: string, extra: string[]): string[] {
    return [process.execPath, join(root, "cmd", `${name}.ts`), "--cluster-name", cluster, "--store-backend", "etcdv3", "--store-endpoints", this.endpoint, ...extra];
  }

  async startEtcd(): Promise<void> {
    const client = takePort();
    const peer = takePort();
    this.endpoint = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    const argv = [
      "etcd", "--name", "scale", "--data-dir", join(this.dir, "etcd"),
      "--listen-client-urls", this.endpoint, "--advertise-client-urls", this.endpoint,
      "--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl, "--initial-cluster", `scale=${peerUrl}`,
      "--log-level", "error", ...ETCD_SETTINGS,
    ];
    this.etcd = this.spawn("etcd", "etcd", argv);
    for (let i = 0; ; i++) {
      if (await fetch(`${this.endpoint}/health`).then((r) => r.ok, () => false)) break;
      if (i > 100) throw new Error(`etcd did not start; see ${join(this.dir, "logs", "etcd.log")}`);
      await Bun.sleep(100);
    }
    this.backend = new EtcdBackend({ endpoints: [this.endpoint], timeoutMs: 10_000 });
    say(`etcd ${this.endpoint}: ${ETCD_SETTINGS.join(" ")}`);
  }

  /** `stolonctl init` of every cluster, 6 at a time; the clusters past --real made whole offline. */
  async initClusters(): Promise<void> {
    const names = Array.from({ length: this.n }, (_, i) => `c${String(i + 1).padStart(3, "0")}`);
    for (let i = 0; i < names.length; i += 6) {
      await Promise.all(
        names.slice(i, i + 6).map(async (name) => {
          const p = Bun.spawn(this.cmd("stolonctl", name, ["init", "-y", JSON.stringify({ initMode: "new" })]), { stdout: "pipe", stderr: "pipe" });
          if ((await p.exited) !== 0) throw new Error(`stolonctl init of ${name} failed: ${await new Response(p.stderr).text()}`);
        }),
      );
    }
    for (const [i, name] of names.entries()) {
      this.clusters.push({
        name,
        real: i < this.real,
        store: new KvStore(this.backend!, { prefix: STORE_PREFIX, clusterName: name }),
        sentinels: [],
        proxy: null as unknown as ClusterProcs["proxy"],
      });
    }
    for (const c of this.clusters.filter((x) => !x.real)) {
      const v = (await c.store.getClusterData())!;
      await c.store.putClusterData(settleOffline(v.clusterData, SIM_KEEPERS), v.revision);
    }
    say(
      `${names.length} clusters initialized (stolonctl init, initMode new)` +
        (this.real < this.n ? `; the cluster data of ${this.n - this.real} of them (${names[this.real]}..) made whole offline (decide() on simulated reports): no sentinel or proxy runs for them` : ""),
    );
  }

  /** The keeper simulators: the clusters split over the processes, in order. */
  async startSimulators(): Promise<void> {
    const count = Math.min(this.n, KEEPER_PROCS ?? Math.ceil(this.n / 25));
    const per = Math.ceil(this.n / count);
    for (let i = 0; i < count; i++) {
      const clusters = this.clusters.slice(i * per, (i + 1) * per).map((c) => c.name);
      if (clusters.length === 0) continue;
      const argv = [process.execPath, join(root, "bench", "sim-keepers.ts"), "--endpoint", this.endpoint, "--wal-rate", String(WAL_RATE), ...clusters];
      const proc = this.spawn(`keepers${i + 1}`, "keeper simulators", argv, "pipe");
      const sim = { proc, clusters, pending: new Map<string, (line: string) => void>() };
      this.sims.push(sim);
      const ready = new Promise<void>((resolve) => sim.pending.set("ready", () => resolve()));
      void (async () => {
        for await (const line of readLines(proc.proc.stdout as ReadableStream<Uint8Array>)) {
          const key = line.startsWith("stats ") ? "stats" : line.split(" ").slice(0, 3).join(" ");
          const waiter = sim.pending.get(key);
          sim.pending.delete(key);
          waiter?.(line);
        }
      })();
      await ready;
    }
    say(`${this.n * SIM_KEEPERS.length} simulated keepers in ${this.sims.length} process(es) (${per} clusters each at most)`);
  }

  /** Sends a command to the simulator of `cluster` (or the given one) and waits for the answer whose first words are `expect`. */
  ask(sim: Run["sims"][number], command: string, expect: string): Promise<string> {
    const answer = new Promise<string>((resolve) => sim.pending.set(expect, resolve));
    (sim.proc.proc.stdin as import("bun").FileSink).write(`${command}\n`);
    (sim.proc.proc.stdin as import("bun").FileSink).flush();
    return answer;
  }

  simOf(cluster: string): Run["sims"][number] {
    const s = this.sims.find((x) => x.clusters.includes(cluster));
    if (!s) throw new Error(`no simulator holds ${cluster}`);
    return s;
  }

  /** Two sentinels and a proxy per cluster, --batch clusters at a time, each batch once the previous one answers. */
  async startComponents(): Promise<void> {
    const t0 = performance.now();
    const real = this.clusters.filter((c) => c.real);
    for (let i = 0; i < real.length; i += BATCH) {
      const batch = real.slice(i, i + BATCH);
      for (const c of batch) {
        for (const s of [1, 2]) {
          const port = takePort();
          c.sentinels.push({ port, proc: this.spawn(`${c.name}-sentinel${s}`, "sentinels", this.cmd("sentinel", c.name, ["--metrics-listen-address", `127.0.0.1:${port}`])) });
        }
        const port = takePort();
        const metrics = takePort();
        c.proxy = { port, metrics, proc: this.spawn(`${c.name}-proxy`, "proxies", this.cmd("proxy", c.name, ["--listen-address", "127.0.0.1", "--port", String(port), "--metrics-listen-address", `127.0.0.1:${metrics}`])) };
      }
      const admin = batch.flatMap((c) => [...c.sentinels.map((s) => s.port), c.proxy.metrics]);
      const deadline = Date.now() + 120_000;
      for (const port of admin) {
        while (!(await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.ok, () => false))) {
          if (Date.now() > deadline) throw new Error(`a component of clusters ${batch[0]!.name}..${batch.at(-1)!.name} did not answer on port ${port} within 120 s`);
          const dead = this.procs.find((p) => p.proc.exitCode !== null);
          if (dead) throw new Error(`${dead.name} exited with code ${dead.proc.exitCode}; see ${join(this.dir, "logs", `${dead.name}.log`)}`);
          await Bun.sleep(200);
        }
      }
    }
    say(`${real.length * 2} sentinels and ${real.length} proxies started in ${((performance.now() - t0) / 1000).toFixed(1)} s (batches of ${BATCH} clusters)`);
  }

  /** Whether a cluster is whole: normal, its master routed, healthy and converged, with two converged standbys of it. */
  static whole(cd: ClusterData | undefined): boolean {
    if (!cd || cd.cluster.status.phase !== "normal") return false;
    const m = masterDb(cd);
    if (!m || cd.proxy.spec.masterDbUid !== m.uid || !m.status.healthy || m.status.currentGeneration !== m.generation) return false;
    const standbys = Object.values(cd.dbs).filter((d) => d.uid !== m.uid && d.status.healthy && d.status.currentGeneration === d.generation && d.spec.followConfig?.dbuid === m.uid);
    return standbys.length === SIM_KEEPERS.length - 1 && (cd.proxy.spec.enabledProxies ?? []).length > 0;
  }

  async waitWhole(): Promise<void> {
    const t0 = performance.now();
    let last = -1;
    const pending = new Set(this.clusters.filter((c) => c.real));
    while (pending.size > 0) {
      if (performance.now() - t0 > SETTLE_TIMEOUT_MS) throw new Error(`${pending.size} clusters not whole after ${SETTLE_TIMEOUT_MS / 1000} s: ${[...pending].slice(0, 10).map((c) => c.name).join(", ")}`);
      for (const c of [...pending]) {
        const cd = (await c.store.getClusterData().catch(() => null))?.clusterData;
        if (Run.whole(cd)) pending.delete(c);
      }
      const done = this.real - pending.size;
      if (done !== last) say(`${done}/${this.real} clusters whole (normal, master routed, 2 converged standbys)`);
      last = done;
      if (pending.size > 0) await Bun.sleep(2000);
    }
    say(`all ${this.real} clusters whole ${((performance.now() - t0) / 1000).toFixed(1)} s after the last component started`);
  }

  async scrapeEtcd(): Promise<{ samples: Sample[]; at: number }> {
    const t = performance.now();
    const text = await fetch(`${this.endpoint}/metrics`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text());
    return { samples: parsePromText(text), at: (t + performance.now()) / 2 };
  }

  /** The sum of a metric over every sentinel's admin /metrics; null when one did not answer. */
  async sentinelSum(name: string, where: Where = {}): Promise<number | null> {
    const ports = this.clusters.flatMap((c) => c.sentinels.map((s) => s.port));
    let sum = 0;
    for (let i = 0; i < ports.length; i += 20) {
      const vals = await Promise.all(
        ports.slice(i, i + 20).map((p) =>
          fetch(`http://127.0.0.1:${p}/metrics`, { signal: AbortSignal.timeout(10_000) })
            .then((r) => r.text())
            .then((t) => sumOf(parsePromText(t), name, where) ?? 0)
            .catch(() => null),
        ),
      );
      if (vals.includes(null)) return null;
      sum += vals.reduce((a, b) => a! + b!, 0)!;
    }
    return sum;
  }

  cpuByGroup(): Map<string, { cpu: number; procs: number }> {
    const out = new Map<string, { cpu: number; procs: number }>();
    for (const p of this.procs) {
      const s = cpuSeconds(p.proc.pid);
      if (s === null) continue;
      const g = out.get(p.group) ?? { cpu: 0, procs: 0 };
      g.cpu += s;
      g.procs++;
      out.set(p.group, g);
    }
    const me = process.cpuUsage();
    out.set("this process", { cpu: (me.user + me.system) / 1e6, procs: 1 });
    return out;
  }

  async simStats(): Promise<{ reports: number; failures: number; late: number; totalMs: number; maxMs: number }> {
    const all = await Promise.all(this.sims.map((s) => this.ask(s, "stats", "stats")));
    return all
      .map((l) => JSON.parse(l.slice("stats ".length)))
      .reduce((a, b) => ({ reports: a.reports + b.reports, failures: a.failures + b.failures, late: a.late + b.late, totalMs: a.totalMs + b.totalMs, maxMs: Math.max(a.maxMs, b.maxMs) }));
  }

  /** A counting window: every rate and latency, CPU and memory. */
  async window(what: string): Promise<Window> {
    say(`window "${what}": settling ${SETTLE} s, then counting ${SECONDS} s`);
    await Bun.sleep(SETTLE * 1000);
    const leaders = await this.sentinelSum("stolon_sentinel_is_leader");
    const w0 = await this.sentinelSum("stolon_sentinel_decisions_total");
    const s0 = await this.simStats();
    const before = await this.scrapeEtcd();
    const cpu0 = this.cpuByGroup();
    const m0 = machineTicks();
    await Bun.sleep(SECONDS * 1000);
    const after = await this.scrapeEtcd();
    const cpu1 = this.cpuByGroup();
    const m1 = machineTicks();
    const s1 = await this.simStats();
    const w1 = await this.sentinelSum("stolon_sentinel_decisions_total");
    const seconds = (after.at - before.at) / 1000;
    const figures = etcdFigures(before.samples, after.samples, seconds);
    const latency = this.latencies(before.samples, after.samples);
    const cpu = [...cpu1].map(([group, g]) => {
      const was = cpu0.get(group);
      const rss = this.procs.filter((p) => p.group === group).reduce((a, p) => a + rssBytes(p.proc.pid), 0) + (group === "this process" ? process.memoryUsage().rss : 0);
      return { group, procs: g.procs, cpuPct: was ? ((g.cpu - was.cpu) / seconds) * 100 : null, rssMiB: rss / 2 ** 20 };
    });
    cpu.push({ group: `the machine (${navigator.hardwareConcurrency} cores, every process)`, procs: 0, cpuPct: ((m1.busy - m0.busy) / (m1.total - m0.total)) * navigator.hardwareConcurrency * 100, rssMiB: NaN });
    const lv = (n: string) => sumOf(after.samples, n) ?? NaN;
    const lb = (n: string) => sumOf(before.samples, n) ?? NaN;
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    const reports = s1.reports - s0.reports;
    const notes = [
      `sentinels leading: ${leaders ?? "unknown"} of ${this.clusters.filter((c) => c.sentinels.length > 0).length} clusters with sentinels running; cluster-data writes by the sentinels in the window: ${w0 === null || w1 === null ? "unknown" : `${w1 - w0} (${((w1 - w0) / seconds).toFixed(2)}/s, ${((w1 - w0) / seconds / this.n).toFixed(2)}/s per cluster)`}`,
      `simulated keeper reports in the window: ${reports} (${(reports / seconds).toFixed(1)}/s, expected ${(this.n * SIM_KEEPERS.length * (1000 / KEEPER_REPORT_MS)).toFixed(0)}/s), failed ${s1.failures - s0.failures}, started more than 250 ms late ${s1.late - s0.late}; a report (a lease renewal, and a put when the info changed) took ${reports > 0 ? ((s1.totalMs - s0.totalMs) / reports).toFixed(1) : "-"} ms on average, at most ${s1.maxMs.toFixed(0)} ms`,
      `etcd at the end: ${lv("etcd_debugging_mvcc_keys_total")} keys, revision ${lv("etcd_debugging_mvcc_current_revision")}, ${lv("etcd_debugging_mvcc_watcher_total")} watchers on ${lv("etcd_debugging_mvcc_watch_stream_total")} watch streams, ` +
        `db ${mib(lv("etcd_mvcc_db_total_size_in_bytes"))} (in use ${mib(lv("etcd_mvcc_db_total_size_in_use_in_bytes"))}), grown ${mib(lv("etcd_mvcc_db_total_size_in_bytes") - lb("etcd_mvcc_db_total_size_in_bytes"))} in the window ` +
        `(${((lv("etcd_mvcc_db_total_size_in_bytes") - lb("etcd_mvcc_db_total_size_in_bytes")) / seconds / 1024).toFixed(1)} KiB/s), quota ${mib(lv("etcd_server_quota_backend_bytes"))}`,
      `etcd's RSS at the end: ${mib(rssBytes(this.etcd!.proc.pid))}; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
    ];
    const expectedReportsPerSecond = this.n * SIM_KEEPERS.length * (1000 / KEEPER_REPORT_MS);
    return { what, seconds, reportsPerSecond: reports / seconds, expectedReportsPerSecond, figures, latency, cpu, notes };
  }

  latencies(before: readonly Sample[], after: readonly Sample[]): Result["latency"] {
    const q = (name: string, where: Where) => {
      const b = bucketDeltas(before, after, name, where);
      return { p50: histogramQuantile(0.5, b), p99: histogramQuantile(0.99, b), count: b.at(-1)?.count ?? 0 };
    };
    const unary = (m?: string): Where => ({ grpc_type: "unary", ...(m ? { grpc_method: m } : {}) });
    return [
      { label: "unary requests, all methods", ...q("grpc_server_handling_seconds", unary()) },
      ...["Range", "Put", "Txn", "LeaseGrant"].map((m) => ({ label: `${m} requests`, ...q("grpc_server_handling_seconds", unary(m)) })),
      { label: "WAL fsync", ...q("etcd_disk_wal_fsync_duration_seconds", {}) },
      { label: "backend commit", ...q("etcd_disk_backend_commit_duration_seconds", {}) },
    ];
  }

  /** One failover probe on `c`. */
  async probe(c: ClusterProcs): Promise<Probe> {
    const cd0 = (await c.store.getClusterData())!.clusterData;
    const m0 = masterDb(cd0)!;
    const oldKeeper = m0.spec.keeperUID;
    const infoKey = `${c.store.basePath}/keepers/info/${oldKeeper}`;
    let silencedAt = Infinity;
    let expiredAt: number | null = null;
    let resolveNew!: (at: number) => void;
    const newMaster = new Promise<number>((r) => (resolveNew = r));
    let newKeeper = "";
    const cancel = c.store.watch((key) => {
      const at = wallNow();
      // The last report may land after the silence began: only the event that left the key gone is its expiry.
      if (key === infoKey && at > silencedAt) {
        void c.store.getKeepersInfo().then((l) => {
          if (!l.items[oldKeeper] && expiredAt === null) expiredAt = at;
        });
      }
      if (key.endsWith("/clusterdata")) {
        void c.store.getClusterData().then((v) => {
          const m = v ? masterDb(v.clusterData) : undefined;
          if (m && m.uid !== m0.uid && !newKeeper) {
            newKeeper = m.spec.keeperUID;
            resolveNew(at);
          }
        });
      }
    });
    await Bun.sleep(500);
    const sim = this.simOf(c.name);
    silencedAt = wallNow();
    const line = await this.ask(sim, `silence ${c.name} ${oldKeeper}`, `silenced ${c.name} ${oldKeeper}`);
    const lastEnd = Number(line.split(" ")[4]);
    const newAt = await Promise.race([newMaster, Bun.sleep(90_000).then(() => null)]);
    // Let the check of the deletion event finish.
    await Bun.sleep(300);
    cancel();
    const sentinelSays = await this.leaderFailoverSeconds(c);
    await this.ask(sim, `resume ${c.name} ${oldKeeper}`, `resumed ${c.name} ${oldKeeper}`);
    const resumedAt = wallNow();
    let wholeAt: number | null = null;
    while (wallNow() - resumedAt < 90_000) {
      const cd = (await c.store.getClusterData().catch(() => null))?.clusterData;
      if (Run.whole(cd)) {
        wholeAt = wallNow();
        break;
      }
      await Bun.sleep(250);
    }
    const d = (a: number | null, b: number | null) => (a === null || b === null ? null : b - a);
    return {
      cluster: c.name,
      oldKeeper,
      newKeeper: newKeeper || "(none)",
      toExpiryMs: d(lastEnd, expiredAt),
      expiryToNewMs: d(expiredAt, newAt),
      toNewMs: d(lastEnd, newAt),
      sentinelSaysMs: sentinelSays === null ? null : sentinelSays * 1000,
      wholeAgainMs: d(resumedAt, wholeAt),
    };
  }

  /** The leading sentinel's stolon_sentinel_last_failover_duration_seconds for cluster `c`. */
  async leaderFailoverSeconds(c: ClusterProcs): Promise<number | null> {
    for (const s of c.sentinels) {
      const samples = await fetch(`http://127.0.0.1:${s.port}/metrics`)
        .then((r) => r.text())
        .then(parsePromText)
        .catch(() => null);
      if (samples && sumOf(samples, "stolon_sentinel_is_leader") === 1) return sumOf(samples, "stolon_sentinel_last_failover_duration_seconds");
    }
    return null;
  }

  async probes(): Promise<Probe[]> {
    const k = Math.min(FAILOVERS, this.real);
    const out: Probe[] = [];
    for (let i = 0; i < k; i++) {
      const c = this.clusters[Math.floor((i * this.real) / k)]!;
      const p = await this.probe(c);
      say(`failover probe ${i + 1}/${k} on ${c.name}: ${p.oldKeeper} -> ${p.newKeeper}, ${ms(p.toNewMs)} after its last report (lease expiry + ${ms(p.expiryToNewMs)}); whole again ${ms(p.wholeAgainMs)} after the keeper restarted`);
      out.push(p);
    }
    return out;
  }

  /**
   * Stops every sentinel and proxy (SIGTERM) and waits, up to 30 s, for their keys to leave etcd
   * (a sentinel leaves its info to its 10 s lease): then only the keepers' infos and the cluster
   * data are left, and no lease expiry falls in the next window.
   */
  async stopComponents(): Promise<void> {
    const ps = this.procs.filter((p) => p.group === "sentinels" || p.group === "proxies");
    for (const p of ps) p.proc.kill("SIGTERM");
    await Promise.all(ps.map((p) => p.proc.exited));
    for (const c of this.clusters) c.sentinels = [];
    const want = this.n * (SIM_KEEPERS.length + 1);
    const t0 = performance.now();
    let keys = Infinity;
    while (performance.now() - t0 < 30_000) {
      keys = sumOf((await this.scrapeEtcd()).samples, "etcd_debugging_mvcc_keys_total") ?? NaN;
      if (keys <= want) break;
      await Bun.sleep(500);
    }
    say(`${ps.length} sentinels and proxies stopped; ${keys} keys left in etcd (${want} expected: keeper infos and cluster data) ${((performance.now() - t0) / 1000).toFixed(1)} s after their exit`);
  }

  /** Stops everything: proxies, sentinels, simulators (SIGTERM, then SIGKILL after 20 s), etcd last. */
  async stop(): Promise<void> {
    await this.backend?.close().catch(() => {});
    for (const group of ["proxies", "sentinels", "keeper simulators", "etcd"] as Group[]) {
      const ps = this.procs.filter((p) => p.group === group);
      for (const p of ps) p.proc.kill("SIGTERM");
      await Promise.all(
        ps.map(async (p) => {
          const t = setTimeout(() => p.proc.kill("SIGKILL"), 20_000);
          await p.proc.exited;
          clearTimeout(t);
        }),
      );
    }
    if (args.includes("--keep")) say(`dir kept: ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- tables ---------------------------------------------------------------------------------------

const ms = (x: number | null) => (x === null ? "-" : `${(x / 1000).toFixed(2)} s`);
const msLat = (x: number | null) => (x === null ? "-" : `${(x * 1000).toFixed(1)} ms`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function latencyTable(r: Window & { n: number }): string {
  return [
    `| etcd latency, ${r.n} clusters | observations | p50 | p99 |`,
    "|---|---|---|---|",
    ...r.latency.map((l) => `| ${l.label} | ${l.count} | ${msLat(l.p50)} | ${msLat(l.p99)} |`),
  ].join("\n");
}

function cpuTable(r: Window & { n: number }): string {
  return [
    `| CPU and memory, ${r.n} clusters | processes | CPU, % of one core | RSS |`,
    "|---|---|---|---|",
    ...r.cpu.map((c) => `| ${c.group} | ${c.procs || "-"} | ${c.cpuPct === null ? "-" : c.cpuPct.toFixed(1)} | ${Number.isNaN(c.rssMiB) ? "-" : `${c.rssMiB.toFixed(0)} MiB`} |`),
  ].join("\n");
}

function probeTable(r: Result): string {
  const rows = r.probes.map(
    (p) => `| ${p.cluster} | ${p.oldKeeper} -> ${p.newKeeper} | ${ms(p.toExpiryMs)} | ${ms(p.expiryToNewMs)} | ${ms(p.toNewMs)} | ${ms(p.sentinelSaysMs)} | ${ms(p.wholeAgainMs)} |`,
  );
  const med = (f: (p: Probe) => number | null) => ms(median(r.probes.map(f).filter((x): x is number => x !== null)));
  return [
    `| failover, ${r.n} clusters | master keeper silenced -> new master | last report -> info key deleted (lease expiry) | lease expiry -> new cluster data | last report -> new cluster data | the leading sentinel's own figure (first seen failed -> written) | keeper restarted -> cluster whole again |`,
    "|---|---|---|---|---|---|---|",
    ...rows,
    `| median | | ${med((p) => p.toExpiryMs)} | ${med((p) => p.expiryToNewMs)} | ${med((p) => p.toNewMs)} | ${med((p) => p.sentinelSaysMs)} | ${med((p) => p.wholeAgainMs)} |`,
  ].join("\n");
}

/** The headline figures of every N side by side. */
function summary(results: Result[]): string {
  const fig = (r: Result, label: string) => r.figures.find((f) => f.label === label)?.perSecond ?? null;
  const lat = (r: Result, label: string) => r.latency.find((l) => l.label === label)?.p99 ?? null;
  const cpu = (r: Result, group: string) => r.cpu.find((c) => c.group.startsWith(group));
  const est = (r: Result, label: string) => estimate(r)?.find((f) => f.label === label)?.perSecond ?? null;
  const rows: [string, (r: Result) => string][] = [
    ["clusters with their sentinels and proxy running", (r) => String(r.real)],
    ["keeper reports landed, % of the expected", (r) => `${((100 * r.reportsPerSecond) / r.expectedReportsPerSecond).toFixed(0)} %`],
    ["raft proposals committed /s", (r) => fmtRate(fig(r, "raft proposals committed"))],
    ["  per cluster", (r) => fmtRate((fig(r, "raft proposals committed") ?? NaN) / r.n)],
    ["  keepers only", (r) => fmtRate(r.keepersOnly?.figures.find((f) => f.label === "raft proposals committed")?.perSecond ?? null)],
    ["  estimate for N whole clusters", (r) => (r.real < r.n ? fmtRate(est(r, "raft proposals committed")) : "(measured)")],
    ["unary requests /s, estimate for N whole clusters", (r) => (r.real < r.n ? fmtRate(est(r, "unary requests, all methods")) : "(measured)")],
    ["Watch responses /s, estimate for N whole clusters", (r) => (r.real < r.n ? fmtRate(est(r, "Watch responses (stream messages out)")) : "(measured)")],
    ["store revisions /s", (r) => fmtRate(fig(r, "store revisions"))],
    ["unary requests /s", (r) => fmtRate(fig(r, "unary requests, all methods"))],
    ["Range requests /s", (r) => fmtRate(fig(r, "Range requests"))],
    ["LeaseKeepAlive messages /s", (r) => fmtRate(fig(r, "LeaseKeepAlive requests (stream messages in)"))],
    ["Watch responses /s", (r) => fmtRate(fig(r, "Watch responses (stream messages out)"))],
    ["WAL fsyncs /s", (r) => fmtRate(fig(r, "WAL fsyncs"))],
    ["etcd request latency p99 (unary)", (r) => msLat(lat(r, "unary requests, all methods"))],
    ["  Range p99", (r) => msLat(lat(r, "Range requests"))],
    ["  Put p99", (r) => msLat(lat(r, "Put requests"))],
    ["  Txn p99", (r) => msLat(lat(r, "Txn requests"))],
    ["WAL fsync p99", (r) => msLat(lat(r, "WAL fsync"))],
    ["etcd CPU, % of one core", (r) => cpu(r, "etcd")?.cpuPct?.toFixed(1) ?? "-"],
    ["  keepers only", (r) => cpuOf(r.keepersOnly, "etcd")?.toFixed(1) ?? "-"],
    ["etcd RSS", (r) => `${cpu(r, "etcd")?.rssMiB.toFixed(0) ?? "-"} MiB`],
    ["sentinels' CPU, % of one core", (r) => cpu(r, "sentinels")?.cpuPct?.toFixed(1) ?? "-"],
    ["proxies' CPU, % of one core", (r) => cpu(r, "proxies")?.cpuPct?.toFixed(1) ?? "-"],
    ["keeper simulators' CPU, % of one core", (r) => cpu(r, "keeper simulators")?.cpuPct?.toFixed(1) ?? "-"],
    ["the machine's CPU, % of one core", (r) => cpu(r, "the machine")?.cpuPct?.toFixed(0) ?? "-"],
    ["failover: last report -> new master (median)", (r) => ms(median(r.probes.map((p) => p.toNewMs).filter((x): x is number => x !== null)))],
    ["failover: lease expiry -> new master (median)", (r) => ms(median(r.probes.map((p) => p.expiryToNewMs).filter((x): x is number => x !== null)))],
    ["failover: lease expiry -> new master (max)", (r) => ms(Math.max(...r.probes.map((p) => p.expiryToNewMs ?? -Infinity)) === -Infinity ? null : Math.max(...r.probes.map((p) => p.expiryToNewMs ?? -Infinity)))],
  ];
  return [
    `| clusters on one etcd | ${results.map((r) => r.n).join(" | ")} |`,
    `|---|${results.map(() => "---").join("|")}|`,
    ...rows.map(([label, f]) => `| ${label} | ${results.map(f).join(" | ")} |`),
  ].join("\n");
}

/** `a` plus `b` times `k`, label by label. */
function plusScaled(a: readonly Figure[], b: readonly Figure[], k: number): Figure[] {
  return difference(a, divided(b, -1 / k));
}

/**
 * The keepers' part of the idle window: the keepers-only rates times the ratio of the reports
 * that landed in the two windows. On a saturated machine the keepers report less often in the
 * idle window than alone, and an unscaled difference would give their shortfall to the sentinels.
 */
function keepersFactor(r: Result): number {
  const k = r.keepersOnly;
  return k && k.reportsPerSecond > 0 ? r.reportsPerSecond / k.reportsPerSecond : 1;
}

/**
 * Figures that do not add up across components: etcd batches the proposals of concurrent
 * requests into one WAL fsync and one backend commit, more so the busier it is (a busy window may
 * show fewer fsyncs than a quiet one with fewer proposals). They are left out of the split and
 * the estimate; so is etcd's CPU, for the same reason.
 */
const NOT_ADDITIVE = new Set(["WAL fsyncs", "backend commits"]);

/** The sentinels' and proxies' share of the idle window, all `real` clusters: idle - keepers only x keepersFactor. */
function componentsShare(r: Result): Figure[] | null {
  if (!r.keepersOnly) return null;
  return plusScaled(r.figures, r.keepersOnly.figures, -keepersFactor(r)).map((f) => (NOT_ADDITIVE.has(f.label) ? { ...f, perSecond: null } : f));
}

/** What N whole clusters would cost, from a run where `real` of them ran their sentinels and proxy: keepers only + N x the per-cluster share. */
function estimate(r: Result): Figure[] | null {
  const share = componentsShare(r);
  return r.keepersOnly && share ? plusScaled(r.keepersOnly.figures, share, r.n / r.real) : null;
}

const cpuOf = (w: Window | null, group: string) => w?.cpu.find((c) => c.group.startsWith(group))?.cpuPct ?? null;

function printResult(r: Result): void {
  const who = r.real === r.n ? `all ${r.n} clusters whole` : `${r.n} clusters' keepers, ${r.real} clusters' sentinels and proxies`;
  console.log(`\n=== ${r.n} clusters on one etcd, idle window of ${r.seconds.toFixed(1)} s: ${who} (${COMMAND}) ===\n`);
  const k = r.keepersOnly;
  const columns = [{ title: `idle: ${who}`, figures: r.figures }];
  if (k) {
    const f = keepersFactor(r);
    columns.push(
      { title: `keepers only: ${r.n} clusters' simulated keepers`, figures: k.figures },
      { title: `one cluster's 3 keepers (keepers only / ${r.n})`, figures: divided(k.figures, r.n) },
      { title: `one cluster's 2 sentinels and proxy ((idle - keepers only x ${f.toFixed(2)}) / ${r.real})`, figures: divided(componentsShare(r)!, r.real) },
    );
    if (r.real < r.n) columns.push({ title: `estimate: ${r.n} whole clusters (keepers only + ${r.n} x that)`, figures: estimate(r)! });
  } else {
    columns.push({ title: "per cluster", figures: divided(r.figures, r.n) });
  }
  console.log(sideBySide(columns));
  if (k) {
    const pct = (w: Window) => `${((100 * w.reportsPerSecond) / w.expectedReportsPerSecond).toFixed(0)} %`;
    console.log(
      `\nThe split is by removal (idle - keepers only), the keepers-only rates scaled by ${keepersFactor(r).toFixed(2)}, the ratio of the keeper reports that landed ` +
        `(idle: ${pct(r)} of the expected ${r.expectedReportsPerSecond.toFixed(0)}/s; keepers only: ${pct(k)}). Below 95 % the machine did not keep up: the idle window's figures are then those of a saturated machine, not of etcd's limit. ` +
        "WAL fsyncs and backend commits are left out of the split: etcd batches concurrent proposals into one, more so when busy, so they do not add up.",
    );
  }
  console.log(`\n${latencyTable(r)}\n\n${cpuTable(r)}\n`);
  for (const n of r.notes) console.log(n);
  if (k) {
    console.log(`\nkeepers only (window of ${k.seconds.toFixed(1)} s):\n\n${latencyTable({ ...r, ...k })}\n\n${cpuTable({ ...r, ...k })}\n`);
    for (const n of k.notes) console.log(n);
  }
  if (r.probes.length > 0) console.log(`\n${probeTable(r)}`);
}

async function runOne(n: number): Promise<Result> {
  console.log(`\n--- ${n} clusters on one etcd (${new Date().toISOString()}) ---`);
  const run = new Run(n);
  try {
    await run.startEtcd();
    await run.initClusters();
    await run.startSimulators();
    await run.startComponents();
    await run.waitWhole();
    const idle = await run.window("idle");
    const probes = await run.probes();
    let keepersOnly: Window | null = null;
    if (KEEPERS_ONLY) {
      await run.stopComponents();
      keepersOnly = await run.window("keepers only");
    }
    const r = { n, real: run.real, ...idle, probes, keepersOnly };
    printResult(r);
    return r;
  } finally {
    await run.stop();
  }
}

async function main(): Promise<void> {
  console.log(`command: ${COMMAND}`);
  console.log(
    `etcd scale benchmark: N clusters (${CLUSTER_COUNTS.join(", ")}) on one etcd, each 2 real sentinels, 1 real proxy, 3 simulated keepers (no PostgreSQL; WAL ${WAL_RATE} B/s); ` +
      `${SECONDS} s counted after ${SETTLE} s; ${FAILOVERS} failover probes (Bun ${Bun.version}, ${navigator.hardwareConcurrency} CPUs, ${(Number(readFileSync("/proc/meminfo", "utf8").match(/MemTotal:\s+(\d+)/)?.[1]) / 2 ** 20).toFixed(1)} GiB)`,
  );
  const results: Result[] = [];
  for (const n of CLUSTER_COUNTS) results.push(await runOne(n));
  if (results.length > 1) console.log(`\n=== summary (${COMMAND}) ===\n\n${summary(results)}`);
  else console.log(`\n=== summary ===\n\n${summary(results)}`);
  console.log(`\n${COMMAND}`);
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  console.error(`etcd scale benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  exitCode = 1;
}
process.exit(exitCode);
