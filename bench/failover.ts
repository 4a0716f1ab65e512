/**
 * Failover benchmark: a local cluster with the default spec (3 keepers, 2 sentinels, a proxy); a
 * client writes through the proxy, one short transaction at a time, remembering every acknowledged
 * id. Each run kills the master keeper and its PostgreSQL with SIGKILL and measures the time from
 * the kill to the first acknowledged write on the new master; the killed keeper is then restarted
 * and rejoins as a standby before the next run. Then the same for a planned `stolonctl failkeeper`
 * of a healthy master. Prints min / median / max, and how many acknowledged writes were lost
 * (asynchronous replication: a write acknowledged just before a SIGKILL may not have reached a
 * standby).
 *
 *   npm run bench:failover -- [--runs 10] [--planned 5] [--base-port 26430] [--keep]
 *
 * --keep leaves the cluster's dir (logs included) in place and prints where it is.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { LocalCluster, SU_PASSWORD } from "../scripts/local-cluster.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: number) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : def);
const RUNS = opt("runs", 10);
const PLANNED = opt("planned", 5);
const dir = mkdtempSync(join(tmpdir(), "stolon-failover-"));
const lc = new LocalCluster({ dir, basePort: opt("base-port", 26430), spec: { initMode: "new", usePgrewind: true }, log: (m) => console.log(`  ${m}`) });

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

  async setup(): Promise<void> {
    await this.sql`create table if not exists t (id bigint primary key)`;
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
    for (;;) {
      const a = this.acks.find((x) => x.at >= t && x.port !== oldPort);
      if (a) return a;
      if (performance.now() > deadline) throw new Error(`no write acknowledged by a new master within ${timeoutMs} ms`);
      await Bun.sleep(5);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    await this.sql.end({ timeout: 1 });
  }
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s.at(-1)! };
};
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function failover(w: Writer, planned: boolean): Promise<number> {
  const cd = await lc.waitSettled(120_000);
  const master = cd.dbs[cd.cluster.status.master!]!;
  const keeper = master.spec.keeperUID;
  const oldPort = Number(master.status.port);
  await Bun.sleep(1000);
  const t0 = performance.now();
  if (planned) {
    const r = Bun.spawnSync([...lc.cmd("stolonctl", []), "failkeeper", keeper], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`failkeeper failed: ${r.stderr.toString()}`);
  } else {
    await lc.crashKeeper(keeper);
  }
  const ack = await w.firstAckElsewhere(t0, oldPort, 60_000);
  if (!planned) {
    await lc.exited(keeper);
    lc.startKeeper(keeper);
  }
  return ack.at - t0;
}

async function main(): Promise<void> {
  console.log(`failover benchmark: ${RUNS} SIGKILL runs, ${PLANNED} failkeeper runs, default spec (Bun ${Bun.version})`);
  await lc.start();
  await lc.waitSettled(180_000);
  const w = new Writer();
  await w.setup();
  w.start();
  const kills: number[] = [];
  for (let i = 1; i <= RUNS; i++) {
    const ms = await failover(w, false);
    kills.push(ms);
    console.log(`run ${i}: SIGKILL of the master -> first write acknowledged by the new master in ${fmt(ms)}`);
  }
  const planned: number[] = [];
  for (let i = 1; i <= PLANNED; i++) {
    const ms = await failover(w, true);
    planned.push(ms);
    console.log(`planned ${i}: stolonctl failkeeper of the master -> first write acknowledged by the new master in ${fmt(ms)} (${new Date().toISOString()})`);
  }
  await lc.waitSettled(120_000);
  await w.stop();
  // Every acknowledged id must be on the final master.
  const sql = postgres({ host: "127.0.0.1", port: lc.ports.proxy, database: "postgres", username: "stolon", password: SU_PASSWORD, max: 1, fetch_types: false });
  const present = new Set((await sql`select id from t`).map((r) => Number(r.id)));
  await sql.end({ timeout: 1 });
  const lost = w.acks.filter((a) => !present.has(a.id)).length;
  const k = stats(kills);
  console.log(`\nSIGKILL of the master keeper and its postgres (${kills.length} runs): min ${fmt(k.min)}, median ${fmt(k.median)}, max ${fmt(k.max)}`);
  if (planned.length) {
    const p = stats(planned);
    console.log(`stolonctl failkeeper of a healthy master (${planned.length} runs): min ${fmt(p.min)}, median ${fmt(p.median)}, max ${fmt(p.max)}`);
  }
  console.log(`writes acknowledged: ${w.acks.length}, failed attempts: ${w.errors}, acknowledged writes missing afterwards: ${lost} (asynchronous replication)`);
}

try {
  await main();
} finally {
  await lc.stop();
  if (args.includes("--keep")) console.log(`cluster dir kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
