/**
 * A local cluster on 127.0.0.1 made of the project's own commands (one etcd, keepers, two
 * sentinels, one proxy), for the demo and the failover benchmark. Every process logs to
 * <dir>/logs/<name>.log and has its pid in <dir>/pids/<name>, so a later run can clean up.
 */
import { chmodSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { ClusterData, ClusterSpec } from "../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../src/store/index.ts";

export interface LocalClusterOptions {
  dir: string;
  basePort: number;
  keepers?: number;
  spec?: ClusterSpec;
  log?: (msg: string) => void;
  /** etcd endpoints for individual keepers (e.g. through a fault-injecting relay). */
  keeperEndpoints?: Record<string, string>;
  /** More flags for individual keepers (e.g. --priority), after the usual ones. */
  keeperArgs?: Record<string, string[]>;
  /** A read-only listener on the proxy (--read-only-port ports.proxyReadOnly), with these more flags. */
  readOnlyProxy?: string[];
}

export const SU_PASSWORD = "demo-su-password";
export const REPL_PASSWORD = "demo-repl-password";

export class LocalCluster {
  readonly cluster = "demo";
  /** metrics: each component's admin listener (/metrics, /health, /ready; the keepers' /primary...), by name. */
  /**
   * proxyReadOnly: the proxy's --read-only-port (with readOnlyProxy); spare: four
   * free ports, for more proxies (startProxy).
   */
  readonly ports: { proxy: number; proxyReadOnly: number; spare: number[]; pg: number[]; etcd: number; etcdPeer: number; metrics: Record<string, number> };
  readonly endpoint: string;
  readonly common: string[];
  readonly store: KvStore;
  private readonly backend: EtcdBackend;
  private readonly procs = new Map<string, Subprocess>();
  private readonly argvs = new Map<string, string[]>();
  private readonly root = join(import.meta.dir, "..");
  private readonly say: (msg: string) => void;

  constructor(readonly o: LocalClusterOptions) {
    const n = o.keepers ?? 3;
    const b = o.basePort;
    if (n > 9) throw new Error("a LocalCluster has at most 9 keepers (its window of 40 ports)");
    const metrics: Record<string, number> = { proxy: b + 3, sentinel1: b + 4, sentinel2: b + 5 };
    for (let i = 0; i < n; i++) metrics[`keeper${i + 1}`] = b + 25 + i;
    this.ports = { proxy: b + 2, proxyReadOnly: b + 6, spare: [b + 7, b + 8, b + 9, b + 10], pg: Array.from({ length: n }, (_, i) => b + 11 + i), etcd: b + 20, etcdPeer: b + 21, metrics };
    this.endpoint = `http://127.0.0.1:${this.ports.etcd}`;
    this.common = ["--cluster-name", this.cluster, "--store-backend", "etcdv3", "--store-endpoints", this.endpoint];
    this.backend = new EtcdBackend({ endpoints: [this.endpoint], timeoutMs: 5000 });
    this.store = new KvStore(this.backend, { prefix: "stolon/cluster", clusterName: this.cluster });
    this.say = o.log ?? (() => {});
  }

  get keeperNames(): string[] {
    return this.ports.pg.map((_, i) => `keeper${i + 1}`);
  }

  /** The uid of the leader sentinel. */
  leader(): Promise<string | null> {
    return this.store.sentinelElection(5000).leader();
  }

  /** What a component has logged so far. */
  logOf(name: string): string {
    try {
      return readFileSync(join(this.o.dir, "logs", `${name}.log`), "utf8");
    } catch {
      return "";
    }
  }

  pid(name: string): number | undefined {
    return this.procs.get(name)?.pid;
  }

  /** The pid of the postmaster on a keeper's data dir, if it runs. */
  postmasterPid(keeper: string): number | null {
    try {
      return Number(readFileSync(join(this.o.dir, keeper, "postgres", "postmaster.pid"), "utf8").split("\n")[0]) || null;
    } catch {
      return null;
    }
  }

  /** The postmaster and all its children (backends, WAL writer, WAL senders ...): to freeze a server whole. */
  postgresPids(keeper: string): number[] {
    const pm = this.postmasterPid(keeper);
    if (!pm) return [];
    const children = Bun.spawnSync(["pgrep", "-P", String(pm)], { stdout: "pipe" }).stdout.toString().split("\n").filter(Boolean).map(Number);
    return [pm, ...children];
  }

  /**
   * Freezes a node whole, as a paused VM is: SIGSTOP of the keeper, then of the postmaster (so it
   * forks nothing more), then of its children, listed again until a pass finds none not yet
   * stopped. Listing the children first and stopping them after, as this harness did, let a
   * backend forked in between (a client connecting at that moment) go on serving commits that no
   * standby received, while its keeper, postmaster and walsenders were frozen. Returns every pid
   * stopped, for `thaw`.
   */
  freeze(keeper: string): number[] {
    const stopped: number[] = [];
    const stop = (pid: number) => {
      try {
        process.kill(pid, "SIGSTOP");
        stopped.push(pid);
      } catch {
        // gone already
      }
    };
    const keeperPid = this.pid(keeper);
    if (keeperPid) stop(keeperPid);
    const pm = this.postmasterPid(keeper);
    if (!pm) return stopped;
    stop(pm);
    for (let pass = 0; pass < 10; pass++) {
      const fresh = this.postgresPids(keeper).filter((p) => !stopped.includes(p));
      if (fresh.length === 0) break;
      for (const p of fresh) stop(p);
    }
    return stopped;
  }

  /** SIGCONT of what `freeze` stopped, the last stopped first; returns the pids that were gone. */
  thaw(pids: number[]): number[] {
    const gone: number[] = [];
    for (const pid of [...pids].reverse()) {
      try {
        process.kill(pid, "SIGCONT");
      } catch {
        gone.push(pid);
      }
    }
    return gone;
  }

  /** Stops what an earlier run in the same dir left behind and removes the dir. */
  cleanEarlierRun(): void {
    const dir = this.o.dir;
    const pidDir = join(dir, "pids");
    if (existsSync(pidDir)) {
      for (const f of readdirSync(pidDir)) {
        try {
          process.kill(Number(readFileSync(join(pidDir, f), "utf8")), "SIGKILL");
        } catch {
          // gone already
        }
      }
    }
    for (const k of this.keeperNames) {
      const pid = this.postmasterPid(k);
      try {
        if (pid) process.kill(pid, "SIGQUIT");
      } catch {
        // gone already
      }
    }
    if (existsSync(dir)) {
      this.say(`recreating ${dir} (the data of the earlier run is removed)`);
      Bun.sleepSync(500);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private spawn(name: string, argv: string[]): Subprocess {
    const log = openSync(join(this.o.dir, "logs", `${name}.log`), "a");
    const proc = Bun.spawn(argv, { stdin: "ignore", stdout: log, stderr: log, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" } });
    writeFileSync(join(this.o.dir, "pids", name), String(proc.pid));
    this.procs.set(name, proc);
    this.argvs.set(name, argv);
    return proc;
  }

  /** Starts a component again with the arguments it was first started with. */
  restart(name: string): void {
    const argv = this.argvs.get(name);
    if (!argv) throw new Error(`${name} was never started`);
    this.spawn(name, argv);
  }

  cmd(cmd: string, extra: string[]): string[] {
    return [process.execPath, join(this.root, "cmd", `${cmd}.ts`), ...this.common, ...extra];
  }

  /** The admin listener flag of a component started under this name. */
  private metricsFlag(name: string): string[] {
    const port = this.ports.metrics[name];
    return port === undefined ? [] : ["--metrics-listen-address", `127.0.0.1:${port}`];
  }

  /** The base URL of a component's admin listener (http://127.0.0.1:port). */
  adminUrl(name: string): string {
    const port = this.ports.metrics[name];
    if (port === undefined) throw new Error(`${name} has no admin listener`);
    return `http://127.0.0.1:${port}`;
  }

  startKeeper(name: string): void {
    const i = this.keeperNames.indexOf(name);
    this.spawn(name, this.cmd("keeper", [
      "--uid", name, "--data-dir", join(this.o.dir, name),
      "--pg-listen-address", "127.0.0.1", "--pg-port", String(this.ports.pg[i]),
      "--pg-su-username", "stolon", "--pg-su-passwordfile", join(this.o.dir, "su.pw"),
      "--pg-repl-username", "repl", "--pg-repl-passwordfile", join(this.o.dir, "repl.pw"),
      ...this.metricsFlag(name),
      // A later flag wins: a keeper may reach etcd another way.
      ...(this.o.keeperEndpoints?.[name] ? ["--store-endpoints", this.o.keeperEndpoints[name]] : []),
      ...(this.o.keeperArgs?.[name] ?? []),
    ]));
  }

  private readOnlyFlags(): string[] {
    const ro = this.o.readOnlyProxy;
    return ro ? ["--read-only-port", String(this.ports.proxyReadOnly), ...ro] : [];
  }

  /** Starts one more proxy, named `name` (it must start with "proxy": stop() stops it first). */
  startProxy(name: string, flags: string[]): void {
    if (!name.startsWith("proxy") || this.procs.has(name)) throw new Error(`startProxy: "${name}" is taken or does not start with "proxy"`);
    this.spawn(name, this.cmd("proxy", flags));
  }

  /** Starts etcd, initializes the cluster and starts every component. */
  async start(): Promise<void> {
    this.prepare();
    this.say(`starting etcd on ${this.endpoint}`);
    this.startEtcd();
    for (let i = 0; ; i++) {
      if (await this.etcdUp()) break;
      if (i > 100) throw new Error(`etcd did not start; see ${join(this.o.dir, "logs", "etcd.log")}`);
      await Bun.sleep(100);
    }
    this.say("initializing the cluster (stolonctl init)");
    this.init();
    this.say(`starting ${this.keeperNames.length} keepers, 2 sentinels and a proxy`);
    this.startComponents();
  }

  /** The first part of start(): checks that the ports are free, makes the dir and the password files. */
  prepare(): void {
    const dir = this.o.dir;
    const busy = [this.ports.proxy, this.ports.proxyReadOnly, ...this.ports.spare, ...this.ports.pg, this.ports.etcd, this.ports.etcdPeer, ...Object.values(this.ports.metrics)].filter((p) => !portFree(p));
    if (busy.length > 0) throw new Error(`ports ${busy.join(", ")} on 127.0.0.1 are in use: stop what uses them or pass --base-port N`);
    for (const d of ["", "logs", "pids"]) mkdirSync(join(dir, d), { recursive: true });
    // World-searchable, so that the unprivileged PostgreSQL user can reach the keepers' data dirs.
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "su.pw"), `${SU_PASSWORD}\n`, { mode: 0o600 });
    writeFileSync(join(dir, "repl.pw"), `${REPL_PASSWORD}\n`, { mode: 0o600 });
  }

  /** Spawns etcd (after prepare()); etcdUp() tells when it answers. */
  startEtcd(): void {
    const peer = `http://127.0.0.1:${this.ports.etcdPeer}`;
    this.spawn("etcd", [
      "etcd", "--name", "demo", "--data-dir", join(this.o.dir, "etcd"),
      "--listen-client-urls", this.endpoint, "--advertise-client-urls", this.endpoint,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `demo=${peer}`, "--log-level", "error",
    ]);
  }

  /** Whether etcd's /health answers OK now. */
  etcdUp(): Promise<boolean> {
    return fetch(`${this.endpoint}/health`).then((r) => r.ok, () => false);
  }

  /** `stolonctl init` with the spec (etcd must be up); throws with its stderr when it fails. */
  init(): void {
    const spec = this.o.spec ?? { initMode: "new" };
    const init = Bun.spawnSync([...this.cmd("stolonctl", []), "init", "-y", JSON.stringify(spec)], { stdout: "pipe", stderr: "pipe" });
    if (init.exitCode !== 0) throw new Error(`stolonctl init failed: ${init.stderr.toString()}`);
  }

  /** Spawns the keepers, the two sentinels and the proxy (after init()). */
  startComponents(): void {
    for (const k of this.keeperNames) this.startKeeper(k);
    this.spawn("sentinel1", this.cmd("sentinel", this.metricsFlag("sentinel1")));
    this.spawn("sentinel2", this.cmd("sentinel", this.metricsFlag("sentinel2")));
    this.spawn("proxy", this.cmd("proxy", ["--port", String(this.ports.proxy), ...this.metricsFlag("proxy"), ...this.readOnlyFlags()]));
  }

  /** The names of the components started so far, in start order. */
  get started(): string[] {
    return [...this.procs.keys()];
  }

  /** How a component has exited (any exit, a signal's too), or null while it runs or was never started. */
  exitOf(name: string): { code: number | null; signal: string | null } | null {
    const p = this.procs.get(name);
    if (!p || (p.exitCode === null && p.signalCode === null)) return null;
    return { code: p.exitCode, signal: p.signalCode === null ? null : String(p.signalCode) };
  }

  /** The last `n` lines a component has logged. */
  logTail(name: string, n: number): string[] {
    const lines = this.logOf(name).split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.slice(-n);
  }

  /** Waits for a routed master with every other keeper's db a healthy, converged standby of it. */
  async waitSettled(timeoutMs: number): Promise<ClusterData> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const dead = [...this.procs].find(([, p]) => p.exitCode !== null && p.signalCode === null);
      if (dead) throw new Error(`${dead[0]} exited with code ${dead[1].exitCode}; see ${join(this.o.dir, "logs", `${dead[0]}.log`)}`);
      const cd = (await this.store.getClusterData().catch(() => null))?.clusterData;
      const m = cd?.cluster.status.master;
      const master = m ? cd?.dbs[m] : undefined;
      // The master too: healthy (its keeper reports a PostgreSQL that answers) and converged.
      if (cd && m && cd.proxy.spec.masterDbUid === m && master?.status.healthy && master.status.currentGeneration === master.generation) {
        const standbys = Object.values(cd.dbs).filter(
          (d) => d.uid !== m && d.status.healthy && d.status.currentGeneration === d.generation && d.spec.followConfig?.dbuid === m,
        );
        const state = `master on ${master.spec.keeperUID}, ${standbys.length} standby(s) ready`;
        if (state !== last) this.say(state);
        last = state;
        if (standbys.length === this.keeperNames.length - 1 && (cd.proxy.spec.enabledProxies ?? []).length > 0) return cd;
      }
      await Bun.sleep(200);
    }
    throw new Error(`the cluster did not settle within ${timeoutMs / 1000} s; see the logs in ${join(this.o.dir, "logs")}`);
  }

  /** SIGKILL of a keeper and of its PostgreSQL (a node's hard crash); waits for the keeper to exit. */
  async crashKeeper(name: string): Promise<void> {
    const pm = this.postmasterPid(name);
    this.kill(name, "SIGKILL");
    try {
      if (pm) process.kill(pm, "SIGKILL");
    } catch {
      // already gone
    }
    await this.exited(name);
  }

  kill(name: string, signal: NodeJS.Signals = "SIGKILL"): void {
    this.procs.get(name)?.kill(signal);
  }

  async exited(name: string): Promise<void> {
    await this.procs.get(name)?.exited;
  }

  /**
   * A site lost at once: SIGKILL of every process of this cluster (etcd included) and of every
   * postmaster and its children, then the keepers' data dirs removed. Returns when all are gone.
   */
  async destroy(): Promise<void> {
    const postgres = this.keeperNames.flatMap((k) => [this.postmasterPid(k), ...this.postgresPids(k)]).filter((p): p is number => !!p);
    for (const p of this.procs.values()) p.kill("SIGKILL");
    for (const pid of postgres) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    await Promise.all([...this.procs.values()].map((p) => p.exited));
    for (const k of this.keeperNames) rmSync(join(this.o.dir, k), { recursive: true, force: true });
    await this.store.close().catch(() => {});
  }

  /** Stops everything: the proxy first, PostgreSQL's owners before etcd. */
  async stop(): Promise<void> {
    await this.store.close().catch(() => {});
    const proxies = [...this.procs.keys()].filter((n) => n.startsWith("proxy"));
    for (const group of [proxies, ["sentinel1", "sentinel2"], this.keeperNames, ["etcd"]]) {
      const ps = group.map((n) => this.procs.get(n)).filter((p): p is Subprocess => p !== undefined);
      for (const p of ps) p.kill("SIGTERM");
      await Promise.all(
        ps.map(async (p) => {
          const t = setTimeout(() => p.kill("SIGKILL"), 20_000);
          await p.exited;
          clearTimeout(t);
        }),
      );
    }
    rmSync(join(this.o.dir, "pids"), { recursive: true, force: true });
  }
}

/**
 * A base port for a LocalCluster whose whole window (base .. base+40) is free now, in `[lo, hi)`.
 * Keep the range below the kernel's ephemeral ports (32768 and up), which client sockets take.
 */
export function freeBasePort(lo: number, hi: number): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = lo + Math.floor(Math.random() * Math.floor((hi - lo) / 50)) * 50;
    let free = true;
    for (let p = base; p < base + 40 && free; p++) free = portFree(p);
    if (free) return base;
  }
  throw new Error(`no free window of 40 ports between ${lo} and ${hi}`);
}

/** Whether a port on 127.0.0.1 can be bound now. */
export function portFree(port: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}
