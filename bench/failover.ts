/**
 * Failover benchmark: a local cluster with the default spec (3 keepers, 2 sentinels, a proxy); a
 * client writes through the proxy, one short transaction at a time, remembering every acknowledged
 * id. Each run loses the master node in one of three ways and measures the time from the fault to
 * the first write acknowledged through the proxy by a server other than the old master:
 *
 *   kill       SIGKILL of the master keeper and its PostgreSQL (lc.crashKeeper); the keeper is
 *              then restarted.
 *   freeze     SIGSTOP of the master keeper, its postmaster and every child of it (lc.freeze), as
 *              a paused VM; once the new master's first write is acknowledged, SIGCONT (lc.thaw).
 *   partition  the master node cut from etcd, from the other nodes and from the proxy at once, in
 *              both directions, with no RST (bench/relay.ts): established connections go silent,
 *              new connections are accepted and never answered. A SYN into a dropped network goes
 *              unanswered instead, and a real partition would not answer TCP keepalives either;
 *              for the clients' timeouts it is close enough. Once the new master's first write is
 *              acknowledged, the partition heals (every connection held during it is ended).
 *
 * After each run the cluster must settle again with the old master back as a standby, and see
 * 1 s of steady writes, before the next run. Then the same measure for a planned `stolonctl
 * failkeeper` of a healthy master.
 *
 * How the partition is made: every keeper reaches etcd through a relay of its own
 * (LocalCluster's keeperEndpoints), and every keeper advertises its PostgreSQL on another relay
 * (--pg-advertise-address 127.0.0.1 --pg-advertise-port, through keeperArgs) that forwards to its
 * real port: the proxy, the standbys' WAL receivers, pg_rewind and pg_basebackup all connect to
 * what a db advertises. The keeper's own connections to its PostgreSQL go through the Unix socket
 * in its socket dir, never through the advertised port, so a partitioned keeper still sees its
 * own server. Not cut: the partitioned node's own connections out to the others' PostgreSQL; as a
 * master cut from etcd it learns of no other master to connect to while the partition lasts. The
 * relays are there for every fault kind, so that the kinds are measured on the same cluster, and
 * run in a child process (RelayProcess), so that the cluster's traffic never waits on this
 * process's event loop.
 *
 * Lost writes: acknowledged ids missing on the master, checked after each fault kind's runs (for
 * that kind's acknowledged ids) and once more at the end (for all of them). Asynchronous
 * replication, the default: a write acknowledged just before the fault may not have reached a
 * standby.
 *
 *   npm run bench:failover -- [--fault kill|freeze|partition|kill,freeze,partition] [--runs 10]
 *                             [--planned 5] [--base-port 26430] [--keep]
 *
 * --runs is per fault kind; --planned 0 skips the failkeeper runs. --keep leaves the cluster's
 * dir (logs included) in place and prints where it is.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { LocalCluster, SU_PASSWORD } from "../scripts/local-cluster.ts";
import { RelayProcess } from "./relay.ts";

const FAULTS = ["kill", "freeze", "partition"] as const;
type Fault = (typeof FAULTS)[number];

const args = process.argv.slice(2);
const optStr = (name: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
const opt = (name: string, def: number) => {
  const v = optStr(name);
  const n = v === undefined ? def : Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} wants a whole number >= 0, not "${v}"`);
  return n;
};
const RUNS = opt("runs", 10);
const PLANNED = opt("planned", 5);
const BASE = opt("base-port", 26430);
const faults = (optStr("fault") ?? "kill").split(",") as Fault[];
const unknown = faults.filter((f) => !FAULTS.includes(f));
if (unknown.length > 0 || faults.length === 0) throw new Error(`--fault: unknown kind(s) ${unknown.join(", ")}; known: ${FAULTS.join(", ")} (a comma list runs each in turn)`);

const KEEPERS = ["keeper1", "keeper2", "keeper3"];
// Inside the cluster's port window (base .. base+39) and outside every port it uses (checked below).
const etcdRelays = KEEPERS.map((_, i) => ({ port: BASE + 30 + i, targetPort: BASE + 20 }));
const pgRelays = KEEPERS.map((_, i) => ({ port: BASE + 34 + i, targetPort: BASE + 11 + i }));
const dir = mkdtempSync(join(tmpdir(), "stolon-failover-"));
const lc = new LocalCluster({
  dir,
  basePort: BASE,
  keepers: KEEPERS.length,
  spec: { initMode: "new", usePgrewind: true },
  log: (m) => console.log(`  ${m}`),
  keeperEndpoints: Object.fromEntries(KEEPERS.map((k, i) => [k, `http://127.0.0.1:${etcdRelays[i]!.port}`])),
  keeperArgs: Object.fromEntries(KEEPERS.map((k, i) => [k, ["--pg-advertise-address", "127.0.0.1", "--pg-advertise-port", String(pgRelays[i]!.port)]])),
});
{
  const p = lc.ports;
  const used = new Set([p.proxy, p.proxyReadOnly, ...p.spare, ...p.pg, p.etcd, p.etcdPeer, ...Object.values(p.metrics)]);
  const clash = [...etcdRelays, ...pgRelays].filter((r) => used.has(r.port));
  if (clash.length > 0) throw new Error(`relay ports ${clash.map((r) => r.port).join(", ")} are taken by the cluster`);
  if (p.etcd !== BASE + 20 || pgRelays.some((_, i) => p.pg[i] !== BASE + 11 + i)) throw new Error("scripts/local-cluster.ts changed its port layout: fix the relays' targets");
}

/** In a child process: etcd relays first, then PostgreSQL ones (keeper i: relays i and KEEPERS.length + i). */
const relays = new RelayProcess([...etcdRelays, ...pgRelays]);

