/**
 * Proxy benchmark: pgbench -S directly against PostgreSQL, through stolon-proxy and through
 * HAProxy 2.6 (TCP mode), interleaved in one run so the three see the same machine, then memory
 * per idle client connection for both proxies.
 *
 *   npm run bench:proxy -- [--seconds 10] [--rounds 3] [--idle 500]
 *
 * With --metrics-ab, instead: the proxy's CPU per transaction with its admin listener on and
 * scraped (every --scrape-interval s, default 1, as a fast Prometheus would) against a proxy
 * without one, paired: both proxies run in the same run, pgbench alternates between them round
 * by round (A B, then B A, ...), and CPU (utime + stime from /proc/<pid>/stat) is divided by
 * the transactions of that run.
 *
 *   npm run bench:proxy -- --metrics-ab [--seconds 5] [--rounds 12] [--clients 16] [--scrape-interval 1]
 *
 * With --read-only, instead: the read-only port on a local cluster (see bench/read-only.ts).
 *
 *   npm run bench:proxy -- --read-only [--seconds 8] [--rounds 3] [--clients 8] [--lag-trials 5]
 *
 * Everything runs on 127.0.0.1 in a temp dir that is removed at the end. As root, haproxy is
 * installed with apt when missing and PostgreSQL runs as the postgres user.
 */
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { newClusterData } from "../src/cluster/index.ts";
import { lookupUserByName, type PgManager } from "../src/postgres/index.ts";
import { PG_BIN, startStandalonePostgres } from "../scripts/standalone-postgres.ts";
import { EtcdBackend, KvStore } from "../src/store/index.ts";
import { readOnlyBench } from "./read-only.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = opt("seconds", 10);
const ROUNDS = opt("rounds", 3);
const IDLE = opt("idle", 500);
const METRICS_AB = args.includes("--metrics-ab");
const READ_ONLY = args.includes("--read-only");
const CLIENTS = opt("clients", 16);
const SCRAPE_S = opt("scrape-interval", 1);
const MODES = (args.includes("--modes") ? args[args.indexOf("--modes") + 1]! : "0,1,2").split(",").map(Number);

const root = mkdtempSync(join(tmpdir(), "stolon-bench-"));
const procs: Subprocess[] = [];
let pg = null as PgManager | null;

function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

function which(bin: string): string | null {
  const r = Bun.spawnSync(["sh", "-c", `command -v ${bin}`], { stdout: "pipe" });
  return r.exitCode === 0 ? r.stdout.toString().trim() : null;
}

async function waitTcp(port: number, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).catch(() => null);
    if (s) return void s.end();
    await Bun.sleep(50);
  }
  throw new Error(`${what} did not listen on ${port}`);
}

