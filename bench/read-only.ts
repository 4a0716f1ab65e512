/**
 * The read-only port's benchmark (`npm run bench:proxy -- --read-only`): a local cluster of three
 * keepers (a master and two standbys), two sentinels and the proxy with --read-only-port, then
 *  1. pgbench -S through the read-only port against pgbench -S directly on one standby,
 *     interleaved round by round (the order alternates), with how the proxy spread the
 *     connections over the standbys (its /health, sampled mid-run);
 *  2. the time from a standby crossing the lag bound to its read-only connections being cut:
 *     the standby's replay is paused while the master takes writes; the crossing is when the
 *     master's pg_current_wal_lsn() minus the standby's pg_last_wal_replay_lsn(), both polled
 *     every 20 ms directly, passes --read-only-max-lag (4MB here); the cut is when the last of its client
 *     connections through the port is closed.
 *
 *   npm run bench:proxy -- --read-only [--seconds 8] [--rounds 3] [--clients 8] [--lag-trials 5]
 *
 * Figures only, no assertion; everything on 127.0.0.1, in a temp dir removed at the end.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { freeBasePort, LocalCluster, SU_PASSWORD } from "../scripts/local-cluster.ts";
import { PG_BIN } from "../scripts/standalone-postgres.ts";
import { parseByteSize } from "../src/lib/byte-size.ts";

export interface ReadOnlyBenchOptions {
  seconds: number;
  rounds: number;
  clients: number;
  lagTrials: number;
}

const MAX_LAG = "4MB";
const MAX_LAG_BYTES = (parseByteSize(MAX_LAG) as { bytes: number }).bytes;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function sqlTo(port: number, onclose?: () => void): postgres.Sql {
  return postgres({
    host: "127.0.0.1",
    port,
    database: "postgres",
    username: "stolon",
    password: SU_PASSWORD,
    max: 1,
    idle_timeout: 0,
    connect_timeout: 10,
    fetch_types: false,
    onnotice: () => {},
    ...(onclose ? { onclose } : {}),
  });
}

async function one<T>(port: number, text: string): Promise<T> {
  const sql = sqlTo(port);
  try {
    return (await sql.unsafe(text))[0] as T;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function pgbench(port: number, args: string[], seconds: number): Promise<number> {
  const p = Bun.spawn([`${PG_BIN}/pgbench`, "-h", "127.0.0.1", "-p", String(port), "-U", "stolon", "-n", "-S", "-T", String(seconds), ...args, "postgres"], {
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", PGPASSWORD: SU_PASSWORD, PGGSSENCMODE: "disable", PGSSLMODE: "disable" },
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`pgbench on ${port} failed: ${err.trim()}`);
  return Number(/tps = ([\d.]+)/.exec(out)?.[1]);
}

interface RoHealth {
  targets: string[];
  connections: Record<string, number>;
  candidates: { dbUid: string; state: string; reason: string }[];
}

async function roHealth(lc: LocalCluster): Promise<RoHealth> {
  const h = (await (await fetch(`${lc.adminUrl("proxy")}/health`)).json()) as { details: { readOnly: RoHealth } };
  return h.details.readOnly;
}

async function until(what: string, timeoutMs: number, f: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await f().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await Bun.sleep(50);
  }
}

interface Layout {
  master: number;
  standbys: { port: number; db: string }[];
}

async function layout(lc: LocalCluster): Promise<Layout> {
  const cd = await lc.waitSettled(180_000);
  const m = cd.cluster.status.master!;
  const portOf = (db: string) => Number(cd.dbs[db]!.status.port);
  await until("both standbys in the read-only set", 30_000, async () => (await roHealth(lc)).targets.length === 2);
  return { master: portOf(m), standbys: Object.keys(cd.dbs).filter((d) => d !== m).map((db) => ({ port: portOf(db), db })) };
}

/** Until both standbys have replayed what the master had written when this began. */
async function caughtUp(l: Layout): Promise<void> {
  const { p } = await one<{ p: string }>(l.master, "select pg_current_wal_lsn() - '0/0'::pg_lsn as p");
  for (const s of l.standbys)
    await until(`standby db ${s.db} caught up`, 120_000, async () => Number((await one<{ p: string }>(s.port, "select pg_last_wal_replay_lsn() - '0/0'::pg_lsn as p")).p) >= Number(p));
}

async function throughput(lc: LocalCluster, l: Layout, o: ReadOnlyBenchOptions): Promise<void> {
  const args = ["-c", String(o.clients), "-j", "2"];
  const ro: number[] = [];
  const direct: number[] = [];
  const spreads: string[] = [];
  console.log(`pgbench -S -c ${o.clients}, ${o.seconds} s per run, ${o.rounds} rounds: the read-only port (two standbys) vs one standby directly`);
  for (let round = 1; round <= o.rounds; round++) {
    const arms = [
      async () => {
        const sample = Bun.sleep((o.seconds * 1000) / 2).then(() => roHealth(lc));
        const tps = await pgbench(lc.ports.proxyReadOnly, args, o.seconds);
        const h = await sample;
        spreads.push(l.standbys.map((s) => h.connections[s.db] ?? 0).join("/"));
        ro.push(tps);
        const out = h.candidates.filter((c) => c.state !== "eligible").map((c) => `db ${c.dbUid} ${c.state}: ${c.reason}`);
        console.log(`  round ${round} read-only port: ${tps.toFixed(0)} tps, connections per standby ${spreads.at(-1)}${out.length ? ` (mid-run: ${out.join("; ")})` : ""}`);
      },
      async () => {
        const tps = await pgbench(l.standbys[0]!.port, args, o.seconds);
        direct.push(tps);
        console.log(`  round ${round} one standby directly: ${tps.toFixed(0)} tps`);
      },
    ];
    for (const arm of round % 2 === 1 ? arms : [...arms].reverse()) await arm();
  }
  const ratio = median(ro.map((x, i) => x / direct[i]!));
  console.log(`median TPS: read-only port ${median(ro).toFixed(0)}, one standby directly ${median(direct).toFixed(0)}; median per-round ratio ${ratio.toFixed(2)}; spread (standby ${l.standbys.map((s) => s.db).join("/")}): ${spreads.join(", ")}`);
}