interface Ack {
  id: number;
  port: number;
  at: number;
}

/** Writes one row at a time through the proxy; every acknowledged write is recorded. */
class Writer {
  readonly acks: Ack[] = [];
  errors = 0;
  private stopped = false;
  private done: Promise<void> = Promise.resolve();
  private readonly sql = postgres({
    host: "127.0.0.1",
    port: lc.ports.proxy,
    database: "postgres",
    username: "stolon",
    password: SU_PASSWORD,
    max: 1,
    connect_timeout: 10,
    fetch_types: false,
    onnotice: () => {},
  });

  /** Creates the table, retried for up to a minute (a master fenced for a moment refuses connections). */
  async setup(): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await this.sql`create table if not exists t (id bigint primary key)`;
        return;
      } catch (err) {
        if (i >= 60) throw err;
        await Bun.sleep(1000);
      }
    }
  }

  start(): void {
    this.done = (async () => {
      let id = 0;
      while (!this.stopped) {
        id++;
        try {
          const r = await this.sql`insert into t values (${id}) returning inet_server_port() as port`;
          this.acks.push({ id, port: Number(r[0]!.port), at: performance.now() });
        } catch {
          this.errors++;
          await Bun.sleep(10);
        }
      }
    })();
  }

  /** The first write acknowledged at or after `t` by a server other than `oldPort`. */
  async firstAckElsewhere(t: number, oldPort: number, timeoutMs: number): Promise<Ack> {
    const deadline = performance.now() + timeoutMs;
    // From the last write acknowledged before t on: the list is in time order.
    let from = this.acks.length;
    while (from > 0 && this.acks[from - 1]!.at >= t) from--;
    for (;;) {
      for (; from < this.acks.length; from++) {
        const a = this.acks[from]!;
        if (a.at >= t && a.port !== oldPort) return a;
      }
      if (performance.now() > deadline) throw new Error(`no write acknowledged by a new master within ${timeoutMs} ms`);
      await Bun.sleep(5);
    }
  }

  /** Waits for `ms` of steady writes: acknowledged ones with no pause over 200 ms. */
  async steady(ms: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const now = performance.now();
      const recent: number[] = [];
      for (let i = this.acks.length - 1; i >= 0 && this.acks[i]!.at >= now - ms; i--) recent.unshift(this.acks[i]!.at);
      const gaps = [now - ms, ...recent, now].some((t, i, xs) => i > 0 && t - xs[i - 1]! > 200);
      if (recent.length > 0 && !gaps) return;
      if (now > deadline) throw new Error(`no ${ms} ms of steady writes within ${timeoutMs} ms`);
      await Bun.sleep(100);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    await this.sql.end({ timeout: 1 });
  }
}

/** The acknowledged writes missing on the master now (read through the proxy; retried for up to a minute). */
async function missing(acks: readonly Ack[]): Promise<number> {
  if (acks.length === 0) return 0;
  const sql = postgres({ host: "127.0.0.1", port: lc.ports.proxy, database: "postgres", username: "stolon", password: SU_PASSWORD, max: 1, connect_timeout: 10, fetch_types: false });
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of acks) [lo, hi] = [Math.min(lo, a.id), Math.max(hi, a.id)];
  try {
    for (let i = 0; ; i++) {
      try {
        const present = new Set((await sql`select id from t where id between ${lo} and ${hi}`).map((r) => Number(r.id)));
        return acks.filter((a) => !present.has(a.id)).length;
      } catch (err) {
        if (i >= 60) throw err;
        await Bun.sleep(1000);
      }
    }
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s.at(-1)! };
};
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

type Kind = Fault | "failkeeper";
const WHAT: Record<Kind, string> = {
  kill: "SIGKILL of the master keeper and its postgres",
  freeze: "SIGSTOP of the master keeper and its postgres",
  partition: "master node partitioned (etcd, nodes, proxy)",
  failkeeper: "stolonctl failkeeper of the master",
};