function ensureHaproxy(): string {
  const found = which("haproxy");
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error("haproxy is missing: run apt-get install -y haproxy as root, or run this benchmark as root");
  console.log("installing haproxy with apt ...");
  for (const cmd of [["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "haproxy"]]) {
    const r = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString()}`);
  }
  return which("haproxy")!;
}

async function startPostgres(port: number): Promise<void> {
  const osUser = process.getuid?.() === 0 ? lookupUserByName("postgres") : null;
  if (osUser) chownSync(root, osUser.uid, osUser.gid);
  pg = await startStandalonePostgres(join(root, "pg"), port, { max_connections: String(IDLE + 100), shared_buffers: "256MB" });
}

function spawn(cmd: string[]): Subprocess {
  const p = Bun.spawn(cmd, { stdout: "ignore", stderr: "ignore" });
  procs.push(p);
  return p;
}

/** etcd with a cluster whose master is the PostgreSQL on pgPort, and one stolon-proxy routing to it. */
async function startEtcdAndProxy(pgPort: number, proxyPort: number): Promise<Subprocess> {
  return (await startEtcdAndProxies(pgPort, [{ port: proxyPort, extra: [] }]))[0]!;
}

/** Same, with one stolon-proxy per entry, each with its own extra flags; all enabled. */
async function startEtcdAndProxies(pgPort: number, proxies: { port: number; extra: string[] }[]): Promise<Subprocess[]> {
  const client = freePort();
  const peer = freePort();
  spawn([
    "etcd", "--name", "b", "--data-dir", join(root, "etcd"),
    "--listen-client-urls", `http://127.0.0.1:${client}`, "--advertise-client-urls", `http://127.0.0.1:${client}`,
    "--listen-peer-urls", `http://127.0.0.1:${peer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`,
    "--initial-cluster", `b=http://127.0.0.1:${peer}`, "--log-level", "error",
  ]);
  await waitTcp(client, "etcd");
  const endpoint = `http://127.0.0.1:${client}`;
  const store = new KvStore(new EtcdBackend({ endpoints: [endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: "bench" });
  const cd = newClusterData("bench", { initMode: "new" }, new Date());
  cd.cluster.status.phase = "normal";
  cd.dbs.d1 = {
    uid: "d1",
    generation: 1,
    changeTime: "",
    spec: { keeperUID: "k1", requestTimeout: "10s", maxStandbys: 20, synchronousReplication: false, usePgrewind: false, additionalWalSenders: 5, initMode: "none", role: "master" },
    status: { listenAddress: "127.0.0.1", port: String(pgPort) },
  };
  await store.putClusterData(cd, 0);
  const started = proxies.map((p) =>
    spawn([process.execPath, join(import.meta.dir, "../cmd/proxy.ts"), "--cluster-name", "bench", "--store-backend", "etcdv3", "--store-endpoints", endpoint, "--port", String(p.port), "--log-level", "warn", ...p.extra]),
  );
  let uids: string[] = [];
  for (let i = 0; i < 100 && uids.length < proxies.length; i++) {
    uids = Object.keys((await store.getProxiesInfo()).items);
    if (uids.length < proxies.length) await Bun.sleep(100);
  }
  if (uids.length < proxies.length) throw new Error(`${proxies.length - uids.length} stolon-proxy did not publish its info`);
  const v = (await store.getClusterData())!;
  v.clusterData.proxy.spec = { masterDbUid: "d1", enabledProxies: uids };
  v.clusterData.proxy.generation++;
  await store.putClusterData(v.clusterData, v.revision);
  await store.close();
  for (const p of proxies) await waitTcp(p.port, "stolon-proxy");
  return started;
}

function startHaproxy(bin: string, pgPort: number, port: number): Subprocess {
  const cfg = join(root, "haproxy.cfg");
  writeFileSync(
    cfg,
    [
      "global", "  nbthread 2", "  maxconn 4000",
      "defaults", "  mode tcp", "  timeout connect 5s", "  timeout client 1h", "  timeout server 1h",
      "frontend pg", `  bind 127.0.0.1:${port}`, "  default_backend pgs",
      "backend pgs", `  server pg1 127.0.0.1:${pgPort}`, "",
    ].join("\n"),
  );
  return spawn([bin, "-db", "-f", cfg]);
}

interface Result {
  tps: number;
  latencyMs: number;
  /** CPU time the proxy process used per transaction (µs); NaN for direct runs. */
  cpuUs: number;
}

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

/** Async, so that the event loop goes on (the --metrics-ab scraper runs during the runs). */
async function pgbench(port: number, extra: string[], pid: number | null, seconds = SECONDS): Promise<Result> {
  const cpu0 = pid ? cpuMs(pid) : 0;
  const r = Bun.spawn([`${PG_BIN}/pgbench`, "-h", "127.0.0.1", "-p", String(port), "-U", "stolon", "-n", "-S", "-T", String(seconds), ...extra, "postgres"], {
    stdout: "pipe",
    stderr: "pipe",
    // libpq would otherwise try GSSAPI first on every connection, which costs ~200 ms here.
    env: { PATH: process.env.PATH ?? "", PGGSSENCMODE: "disable", PGSSLMODE: "disable" },
  });
  const [out, err, code] = await Promise.all([new Response(r.stdout).text(), new Response(r.stderr).text(), r.exited]);
  if (code !== 0) throw new Error(`pgbench failed: ${err}`);
  const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
  const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(out)?.[1]);
  const cpuUs = pid ? ((cpuMs(pid) - cpu0) * 1000) / (tps * seconds) : NaN;
  return { tps, latencyMs, cpuUs };
}

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);