/** One trial: ms from the standby crossing the bound to its last read-only connection being cut. */
async function lagTrial(lc: LocalCluster, l: Layout, x: Layout["standbys"][number]): Promise<number> {
  const closed: boolean[] = [];
  const clients = Array.from({ length: 4 }, (_, i) => {
    closed[i] = false;
    return sqlTo(lc.ports.proxyReadOnly, () => (closed[i] = true));
  });
  const ports = await Promise.all(clients.map(async (c) => Number((await c`select inet_server_port() as p`)[0]!.p)));
  const onX = ports.flatMap((p, i) => (p === x.port ? [i] : []));
  if (onX.length === 0) throw new Error("no read-only connection landed on the standby under test");
  const master = sqlTo(l.master);
  const standby = sqlTo(x.port);
  let writing = true;
  const writer = (async () => {
    const w = sqlTo(lc.ports.proxy);
    while (writing) await w`insert into ro_fill select g, repeat('x', 200) from generate_series(1, 300) g`;
    await w.end({ timeout: 1 });
  })();
  try {
    await standby`select pg_wal_replay_pause()`;
    let crossed = 0;
    let cut = 0;
    const deadline = performance.now() + 60_000;
    while (cut === 0 && performance.now() < deadline) {
      if (crossed === 0) {
        const [[m], [s]] = await Promise.all([master`select pg_current_wal_lsn() - '0/0'::pg_lsn as p`, standby`select pg_last_wal_replay_lsn() - '0/0'::pg_lsn as p`]);
        if (Number(m!.p) - Number(s!.p) > MAX_LAG_BYTES) crossed = performance.now();
      }
      if (onX.every((i) => closed[i])) cut = performance.now();
      await Bun.sleep(20);
    }
    if (cut === 0 || crossed === 0) throw new Error("the standby's read-only connections were not cut within 60 s");
    return cut - crossed;
  } finally {
    writing = false;
    await writer;
    await standby`select pg_wal_replay_resume()`.catch(() => {});
    for (const s of [master, standby, ...clients]) await s.end({ timeout: 1 }).catch(() => {});
  }
}

async function lagCuts(lc: LocalCluster, l: Layout, trials: number): Promise<void> {
  await one(l.master, "create table if not exists ro_fill (id bigint, pad text)");
  const times: number[] = [];
  console.log(`\nfrom a standby crossing the lag bound (--read-only-max-lag ${MAX_LAG}) to its read-only connections being cut, ${trials} trials`);
  for (let i = 0; i < trials; i++) {
    const x = l.standbys[i % l.standbys.length]!;
    times.push(await lagTrial(lc, l, x));
    console.log(`  trial ${i + 1} (db ${x.db}): ${times.at(-1)!.toFixed(0)} ms`);
    await until("the standby back in the read-only set", 60_000, async () => (await roHealth(lc)).targets.length === 2);
    await one(l.master, "truncate ro_fill");
  }
  const s = [...times].sort((a, b) => a - b);
  console.log(`lag bound crossed -> connections cut: min ${s[0]!.toFixed(0)} / median ${median(s).toFixed(0)} / max ${s.at(-1)!.toFixed(0)} ms (keeper report 500 ms, proxy read every 500 ms, grace 1 s)`);
}

export async function readOnlyBench(o: ReadOnlyBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "stolon-bench-ro-"));
  const lc = new LocalCluster({
    dir,
    basePort: freeBasePort(26000, 29000),
    spec: { initMode: "new" },
    readOnlyProxy: ["--read-only-max-lag", MAX_LAG],
    log: (m) => console.log(`  ${m}`),
  });
  try {
    await lc.start();
    const l = await layout(lc);
    const init = Bun.spawnSync([`${PG_BIN}/pgbench`, "-i", "-q", "-s", "10", "-h", "127.0.0.1", "-p", String(l.master), "-U", "stolon", "postgres"], {
      stdout: "ignore",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "", PGPASSWORD: SU_PASSWORD },
    });
    if (init.exitCode !== 0) throw new Error(`pgbench -i failed: ${init.stderr.toString()}`);
    // The standbys replay the pgbench tables (and the vacuum after them) before the runs: a
    // query on a standby still replaying them can be ended by a recovery conflict.
    await caughtUp(l);
    await throughput(lc, await layout(lc), o);
    await lagCuts(lc, await layout(lc), o.lagTrials);
    console.log(`\nreproduce: npm run bench:proxy -- --read-only --seconds ${o.seconds} --rounds ${o.rounds} --clients ${o.clients} --lag-trials ${o.lagTrials}`);
  } finally {
    const changes = lc.logOf("proxy").split("\n").filter((line) => line.includes("read-only: "));
    console.log(`\nthe proxy changed its read-only set ${changes.length} times; the last ones:\n${changes.slice(-12).map((x) => `  ${x.slice(0, 300)}`).join("\n")}`);
    await lc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
