/**
 * The etcd cost of one cluster, from etcd's own /metrics: the yardstick for changes to how the
 * keepers, sentinels and proxies publish to etcd and read from it.
 *
 * A local cluster with the default spec (scripts/local-cluster.ts: one etcd, 3 keepers, 2
 * sentinels, a proxy), settled. Then phases, each of which waits --settle seconds and then counts
 * for --seconds, from a scrape of etcd's /metrics at its start to one at its end:
 *
 *   idle                  the whole cluster, no client;
 *   write load            the same, with 4 clients writing one row per transaction back to back
 *                         through the proxy (scripts/row-writers.ts, as bench/soak.ts);
 *   no proxy              idle, the proxy stopped (SIGTERM);
 *   no standby sentinel   the sentinel that does not lead stopped too;
 *   keepers only          the leading sentinel stopped too;
 *   etcd alone            the keepers stopped too (their PostgreSQL with them).
 *
 * etcd's /metrics has no per-client figures, so a component kind's share is measured by removal:
 * the drop in each rate when it is stopped (proxy = idle - no proxy; standby sentinel = no proxy -
 * no standby sentinel; leading sentinel = no standby sentinel - keepers only; keepers = keepers
 * only - etcd alone). Each share is everything that goes away with the component: its own
 * requests, the watch messages etcd sends it, and what its writes cause in the components still
 * running (the watch messages about them, the leading sentinel's ticks they wake). The keepers go
 * last, so the leading sentinel's ticks woken by keeper reports count as the sentinel's. After a stop, the next phase
 * begins once the stopped components' keys are gone from etcd (each deletes its info as it stops;
 * one killed instead would leave it to its lease), so that no lease expiry falls in a window. The shares add up to the idle
 * cluster's rates by construction; each is a difference of two windows, so it carries the noise
 * of both (a small negative share is noise). The write load's extra is write load - idle.
 *
 * Counted per second: raft proposals committed, store revisions (etcd_debugging_mvcc_current_revision),
 * WAL fsyncs, backend commits, unary gRPC requests by method (grpc_server_handled_total, all
 * codes), the LeaseKeepAlive and Watch streams by their messages, watch events, and leases granted,
 * renewed, revoked and expired. This process's own etcd client is closed before the first phase;
 * the leading sentinel is found from the sentinels' admin /metrics (stolon_sentinel_is_leader),
 * which cost etcd nothing. Each phase also shows the sentinels' cluster-data writes
 * (stolon_sentinel_decisions_total, from their admin /metrics) during its window.
 *
 *   npm run bench:etcd-load -- [--seconds 30] [--settle 5] [--base-port 26730] [--keep]
 *
 * --keep leaves the cluster's dir (logs included) in place and prints where it is. Figures, never
 * assertions.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalCluster, SU_PASSWORD } from "../scripts/local-cluster.ts";
import { connectTo, ROW_TABLE_DDL, RowWriter } from "../scripts/row-writers.ts";
import { difference, divided, etcdFigures, type Figure, phaseTable, sideBySide } from "./etcd-figures.ts";
import { parsePromText, type Sample, sumOf } from "./prom-text.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: number, min: number) => {
  const v = args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined;
  const n = v === undefined ? def : Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} wants a number >= ${min}, not "${v}"`);
  return n;
};
const SECONDS = opt("seconds", 30, 1);
const SETTLE = opt("settle", 5, 0);
const BASE_PORT = opt("base-port", 26730, 1024);
const WRITERS = 4;
const SENTINELS = ["sentinel1", "sentinel2"];

const dir = mkdtempSync(join(tmpdir(), "stolon-etcd-load-"));
const lc = new LocalCluster({ dir, basePort: BASE_PORT, log: (m) => console.log(`  ${m}`) });
const running = new Set<string>();

async function scrape(url: string): Promise<Sample[] | null> {
  const text = await fetch(url, { signal: AbortSignal.timeout(5000) }).then((r) => (r.ok ? r.text() : null)).catch(() => null);
  return text === null ? null : parsePromText(text);
}

/** etcd's /metrics now, and when (performance.now(), the middle of the scrape). */
async function scrapeEtcd(): Promise<{ samples: Sample[]; at: number }> {
  const t = performance.now();
  const samples = await scrape(`${lc.endpoint}/metrics`);
  if (!samples) throw new Error(`etcd's ${lc.endpoint}/metrics did not answer`);
  return { samples, at: (t + performance.now()) / 2 };
}