/** RSS growth of the proxy process per idle client connection (each also connected to PostgreSQL). */
async function memoryPerIdle(port: number, pid: number): Promise<number> {
  const before = rssKb(pid);
  const socks = [];
  for (let i = 0; i < IDLE; i++) socks.push(await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }));
  await Bun.sleep(1500);
  const after = rssKb(pid);
  for (const s of socks) s.end();
  await Bun.sleep(1000);
  return ((after - before) * 1024) / IDLE;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const haproxyBin = ensureHaproxy();
  const pgPort = freePort();
  const proxyPort = freePort();
  const haPort = freePort();
  await startPostgres(pgPort);
  const init = Bun.spawnSync([`${PG_BIN}/pgbench`, "-i", "-q", "-s", "10", "-h", "127.0.0.1", "-p", String(pgPort), "-U", "stolon", "postgres"], { stdout: "ignore", stderr: "pipe" });
  if (init.exitCode !== 0) throw new Error(`pgbench -i failed: ${init.stderr.toString()}`);
  const proxy = await startEtcdAndProxy(pgPort, proxyPort);
  const ha = startHaproxy(haproxyBin, pgPort, haPort);
  await waitTcp(haPort, "haproxy");

  const modes = [
    { name: "-S, 16 clients", args: ["-c", "16", "-j", "2"] },
    { name: "-S, 1 client", args: ["-c", "1", "-j", "1"] },
    { name: "-S -C, 8 clients (new connection per transaction)", args: ["-C", "-c", "8", "-j", "2"] },
  ].filter((_, i) => MODES.includes(i));
  const targets = [
    { name: "direct", port: pgPort, pid: null },
    { name: "stolon-proxy", port: proxyPort, pid: proxy.pid },
    { name: "haproxy", port: haPort, pid: ha.pid },
  ];
  const results = new Map<string, Result[]>();
  console.log(`pgbench -S, ${SECONDS} s per run, ${ROUNDS} rounds, interleaved (Bun ${Bun.version}, ${which("haproxy")})`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const m of modes) {
      // Rotate the order each round so no target always runs first.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const t of order) {
        const r = await pgbench(t.port, m.args, t.pid);
        const key = `${m.name}|${t.name}`;
        results.set(key, [...(results.get(key) ?? []), r]);
        process.stdout.write(`  round ${round} ${m.name} ${t.name}: ${r.tps.toFixed(0)} tps, ${r.latencyMs.toFixed(3)} ms${t.pid ? `, ${r.cpuUs.toFixed(1)} µs CPU/txn` : ""}\n`);
      }
    }
  }
  console.log("\nmedians (the ratios are medians of the per-round ratios, so drift between rounds cancels):");
  console.log("| mode | target | TPS | latency ms | vs direct | vs HAProxy | proxy CPU µs/txn |");
  console.log("|---|---|---|---|---|---|---|");
  for (const m of modes) {
    const med = (t: string) => {
      const rs = results.get(`${m.name}|${t}`)!;
      return { tps: median(rs.map((r) => r.tps)), lat: median(rs.map((r) => r.latencyMs)), cpu: median(rs.map((r) => r.cpuUs)) };
    };
    const per = (t: string) => results.get(`${m.name}|${t}`)!.map((r) => r.tps);
    const ratio = (a: string, b: string) => median(per(a).map((x, i) => x / per(b)[i]!));
    for (const t of targets) {
      const x = med(t.name);
      console.log(`| ${m.name} | ${t.name} | ${x.tps.toFixed(0)} | ${x.lat.toFixed(3)} | ${ratio(t.name, "direct").toFixed(2)} | ${ratio(t.name, "haproxy").toFixed(2)} | ${Number.isNaN(x.cpu) ? "" : x.cpu.toFixed(1)} |`);
    }
  }
  const ours = await memoryPerIdle(proxyPort, proxy.pid);
  const theirs = await memoryPerIdle(haPort, ha.pid);
  console.log(`\nmemory per idle client connection (${IDLE} connections, RSS growth): stolon-proxy ${(ours / 1024).toFixed(1)} KiB, haproxy ${(theirs / 1024).toFixed(1)} KiB`);
}

