/**
 * Simulated keepers for bench/etcd-scale.ts, three per cluster, run in a child process of it (one
 * process holds the keepers of many clusters). No PostgreSQL: each keeper holds the db the cluster
 * data assigns it and reports it converged and healthy (bench/sim-keeper-state.ts), but it talks
 * to etcd as the real keeper does (src/keeper/keeper.ts):
 *
 *  - its own etcd client (EtcdBackend + KvStore, the store timeout's default 5 s);
 *  - a watch of the cluster data key (Store.watchClusterData) that wakes its reconcile loop, which
 *    also reads the cluster data every sleepInterval (Store.getClusterData);
 *  - a report every KEEPER_REPORT_MS, start to start, and at once when its instance changed:
 *    `publish`, the real KvStore.setKeeperInfo under the lease keeperLeaseMs(failInterval), of
 *    the info the real nextKeeperInfo (src/keeper/report-info.ts) picks: the last one again (a
 *    lease renewal alone) while nothing changed, a new one (new infoUID, written) on a change,
 *    WAL positions at most every KEEPER_POSITION_MS.
 *
 * The cluster's WAL advances at --wal-rate bytes/s while its master's keeper reports; standbys
 * report that position too (caught up).
 *
 *   bun bench/sim-keepers.ts --endpoint URL --wal-rate BYTES c001 c002 ...
 *
 * Commands on stdin, one per line; answers on stdout, one per line:
 *   silence <cluster> <keeper>   the keeper stops (reports, reads, watch), as a killed keeper
 *                                whose PostgreSQL runs on; answer "silenced <cluster> <keeper>
 *                                <start> <end>": its last report that landed (epoch ms, fractions)
 *   resume <cluster> <keeper>    it starts again (a new bootUUID); answer "resumed <cluster> <keeper>"
 *   stats                        answer "stats <json>" (reports, failures, late starts, durations)
 * "ready" once every keeper runs. Warnings go to stderr.
 */
import { createConsola } from "consola";
import {
  DEFAULT_SPEC_TIMINGS,
  KEEPER_POSITION_MS,
  KEEPER_REPORT_MS,
  keeperLeaseMs,
  specTimings,
} from "../src/cluster/index.ts";
import { newUid } from "../src/lib/ids.ts";
import { nextKeeperInfo, type PublishedInfo } from "../src/keeper/report-info.ts";
import { Loop } from "../src/lib/run-loop.ts";
import { systemClock } from "../src/lib/clock.ts";
import { Trigger } from "../src/lib/trigger.ts";
import { EtcdBackend, KvStore, type Store } from "../src/store/index.ts";
import { followClusterData, NO_PG, simKeeperInfo, simPostgresState, type SimPg } from "./sim-keeper-state.ts";
import { readLines } from "./lines.ts";

/** The store prefix of every component (the default of --store-prefix). */
export const STORE_PREFIX = "stolon/cluster";
/** The uids of a cluster's simulated keepers. */
export const SIM_KEEPERS = ["keeper1", "keeper2", "keeper3"];
/** The real keeper's default --store-timeout. */
const STORE_TIMEOUT_MS = 5000;
/** A report that starts this much later than its cadence asks counts as late (the process did not keep up). */
const LATE_MS = KEEPER_REPORT_MS / 2;

/** Epoch milliseconds with a fraction, the same clock in every process of the benchmark. */
export const wallNow = () => performance.timeOrigin + performance.now();

/**
 * The keeper's publishing, as Keeper.report does it: the last info published again first (a lease
 * renewal alone, no write, unless the store's last write failed), then the next one when
 * nextKeeperInfo picked a new one (a put beside the renewal), under a lease of
 * keeperLeaseMs(failInterval) that KvStore.setInfo grants once. Returns what was published.
 */
async function publish(store: Store, prev: PublishedInfo | null, next: PublishedInfo, failIntervalMs: number): Promise<PublishedInfo> {
  const ttlMs = keeperLeaseMs(failIntervalMs);
  if (prev) await store.setKeeperInfo(prev.info, ttlMs);
  if (next !== prev) await store.setKeeperInfo(next.info, ttlMs);
  return next;
}

const log = createConsola({ level: 1 });

/** A cluster's shared simulated state: its WAL position. */
class SimCluster {
  walPos = 2 ** 24;
  private advancedAt = performance.now();
  constructor(
    readonly name: string,
    private readonly walRate: number,
  ) {}

  /** The master's keeper moves the WAL on by the rate times the time since the last move. */
  advance(): void {
    const now = performance.now();
    this.walPos += Math.round((this.walRate * (now - this.advancedAt)) / 1000);
    this.advancedAt = now;
  }

  /** A master that was silent does not count the silence as written WAL. */
  restartClock(): void {
    this.advancedAt = performance.now();
  }
}

interface ReportStats {
  reports: number;
  failures: number;
  late: number;
  totalMs: number;
  maxMs: number;
}

class SimKeeper {
  private pg: SimPg = NO_PG;
  private clusterUid = "";
  private bootUUID = newUid();
  private sleepIntervalMs = DEFAULT_SPEC_TIMINGS.sleepIntervalMs;
  private failIntervalMs = DEFAULT_SPEC_TIMINGS.failIntervalMs;
  private readonly store: Store;
  private readonly reportTrigger = new Trigger();
  private run: { abort: AbortController; done: Promise<void> } | null = null;
  private inFlight: Promise<void> | null = null;
  private lastStart = 0;
  private published: PublishedInfo | null = null;
  /** The last report that landed: when it started and ended (wallNow). */
  lastReport = { start: 0, end: 0 };

