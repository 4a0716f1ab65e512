/**
 * Proxy benchmark: pgbench -S directly against PostgreSQL, through stolon-proxy and through
 * HAProxy 2.6 (TCP mode), interleaved in one run so the three see the same machine, then memory
 * per idle client connection for both proxies.
 *
 *   npm run bench:proxy -- [--seconds 10] [--rounds 3] [--idle 500]
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

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = opt("seconds", 10);
const ROUNDS = opt("rounds", 3);
const IDLE = opt("idle", 500);
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

async function startEtcdAndProxy(pgPort: number, proxyPort: number): Promise<Subprocess> {
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
  const proxy = spawn([process.execPath, join(import.meta.dir, "../cmd/proxy.ts"), "--cluster-name", "bench", "--store-backend", "etcdv3", "--store-endpoints", endpoint, "--port", String(proxyPort), "--log-level", "warn"]);
  let uid: string | undefined;
  for (let i = 0; i < 100 && !uid; i++) {
    uid = Object.keys((await store.getProxiesInfo()).items)[0];
    if (!uid) await Bun.sleep(100);
  }
  if (!uid) throw new Error("stolon-proxy did not publish its info");
  const v = (await store.getClusterData())!;
  v.clusterData.proxy.spec = { masterDbUid: "d1", enabledProxies: [uid] };
  v.clusterData.proxy.generation++;
  await store.putClusterData(v.clusterData, v.revision);
  await store.close();
  await waitTcp(proxyPort, "stolon-proxy");
  return proxy;
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

function pgbench(port: number, extra: string[], pid: number | null): Result {
  const cpu0 = pid ? cpuMs(pid) : 0;
  const r = Bun.spawnSync([`${PG_BIN}/pgbench`, "-h", "127.0.0.1", "-p", String(port), "-U", "stolon", "-n", "-S", "-T", String(SECONDS), ...extra, "postgres"], {
    stdout: "pipe",
    stderr: "pipe",
    // libpq would otherwise try GSSAPI first on every connection, which costs ~200 ms here.
    env: { PATH: process.env.PATH ?? "", PGGSSENCMODE: "disable", PGSSLMODE: "disable" },
  });
  const out = r.stdout.toString();
  if (r.exitCode !== 0) throw new Error(`pgbench failed: ${r.stderr.toString()}`);
  const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
  const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(out)?.[1]);
  const cpuUs = pid ? ((cpuMs(pid) - cpu0) * 1000) / (tps * SECONDS) : NaN;
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
        const r = pgbench(t.port, m.args, t.pid);
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

try {
  await main();
} finally {
  for (const p of procs) p.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  await pg?.stop().catch(() => {});
  rmSync(root, { recursive: true, force: true });
}