/**
 * The CPU cost of metrics: proxy A has its admin listener and is scraped every SCRAPE_S s during
 * the whole run; proxy B has none. Each round runs pgbench against both, in alternating order.
 */
async function metricsAb(): Promise<void> {
  const pgPort = freePort();
  const aPort = freePort();
  const bPort = freePort();
  const adminPort = freePort();
  await startPostgres(pgPort);
  const init = Bun.spawnSync([`${PG_BIN}/pgbench`, "-i", "-q", "-s", "10", "-h", "127.0.0.1", "-p", String(pgPort), "-U", "stolon", "postgres"], { stdout: "ignore", stderr: "pipe" });
  if (init.exitCode !== 0) throw new Error(`pgbench -i failed: ${init.stderr.toString()}`);
  const [a, b] = await startEtcdAndProxies(pgPort, [
    { port: aPort, extra: ["--metrics-listen-address", `127.0.0.1:${adminPort}`] },
    { port: bPort, extra: [] },
  ]);
  const url = `http://127.0.0.1:${adminPort}/metrics`;
  let scrapes = 0;
  let scrapeBytes = 0;
  const scrape = async () => {
    const text = await fetch(url).then((r) => r.text());
    scrapes++;
    scrapeBytes = text.length;
  };
  await scrape();
  let scrapeErrors = 0;
  const scraper = setInterval(() => void scrape().catch(() => void scrapeErrors++), SCRAPE_S * 1000);
  const arms = [
    { name: "metrics on (scraped)", port: aPort, pid: a!.pid, runs: [] as Result[] },
    { name: "metrics off", port: bPort, pid: b!.pid, runs: [] as Result[] },
  ];
  const pgArgs = ["-c", String(CLIENTS), "-j", "2"];
  console.log(`proxy CPU per transaction, metrics on vs off: pgbench -S -c ${CLIENTS}, ${SECONDS} s per run, ${ROUNDS} rounds alternating A B / B A; A scraped every ${SCRAPE_S} s (Bun ${Bun.version})`);
  try {
    // One unmeasured run each: JIT and connection caches warm for both.
    for (const arm of arms) await pgbench(arm.port, pgArgs, arm.pid, 2);
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? arms : [...arms].reverse();
      for (const arm of order) {
        const r = await pgbench(arm.port, pgArgs, arm.pid);
        arm.runs.push(r);
        console.log(`  round ${round} ${arm.name}: ${r.tps.toFixed(0)} tps, ${r.cpuUs.toFixed(2)} µs CPU/txn`);
      }
    }
  } finally {
    clearInterval(scraper);
  }
  const [on, off] = arms.map((x) => x.runs);
  const cpuOn = median(on!.map((r) => r.cpuUs));
  const cpuOff = median(off!.map((r) => r.cpuUs));
  // Paired: each round's ratio, so drift of the machine between rounds cancels.
  const paired = median(on!.map((r, i) => r.cpuUs / off![i]!.cpuUs));
  console.log(`
median proxy CPU per transaction: metrics on ${cpuOn.toFixed(2)} µs, off ${cpuOff.toFixed(2)} µs: ${(((cpuOn - cpuOff) / cpuOff) * 100).toFixed(1)}% (median of the per-round ratios: ${((paired - 1) * 100).toFixed(1)}%)`);
  console.log(`median TPS: on ${median(on!.map((r) => r.tps)).toFixed(0)}, off ${median(off!.map((r) => r.tps)).toFixed(0)}; ${scrapes} scrapes of ${scrapeBytes} bytes, ${scrapeErrors} failed`);
  console.log(`reproduce: npm run bench:proxy -- --metrics-ab --seconds ${SECONDS} --rounds ${ROUNDS} --clients ${CLIENTS} --scrape-interval ${SCRAPE_S}`);
}

try {
  if (METRICS_AB) await metricsAb();
  else if (READ_ONLY) await readOnlyBench({ seconds: SECONDS, rounds: ROUNDS, clients: opt("clients", 8), lagTrials: opt("lag-trials", 5) });
  else await main();
} finally {
  for (const p of procs) p.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  await pg?.stop().catch(() => {});
  rmSync(root, { recursive: true, force: true });
}