/** Injects the fault; returns what undoes it once the new master has taken a write. */
async function inject(kind: Kind, keeper: string): Promise<() => Promise<void>> {
  const i = KEEPERS.indexOf(keeper);
  switch (kind) {
    case "kill":
      await lc.crashKeeper(keeper);
      return async () => lc.startKeeper(keeper);
    case "freeze": {
      const pids = lc.freeze(keeper);
      return async () => {
        for (const pid of lc.thaw(pids)) console.log(`  process ${pid} of ${keeper} was gone after the freeze`);
      };
    }
    case "partition":
      await relays.partition(i, KEEPERS.length + i);
      return () => relays.heal(i, KEEPERS.length + i);
    case "failkeeper": {
      const r = Bun.spawnSync([...lc.cmd("stolonctl", []), "failkeeper", keeper], { stdout: "pipe", stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`failkeeper failed: ${r.stderr.toString()}`);
      return async () => {};
    }
  }
}

/** The undoing of a fault in force (a frozen or partitioned node), for the cleanup after a failure. */
const pending: { undo: (() => Promise<void>) | null } = { undo: null };

/** One run: settled cluster and 1 s of steady writes, the fault, the measure, then the undoing and the old master back as a standby. */
async function failover(w: Writer, kind: Kind): Promise<{ ms: number; rejoinMs: number }> {
  const cd = await lc.waitSettled(120_000);
  const keeper = cd.dbs[cd.cluster.status.master!]!.spec.keeperUID;
  // The real port: the status has the advertised one (the relay's), inet_server_port() the server's.
  const oldPort = lc.ports.pg[KEEPERS.indexOf(keeper)]!;
  await w.steady(1000, 60_000);
  const t0 = performance.now();
  const undo = await inject(kind, keeper);
  pending.undo = undo;
  const ack = await w.firstAckElsewhere(t0, oldPort, 60_000);
  const t1 = performance.now();
  pending.undo = null;
  await undo();
  await lc.waitSettled(180_000).catch((err: unknown) => {
    // What kept the old master from rejoining, most often: its keeper's last warnings and errors.
    const last = lc.logOf(keeper).split("\n").filter((l) => / (WARN|ERROR) /.test(l)).slice(-5);
    throw new Error(`${kind}: ${keeper} did not rejoin as a standby; its last warnings:\n${last.join("\n")}`, { cause: err });
  });
  return { ms: ack.at - t0, rejoinMs: performance.now() - t1 };
}

interface Row {
  kind: Kind;
  ms: number[];
  lost: number;
  failed: number;
}

async function runKind(w: Writer, kind: Kind, runs: number): Promise<Row> {
  const from = w.acks.length;
  const errors = w.errors;
  const ms: number[] = [];
  for (let i = 1; i <= runs; i++) {
    const r = await failover(w, kind);
    ms.push(r.ms);
    console.log(`${kind} ${i}: ${WHAT[kind]} -> first write acknowledged by the new master in ${fmt(r.ms)}; old master a standby again ${fmt(r.rejoinMs)} later (${new Date().toISOString()})`);
  }
  // The writes acknowledged during this kind's runs, looked for on the master once settled.
  await lc.waitSettled(120_000);
  await w.steady(1000, 60_000);
  const lost = await missing(w.acks.slice(from));
  return { kind, ms, lost, failed: w.errors - errors };
}

function table(rows: Row[]): string {
  return [
    "| fault | runs | min | median | max | lost writes | failed attempts |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => {
      const s = r.ms.length ? stats(r.ms) : null;
      const f = (x: number | undefined) => (x === undefined ? "-" : fmt(x));
      return `| ${r.kind} | ${r.ms.length} | ${f(s?.min)} | ${f(s?.median)} | ${f(s?.max)} | ${r.lost} | ${r.failed} |`;
    }),
  ].join("\n");
}

async function main(): Promise<void> {
  const command = `npm run bench:failover --${args.length ? ` ${args.join(" ")}` : ""}`.replace(/ --$/, "");
  console.log(`failover benchmark: faults ${faults.join(", ")} x ${RUNS} runs each, ${PLANNED} failkeeper runs, default spec (Bun ${Bun.version})`);
  await relays.ready();
  await lc.start();
  await lc.waitSettled(180_000);
  const w = new Writer();
  await w.setup();
  w.start();
  const rows: Row[] = [];
  for (const kind of faults) rows.push(await runKind(w, kind, RUNS));
  if (PLANNED > 0) rows.push(await runKind(w, "failkeeper", PLANNED));
  await lc.waitSettled(120_000);
  await w.stop();
  // Every acknowledged id must be on the final master.
  const lost = await missing(w.acks);
  console.log(`\n${command}\n`);
  console.log(table(rows));
  console.log(`\nwrites acknowledged: ${w.acks.length}, failed attempts: ${w.errors}, acknowledged writes missing at the end: ${lost} (asynchronous replication)`);
}

try {
  await main();
} finally {
  // A failure during a fault must not leave a node frozen or cut off, nor the stop waiting on it.
  await pending.undo?.().catch(() => {});
  await lc.stop();
  await relays.close();
  if (args.includes("--keep")) console.log(`cluster dir kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
