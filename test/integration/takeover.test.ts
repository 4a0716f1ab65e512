/**
 * The takeover of a running stolon cluster, as README "Moving from stolon" tells it: etcd holds
 * the cluster data stolon's sentinel wrote (a master and two standbys), stolon's keepers run
 * (simulated: harness/stolon-sim.ts), stolon's sentinels and proxies are gone. Our sentinel and
 * proxy start on the same store prefix and cluster name; then our keepers replace stolon's one at
 * a time, standbys first, on their data dirs, while a writer writes through our proxy.
 *
 * The story asserts: the master db never changes, no data dir is copied or made again (system
 * identifier and a marker file in each PGDATA, and what the keepers log), every acknowledged write
 * is there at the end, and our sentinel never changes the DB spec of a db whose stolon keeper still
 * runs (role, followConfig, initMode and every other field: nothing for a stolon keeper to act on;
 * generation bumps are listed). It prints the longest write pause (no timed assertion).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { GO_CLUSTER_DATA, goDecodeProblems } from "../harness/stolon-go-types.ts";
import { waitFor } from "../harness/util.ts";
import { etcdForFile } from "./harness/etcd.ts";
import { DaemonProcess, KeeperProcess, makeTestRoot, requirePostgres } from "./harness/keeper.ts";
import { runCmd } from "./harness/process.ts";
import { queryOnce, superuserSql } from "./harness/sql.ts";
import {
  distinctFreePorts,
  MARKER,
  pgdataOf,
  StolonSim,
  STOLON_PREFIX,
  stolonAuthArgs,
  stolonClusterData,
  SU_PASSWORD,
  type StolonNode,
} from "./harness/stolon-sim.ts";

requirePostgres();
const procs: DaemonProcess[] = [];
let simulated: StolonSim | undefined;
// Registered before etcdForFile's: hooks run in order, and the daemons must stop before etcd does;
// the sentinel first (started first), so that no failover is decided while the keepers stop.
afterAll(async () => {
  for (const p of procs) await p.stop().catch(() => {});
  await simulated?.stopAll();
});
const CLUSTER = "stolon-takeover";
const CLUSTER_UID = "5c1d2e3f";
const f = etcdForFile(CLUSTER);
const root = makeTestRoot("takeover");
const ports = distinctFreePorts(7);
const node = (uid: string, dbUid: string): StolonNode => ({ uid, dbUid, dataDir: join(root, uid), port: ports.pop()!, adminPort: ports.pop()!, bootUUID: crypto.randomUUID() });
// stolon's uids: 8 hex digits.
const k1 = node("a1a1a1a1", "d1d1d1d1");
const k2 = node("b2b2b2b2", "d2d2d2d2");
const k3 = node("c3c3c3c3", "d3d3d3d3");
const nodes = [k1, k2, k3];
const proxyPort = ports.pop()!;

const sql = (port: number) => superuserSql(port, SU_PASSWORD, { connect_timeout: 5 });
const one = async <T>(port: number, text: string) => (await queryOnce<T>(sql(port), text))[0]!;
const systemId = async (port: number) => (await one<{ id: string }>(port, "SELECT system_identifier::text AS id FROM pg_control_system()")).id;

/** JSON with object keys sorted. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));

/** Every cluster data our sentinel writes while a stolon keeper still runs on a db: what a stolon keeper acts on. */
class SpecWatch {
  readonly changes: string[] = [];
  readonly bumps: string[] = [];
  /** Every master the cluster data named, and every revision seen (the sentinel did write). */
  readonly masters = new Set<string>();
  readonly revisions = new Set<number>();
  /** What in a cluster data we wrote stolon's keepers could not decode (stolon's Go types). */
  readonly undecodable: string[] = [];
  private readonly stolonDbs = new Set(nodes.map((n) => n.dbUid));
  private last = new Map<string, { key: string; generation: number }>();
  private stopped = false;
  private done: Promise<void> = Promise.resolve();

  start(): void {
    this.done = (async () => {
      while (!this.stopped) {
        await this.look().catch(() => {});
        await Bun.sleep(100);
      }
    })();
  }

  /** The keeper of this db is ours from now on. */
  release(dbUid: string): void {
    this.stolonDbs.delete(dbUid);
  }