/** The cluster-data writes of the running sentinels so far (stolon_sentinel_decisions_total, all kinds). */
async function sentinelWrites(): Promise<number | null> {
  let sum: number | null = null;
  for (const s of SENTINELS.filter((n) => running.has(n))) {
    const samples = await scrape(`${lc.adminUrl(s)}/metrics`);
    const n = samples ? sumOf(samples, "stolon_sentinel_decisions_total") : null;
    if (n === null) return null;
    sum = (sum ?? 0) + n;
  }
  return sum;
}

/** The sentinel that leads (stolon_sentinel_is_leader on its admin /metrics), waited for up to 30 s. */
async function leadingSentinel(): Promise<string> {
  for (let i = 0; i < 60; i++) {
    const leaders: string[] = [];
    for (const s of SENTINELS) {
      const samples = await scrape(`${lc.adminUrl(s)}/metrics`);
      if (samples && sumOf(samples, "stolon_sentinel_is_leader") === 1) leaders.push(s);
    }
    if (leaders.length === 1) return leaders[0]!;
    await Bun.sleep(500);
  }
  throw new Error("no single leading sentinel within 30 s");
}

/**
 * The keys a component holds in etcd, all under leases: a keeper's and a proxy's info; a
 * sentinel's info and its election candidate key.
 */
const KEYS_HELD = (name: string) => (name.startsWith("sentinel") ? 2 : 1);

/** etcd's key count (etcd_debugging_mvcc_keys_total): a gauge on /metrics, no request to etcd's API. */
async function keyCount(): Promise<number> {
  return sumOf((await scrapeEtcd()).samples, "etcd_debugging_mvcc_keys_total") ?? NaN;
}

/**
 * Stops components (SIGTERM, then SIGKILL after 20 s) and waits, up to 30 s, for their keys to be
 * gone from etcd: deleted on the way out, or when their lease expires (a component killed by the
 * SIGKILL), so that no expiry falls in the next phase's window.
 */
async function stop(...names: string[]): Promise<void> {
  const want = (await keyCount()) - names.reduce((n, c) => n + KEYS_HELD(c), 0);
  await Promise.all(
    names.map(async (name) => {
      lc.kill(name, "SIGTERM");
      const t = setTimeout(() => lc.kill(name, "SIGKILL"), 20_000);
      await lc.exited(name);
      clearTimeout(t);
      running.delete(name);
    }),
  );
  const t0 = performance.now();
  let keys = await keyCount();
  while (keys > want && performance.now() - t0 < 30_000) {
    await Bun.sleep(250);
    keys = await keyCount();
  }
  const after = `${((performance.now() - t0) / 1000).toFixed(1)} s after the exit`;
  console.log(keys > want ? `  WARNING: ${names.join(", ")} stopped; etcd still has ${keys} keys, ${keys - want} more than expected, ${after}` : `  ${names.join(", ")} stopped; ${keys} keys left in etcd ${after}`);
}

interface Phase {
  name: string;
  what: string;
  seconds: number;
  figures: Figure[];
  notes: string[];
}

/** Something that runs during a phase (a write load): started before the settling, stopped after the count. */
interface Activity {
  start(): Promise<void>;
  /** Stops it; what it did between `from` and `to` (performance.now()). */
  stop(from: number, to: number): Promise<string[]>;
}

async function phase(name: string, what: string, activity?: Activity): Promise<Phase> {
  console.log(`\nphase "${name}": ${what}; settling ${SETTLE} s, then counting ${SECONDS} s (${new Date().toISOString()})`);
  await activity?.start();
  await Bun.sleep(SETTLE * 1000);
  const w0 = await sentinelWrites();
  const before = await scrapeEtcd();
  await Bun.sleep(SECONDS * 1000);
  const after = await scrapeEtcd();
  const w1 = await sentinelWrites();
  const seconds = (after.at - before.at) / 1000;
  const notes = (await activity?.stop(before.at, after.at)) ?? [];
  const sentinels = SENTINELS.filter((s) => running.has(s));
  if (sentinels.length > 0) {
    const writes = w0 === null || w1 === null ? "unknown (a sentinel's /metrics did not answer)" : `${w1 - w0} (${((w1 - w0) / seconds).toFixed(2)}/s)`;
    notes.push(`cluster-data writes by the sentinels (${sentinels.join(", ")}) in the window: ${writes}`);
  }
  const levels = (n: string) => sumOf(after.samples, n) ?? NaN;
  notes.push(
    `at the end: ${levels("etcd_debugging_mvcc_watcher_total")} watchers on ${levels("etcd_debugging_mvcc_watch_stream_total")} watch streams, ` +
      `${levels("etcd_debugging_mvcc_keys_total")} keys, revision ${levels("etcd_debugging_mvcc_current_revision")}, ` +
      `db ${(levels("etcd_mvcc_db_total_size_in_bytes") / 2 ** 20).toFixed(1)} MiB`,
  );
  const p = { name, what, seconds, figures: etcdFigures(before.samples, after.samples, seconds), notes };
  console.log(phaseTable(p.figures, p.seconds));
  for (const n of p.notes) console.log(n);
  return p;
}