  constructor(
    readonly cluster: SimCluster,
    readonly uid: string,
    private readonly port: number,
    endpoint: string,
    private readonly stats: ReportStats,
  ) {
    this.store = new KvStore(new EtcdBackend({ endpoints: [endpoint], timeoutMs: STORE_TIMEOUT_MS }), { prefix: STORE_PREFIX, clusterName: cluster.name });
  }

  /** Starts its watch and loops (a keeper process starting); the first report after `delayMs`. */
  start(delayMs: number): void {
    const abort = new AbortController();
    const signal = abort.signal;
    const reconcileTrigger = new Trigger();
    const unwatch = this.store.watchClusterData(() => reconcileTrigger.fire());
    const reconcile = new Loop({ name: "reconcile", intervalMs: () => this.sleepIntervalMs, trigger: reconcileTrigger, tick: () => this.reconcile(), clock: systemClock, log });
    const report = new Loop({
      name: "report",
      intervalMs: () => KEEPER_REPORT_MS,
      fromStart: true,
      trigger: this.reportTrigger,
      tick: () => this.report(),
      clock: systemClock,
      log,
      describe: (err) => `${this.cluster.name}/${this.uid}: cannot publish the keeper info: ${String(err)}`,
    });
    const done = (async () => {
      await Bun.sleep(delayMs);
      await Promise.all([reconcile.run(signal), report.run(signal)]);
      unwatch();
    })();
    this.run = { abort, done };
  }

  /** Stops it as a killed keeper: no more reports, reads or watch; waits for a report in flight. */
  async silence(): Promise<void> {
    this.run?.abort.abort();
    await this.run?.done;
    await this.inFlight?.catch(() => {});
    this.run = null;
  }

  resume(): void {
    this.bootUUID = newUid();
    this.lastStart = 0;
    this.start(0);
  }

  private async reconcile(): Promise<void> {
    const v = await this.store.getClusterData();
    if (!v) return;
    const cd = v.clusterData;
    if (cd.cluster.uid !== this.clusterUid) {
      this.clusterUid = cd.cluster.uid;
      this.reportTrigger.fire();
    }
    const t = specTimings(cd.cluster.spec);
    this.sleepIntervalMs = t.sleepIntervalMs;
    this.failIntervalMs = t.failIntervalMs;
    const next = followClusterData(cd, this.uid, this.pg, this.cluster.walPos);
    if (next !== this.pg) {
      if (next.role === "master" && this.pg.role !== "master") this.cluster.restartClock();
      this.pg = next;
      this.reportTrigger.fire();
    }
  }

  private async report(): Promise<void> {
    if (this.clusterUid === "" || this.run?.abort.signal.aborted) return;
    const start = wallNow();
    if (this.lastStart > 0 && start - this.lastStart > KEEPER_REPORT_MS + LATE_MS) this.stats.late++;
    this.lastStart = start;
    if (this.pg.role === "master") this.cluster.advance();
    const state = simPostgresState(this.pg, { clusterUid: this.clusterUid, listenAddress: "127.0.0.1", port: this.port, walPos: this.cluster.walPos });
    const { infoUID: _, ...fresh } = simKeeperInfo({ uid: this.uid, clusterUid: this.clusterUid, bootUUID: this.bootUUID }, "", state);
    const next = nextKeeperInfo(this.published, fresh, performance.now(), KEEPER_POSITION_MS, newUid);
    const p = publish(this.store, this.published, next, this.failIntervalMs);
    this.inFlight = p.then(() => {});
    try {
      this.published = await p;
    } catch (err) {
      this.stats.failures++;
      throw err;
    } finally {
      this.inFlight = null;
    }
    const end = wallNow();
    this.lastReport = { start, end };
    this.stats.reports++;
    this.stats.totalMs += end - start;
    this.stats.maxMs = Math.max(this.stats.maxMs, end - start);
  }
}

function arg(args: string[], name: string): string {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? args[i + 1] : undefined;
  if (v === undefined) throw new Error(`--${name} is required`);
  args.splice(i, 2);
  return v;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const endpoint = arg(args, "endpoint");
  const walRate = Number(arg(args, "wal-rate"));
  const stats: ReportStats = { reports: 0, failures: 0, late: 0, totalMs: 0, maxMs: 0 };
  const keepers = new Map<string, SimKeeper>();
  for (const name of args) {
    const cluster = new SimCluster(name, walRate);
    SIM_KEEPERS.forEach((uid, i) => keepers.set(`${name} ${uid}`, new SimKeeper(cluster, uid, 5432 + i, endpoint, stats)));
  }
  // Spread the reports over the period, as independent processes would be.
  for (const k of keepers.values()) k.start(Math.random() * KEEPER_REPORT_MS);
  console.log("ready");
  for await (const line of readLines(Bun.stdin.stream())) {
    const [cmd, cluster, uid] = line.trim().split(/\s+/);
    const k = keepers.get(`${cluster} ${uid}`);
    if (cmd === "stats") {
      console.log(`stats ${JSON.stringify(stats)}`);
      stats.maxMs = 0;
    } else if (cmd === "silence" && k) {
      await k.silence();
      console.log(`silenced ${cluster} ${uid} ${k.lastReport.start} ${k.lastReport.end}`);
    } else if (cmd === "resume" && k) {
      k.resume();
      console.log(`resumed ${cluster} ${uid}`);
    } else {
      console.error(`unknown command: ${line}`);
    }
  }
}

if (import.meta.main) await main();