  private async look(): Promise<void> {
    const e = await f.kv.get(`${STOLON_PREFIX}/${CLUSTER}/clusterdata`);
    if (!e) return;
    const cd = JSON.parse(e.value) as { cluster: { status: { master?: string } }; dbs: Record<string, { generation: number; spec: Record<string, unknown> }> };
    this.revisions.add(e.modRevision);
    if (this.stolonDbs.size > 0) this.undecodable.push(...goDecodeProblems(cd, GO_CLUSTER_DATA).map((p) => `revision ${e.modRevision}: ${p}`));
    this.masters.add(cd.cluster.status.master ?? "(none)");
    for (const uid of this.stolonDbs) {
      const db = cd.dbs[uid];
      if (!db) {
        this.changes.push(`db ${uid} removed`);
        continue;
      }
      // The whole spec, as a stolon keeper reads it (a key order change is no change).
      const key = canonical(db.spec);
      const prev = this.last.get(uid);
      if (prev && prev.key !== key) this.changes.push(`db ${uid}: ${prev.key} -> ${key}`);
      if (prev && prev.generation !== db.generation) this.bumps.push(`db ${uid}: generation ${prev.generation} -> ${db.generation}`);
      this.last.set(uid, { key, generation: db.generation });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** Inserts rows through the proxy until stopped; remembers what was acknowledged and the longest gap. */
class Writer {
  readonly acked: number[] = [];
  longestPauseMs = 0;
  /** Every gap of more than 100 ms between two acknowledged writes (epoch ms). */
  readonly gaps: { from: number; to: number }[] = [];
  errors = 0;
  private stopped = false;
  private done: Promise<void> = Promise.resolve();

  start(): void {
    this.done = (async () => {
      // A pause is the time between two acknowledged writes: none before the first.
      let lastOk = 0;
      let id = 0;
      while (!this.stopped) {
        id += 1;
        const c = postgres({ host: "127.0.0.1", port: proxyPort, database: "postgres", username: "stolon", password: SU_PASSWORD, max: 1, connect_timeout: 3, idle_timeout: 1, fetch_types: false, onnotice: () => {} });
        try {
          await c.unsafe(`INSERT INTO takeover(id) VALUES (${id})`);
          this.acked.push(id);
          const now = Date.now();
          if (lastOk > 0) {
            this.longestPauseMs = Math.max(this.longestPauseMs, now - lastOk);
            if (now - lastOk > 100) this.gaps.push({ from: lastOk, to: now });
          }
          lastOk = now;
        } catch {
          this.errors += 1;
          await Bun.sleep(50);
        } finally {
          await c.end({ timeout: 1 }).catch(() => {});
        }
        await Bun.sleep(20);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

const markers = new Map<string, string>();
let systemIdBefore = "";

beforeAll(async () => {
  const sim = new StolonSim(f.kv, CLUSTER, CLUSTER_UID);
  simulated = sim;
  await sim.makeMaster(k1, 3);
  await sim.makeStandby(k2, k1, 2);
  await sim.makeStandby(k3, k1, 2);
  await waitFor("both stolon standbys streaming", async () => (await one<{ n: number }>(k1.port, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'")).n === 2, 60_000, 200);
  await queryOnce(sql(k1.port), "CREATE TABLE takeover(id int PRIMARY KEY)");
  for (const n of nodes) markers.set(n.uid, readFileSync(join(pgdataOf(n), MARKER), "utf8"));
  systemIdBefore = await systemId(k1.port);
  const facts = async (n: StolonNode, generation: number) => ({ node: n, generation, systemID: systemIdBefore, xLogPos: 0 });
  const cd = stolonClusterData({
    clusterUID: CLUSTER_UID,
    master: await facts(k1, 3),
    standbys: [await facts(k2, 2), await facts(k3, 2)],
    now: new Date(),
    oldProxyUid: "e5e5e5e5",
  });
  await f.kv.put(`${STOLON_PREFIX}/${CLUSTER}/clusterdata`, JSON.stringify(cd));
  for (const n of nodes) await sim.startKeeper(n);
}, 240_000);

/** Our keeper on a stolon keeper's data dir, with its admin listener. */
function startOurKeeper(n: StolonNode): { proc: DaemonProcess; admin: string } {
  const adminPort = n.adminPort;
  const proc = KeeperProcess.start(
    {
      uid: n.uid,
      dataDir: n.dataDir,
      pgPort: n.port,
      etcd: f.etcd.endpoint,
      cluster: CLUSTER,
      authArgs: stolonAuthArgs(root),
      extraArgs: ["--metrics-listen-address", `127.0.0.1:${adminPort}`],
    },
    root,
  );
  procs.push(proc);
  return { proc, admin: `http://127.0.0.1:${adminPort}` };
}

async function waitReady(n: StolonNode, admin: string, proc: DaemonProcess): Promise<void> {
  try {
    await waitFor(`our keeper ${n.uid} ready (PostgreSQL running, converged)`, async () => (await fetch(`${admin}/ready`).catch(() => null))?.ok === true, 90_000, 200);
  } catch (err) {
    const ready = await fetch(`${admin}/ready`).then((r) => r.text(), (e) => String(e));
    throw new Error(`${String(err)}\n/ready: ${ready}\nkeeper ${n.uid}:\n${proc.output.slice(-6000)}\nsentinel:\n${procs[0]?.output.slice(-4000)}`);
  }
}

async function waitStreaming(n: StolonNode): Promise<void> {
  await waitFor(
    `db ${n.dbUid} streaming from the master`,
    async () => (await one<{ n: number }>(k1.port, `SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 'stolon_${n.dbUid}' AND state = 'streaming'`)).n === 1,
    60_000,
    200,
  );
}

describe("moving a running stolon cluster to our daemons", () => {
  test("sentinel and proxy first, then the keepers one by one, standbys first: same master, no copy, no lost write", async () => {
    const watch = new SpecWatch();
    watch.start();
    procs.push(DaemonProcess.start("sentinel", "sentinel", [...f.flags(), "--log-level", "debug"]));
    procs.push(DaemonProcess.start("proxy", "proxy", [...f.flags(), "--port", String(proxyPort), "--log-level", "debug"]));
    const writer = new Writer();
    writer.start();
    await waitFor("a write through our proxy to stolon's master", () => writer.acked.length > 0, 60_000, 100);
    // Our stolonctl reads stolon's cluster data and keeper infos (README: what to check at step 1).
    const status = await runCmd("stolonctl", [...f.flags(), "status"]);
    expect([status.code, status.stderr]).toEqual([0, ""]);
    for (const n of nodes) expect(status.stdout).toContain(n.uid);

    const keepers: DaemonProcess[] = [];
    /** The phases of the takeover (epoch ms), to tell where each write pause happened. */
    const phases: { name: string; from: number; to: number }[] = [{ name: "our sentinel and proxy start", from: 0, to: Date.now() }];
    for (const n of [k3, k2, k1]) {
      const t0 = Date.now();
      if (n === k1) {
        // README: the master's keeper is replaced with the cluster paused. Between stolon's keeper
        // stopping PostgreSQL and ours reporting, the master's keeper is silent and its standbys
        // (ours by now) lose their WAL stream: what the silent-master rule fails over on.
        const p = await runCmd("stolonctl", [...f.flags(), "pause", "--for", "10m", "--reason", "keeper takeover"]);
        expect(p.code).toBe(0);
      }
      await simulated!.stopKeeper(n.uid);
      watch.release(n.dbUid);
      const { proc, admin } = startOurKeeper(n);
      keepers.push(proc);
      await waitReady(n, admin, proc);
      if (n !== k1) await waitStreaming(n);
      const before = writer.acked.length;
      await waitFor(`writes through the proxy after keeper ${n.uid}`, () => writer.acked.length > before + 5, 60_000, 100);
      if (n === k1) {
        const r = await runCmd("stolonctl", [...f.flags(), "resume"]);
        expect(r.code).toBe(0);
      }
      phases.push({ name: `${n === k1 ? "master" : "standby"} ${n.uid} replaced`, from: t0, to: Date.now() });
    }
    await waitStreaming(k2);
    await waitStreaming(k3);
    await writer.stop();
    await watch.stop();

    const cd = (await f.store.getClusterData())!.clusterData;
    // A rollback to stolon's sentinel (README) starts from this: stolon's Go types decode it.
    const raw = await f.kv.get(`${STOLON_PREFIX}/${CLUSTER}/clusterdata`);
    expect(goDecodeProblems(JSON.parse(raw!.value), GO_CLUSTER_DATA)).toEqual([]);
    // The master never changed, and every keeper still has the db stolon gave it.
    expect(cd.cluster.status.master).toBe(k1.dbUid);
    expect(Object.keys(cd.dbs).sort()).toEqual(nodes.map((n) => n.dbUid).sort());
    for (const n of nodes) expect(cd.dbs[n.dbUid]!.spec.keeperUID).toBe(n.uid);
    // No data dir was made again: the same database system everywhere, and each marker still there.
    for (const n of nodes) {
      expect(await systemId(n.port)).toBe(systemIdBefore);
      expect(readFileSync(join(pgdataOf(n), MARKER), "utf8")).toBe(markers.get(n.uid)!);
    }
    for (const k of keepers) expect(k.output).not.toMatch(/pg_basebackup from|pg_rewind from|initializing a new database|wiping|removing the data dir/);
    // Every acknowledged write is there.
    const rows = await queryOnce<{ id: number }>(sql(proxyPort), "SELECT id FROM takeover");
    const have = new Set(rows.map((r) => r.id));
    expect(writer.acked.filter((id) => !have.has(id))).toEqual([]);
    // While stolon's keepers ran, their DB specs did not change at all.
    expect(watch.changes).toEqual([]);
    expect(watch.revisions.size).toBeGreaterThan(1);
    // ... and stolon's keepers could decode every cluster data our sentinel wrote meanwhile.
    expect(watch.undecodable).toEqual([]);
    expect([...watch.masters]).toEqual([k1.dbUid]);
    // A gap is counted in the phase it ended in.
    const perPhase = phases.map((ph) => {
      const gaps = writer.gaps.filter((g) => g.to > ph.from && g.to <= ph.to).map((g) => g.to - g.from);
      return `${ph.name}: ${gaps.length ? `${Math.max(...gaps)} ms` : "none over 100 ms"}`;
    });
    console.log(
      `takeover: ${writer.acked.length} writes acknowledged, ${writer.errors} failed attempts, longest write pause ${writer.longestPauseMs} ms; longest pause per phase: ${perPhase.join("; ")}; generation bumps seen by stolon keepers: ${watch.bumps.join("; ") || "none"}`,
    );
  }, 600_000);
});