/** 4 pooled clients writing one row per transaction through the proxy, back to back. */
function writeLoad(): Activity {
  const writers = Array.from({ length: WRITERS }, (_, i) => new RowWriter(`w${i + 1}`, "pooled", { port: lc.ports.proxy, password: SU_PASSWORD }));
  return {
    async start() {
      const sql = connectTo({ port: lc.ports.proxy, password: SU_PASSWORD });
      await sql.unsafe(ROW_TABLE_DDL);
      await sql.end({ timeout: 1 });
      for (const w of writers) w.start();
    },
    async stop(from, to) {
      await Promise.all(writers.map((w) => w.stop()));
      const acks = writers.reduce((n, w) => n + w.acks.filter((a) => a.at >= from && a.at <= to).length, 0);
      const errors = writers.reduce((n, w) => n + w.errors, 0);
      return [`writes through the proxy in the window: ${acks} (${(acks / ((to - from) / 1000)).toFixed(0)}/s) by ${WRITERS} clients; failed writes in the whole phase: ${errors}`];
    },
  };
}

async function main(): Promise<void> {
  const quote = (a: string) => (/^[\w./:=+-]+$/.test(a) ? a : JSON.stringify(a));
  const command = `npm run bench:etcd-load${args.length ? ` -- ${args.map(quote).join(" ")}` : ""}`;
  console.log(`command: ${command}`);
  console.log(`etcd load benchmark: default spec, 3 keepers, 2 sentinels, a proxy; ${SECONDS} s counted per phase after ${SETTLE} s of settling (Bun ${Bun.version}, ${navigator.hardwareConcurrency} CPUs, dir ${dir})`);
  await lc.start();
  for (const n of [...lc.keeperNames, ...SENTINELS, "proxy"]) running.add(n);
  await lc.waitSettled(180_000);
  // From here on, the cluster's components are etcd's only clients.
  await lc.store.close();

  const idle = await phase("idle", "the whole cluster, no client");
  const load = await phase("write load", `the whole cluster, ${WRITERS} clients writing through the proxy`, writeLoad());
  await stop("proxy");
  const noProxy = await phase("no proxy", "the proxy stopped");
  const leader = await leadingSentinel();
  const standby = SENTINELS.find((s) => s !== leader)!;
  await stop(standby);
  const noStandby = await phase("no standby sentinel", `the proxy and the standby sentinel (${standby}) stopped; ${leader} leads`);
  await stop(leader);
  const keepers = await phase("keepers only", "the proxy and both sentinels stopped");
  await stop(...lc.keeperNames);
  const alone = await phase("etcd alone", "every component stopped");

  console.log(`\n=== etcd load, per second (${command}) ===\n`);
  console.log(sideBySide([idle, load, noProxy, noStandby, keepers, alone].map((p) => ({ title: p.name, figures: p.figures }))));
  const keepersShare = difference(keepers.figures, alone.figures);
  console.log(
    "\nPer component kind, idle, by removal: the drop in each rate when the kind is stopped, in the order of the columns: its own requests, the watch messages etcd sends it, " +
      "and what its writes cause in the components still running (watch messages, the leading sentinel's ticks; so the ticks woken by keeper reports count as the sentinel's). " +
      "The columns and etcd alone add up to idle; each is the difference of two windows, so small negative figures are noise.\n",
  );
  console.log(
    sideBySide([
      { title: "proxy", figures: difference(idle.figures, noProxy.figures) },
      { title: "standby sentinel", figures: difference(noProxy.figures, noStandby.figures) },
      { title: "leading sentinel", figures: difference(noStandby.figures, keepers.figures) },
      { title: `${lc.keeperNames.length} keepers`, figures: keepersShare },
      { title: "one keeper", figures: divided(keepersShare, lc.keeperNames.length) },
      { title: "etcd alone", figures: alone.figures },
      { title: "write load extra", figures: difference(load.figures, idle.figures) },
    ]),
  );
  console.log(`\n${command}`);
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  console.error(`etcd load benchmark failed: ${err instanceof Error ? err.message : String(err)}`);
  exitCode = 1;
} finally {
  await lc.stop();
  if (args.includes("--keep")) console.log(`cluster dir kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
