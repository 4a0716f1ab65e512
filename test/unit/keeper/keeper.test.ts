/**
 * The Keeper object itself, driven on the in-memory store and a FakeClock, with a fake of the
 * PgManager methods it calls (KeeperPg): the fencing deadline, the report and reconcile loops,
 * status() and health(). The test plays the sentinel: it writes the cluster view and copies the
 * keeper's bootUUID into it once the keeper has reported.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola, type LogObject } from "consola";
import { keeperFenceAfterMs, newClusterData, specTimings, type ClusterData, type DB, type DBSpec } from "../../../src/cluster/index.ts";
import { resolveKeeperConfig } from "../../../src/keeper/config.ts";
import { Keeper, readiness, type KeeperPg } from "../../../src/keeper/keeper.ts";
import { loadDbState, saveDbState, saveKeeperState } from "../../../src/keeper/local-state.ts";
import type { KeeperStatus } from "../../../src/keeper/status.ts";
import { masterStatus } from "../../harness/status-builders.ts";
import { FakeClock } from "../../../src/lib/clock.ts";
import type { LocalPgState } from "../../../src/postgres/manager.ts";
import type { ControlData } from "../../../src/postgres/control-data.ts";
import { KvStore, MemoryBackend } from "../../../src/store/index.ts";
import { makeDb as baseDb } from "../../harness/builders.ts";

const CLUSTER_UID = "cuid1";
const SYSTEM_ID = "7300000000000000001";
const MASTER_POS = 0x3000000;
const REPLAY_POS = 0x2f00000;
const FENCED_HBA = "# fenced by the fake\n";

/** What the keeper does to PostgreSQL, on nothing: files in a map, flags for running and standby. */
class FakePg implements KeeperPg {
  readonly socketDir = "/fake/run";
  readonly newDataDir: string;
  readonly oldDataDir: string;
  running = false;
  standby = false;
  files = new Map<string, string>();
  calls: string[] = [];
  fences = 0;
  /** The state query fails with this when set. */
  stateError: Error | null = null;
  /** The state query does not answer until this resolves, when set. */
  stateHang: Promise<void> | null = null;
  /** What pg_controldata says (read only while stopped). */
  control: ControlData | null = null;

  constructor(readonly dataDir: string) {
    this.newDataDir = `${dataDir}.new`;
    this.oldDataDir = `${dataDir}.old`;
  }
  isInitialized() {
    return true;
  }
  isRunning() {
    return this.running;
  }
  hasRecoverySignal() {
    return false;
  }
  hasStandbySignal() {
    return this.standby;
  }
  async systemId() {
    return SYSTEM_ID;
  }
  async controlData() {
    return this.control;
  }
  neutraliseAutoConf() {
    return null;
  }
  readText(name: string) {
    return this.files.get(name) ?? null;
  }
  writeOwned() {}
  writeConfig(c: { postgresqlConf: string; hba: string; standby: boolean }) {
    this.calls.push("write-config");
    this.files.set("postgresql.conf", c.postgresqlConf);
    this.files.set("pg_hba.conf", c.hba);
    this.standby = c.standby;
  }
  writeReplicationPassfile() {
    return join(this.dataDir, "pgpass");
  }
  async wipe() {
    throw new Error("the fake holds a db: no wipe expected");
  }
  async initdb() {
    throw new Error("no initdb expected");
  }
  async start() {
    this.calls.push("start");
    this.running = true;
  }
  async stop() {
    this.calls.push("stop");
    this.running = false;
  }
  async restart() {
    this.calls.push("restart");
  }
  async reload() {
    this.calls.push("reload");
  }
  async waitReady() {}
  async promote() {
    this.standby = false;
  }
  async setupRoles() {}
  async setupRolesAfterRestore() {}
  async recoveryProgress() {
    return { inRecovery: false, replayLsn: null, lastReplayTime: null };
  }
  async dataRestore() {
    this.calls.push("dataRestore");
    return { exitCode: 0, output: "" };
  }
  async closeSql() {}
  logTail() {
    return "";
  }
  async fileParameters() {
    return {};
  }
  async pendingRestart() {
    return [];
  }
  async inSyncStandbys() {
    return [];
  }
  async physicalSlots() {
    return [];
  }
  watchdog = true;
  setWatchdog(on: boolean) {
    this.watchdog = on;
  }
  async createSlot() {}
  async dropSlot() {}
  async fence() {
    this.fences++;
    this.files.set("pg_hba.conf", FENCED_HBA);
    return 0;
  }
  async state(): Promise<LocalPgState> {
    if (this.stateError) throw this.stateError;
    if (this.stateHang) await this.stateHang;
    const base = { systemID: SYSTEM_ID, timelineID: 2, timelinesHistory: [], pgParameters: {}, synchronousStandbys: [], olderWalFile: "000000020000000000000001" };
    return this.standby
      ? { ...base, xLogPos: MASTER_POS, inRecovery: true, receivingWal: true, replayLsn: REPLAY_POS, replayLagSeconds: 1.5 }
      : { ...base, xLogPos: MASTER_POS, inRecovery: false };
  }
  async rewind() {
    throw new Error("no rewind expected");
  }
  async basebackup() {
    throw new Error("no basebackup expected");
  }
  async swapInNewDataDir() {
    return false;
  }
  async removeNewDataDir() {}
  async removeOldDataDir() {}
}

function collectingLog() {
  const lines: { level: string; msg: string }[] = [];
  const log = createConsola({ level: 5, reporters: [{ log: (o: LogObject) => lines.push({ level: o.type, msg: String(o.args[0]) }) }] });
  return { log, lines };
}

/** Lets every task that is ready run (no clock moves). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A DB of the shared builder at generation 3, written now. */
function makeDb(uid: string, spec: Partial<DBSpec> & Pick<DBSpec, "keeperUID" | "role">, status: DB["status"] = {}): DB {
  return baseDb(uid, spec, { generation: 3, changeTime: new Date().toISOString(), status });
}

interface Setup {
  dir: string;
  clock: FakeClock;
  kv: MemoryBackend;
  store: KvStore;
  pg: FakePg;
  keeper: Keeper;
  lines: { level: string; msg: string }[];
  ac: AbortController;
  running: Promise<void>;
  /** Moves the clock by `ms` in steps, letting the loops run at each one. */
  pass(ms: number, step?: number): Promise<void>;
}

const dirs: string[] = [];
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A keeper k1 holding db d1 (generation 0 on disk, 3 in the view), as master or as the standby of
 * d0 on keeper k0, with PostgreSQL stopped. Returns once the view knows the keeper's bootUUID.
 */
async function startKeeper(role: "master" | "standby" | "no cluster data"): Promise<Setup> {
  const clock = new FakeClock(1_000_000);
  const kv = new MemoryBackend(clock);
  const store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  const dir = mkdtempSync(join(tmpdir(), "keeper-unit-"));
  dirs.push(dir);
  saveDbState(dir, { UID: "d1", Generation: 0, Initializing: false, InitPGParameters: null, ClusterUID: CLUSTER_UID, SystemID: SYSTEM_ID, WasMaster: role === "master" });

  const cd: ClusterData = newClusterData(CLUSTER_UID, { initMode: "new" }, new Date());
  cd.cluster.status = { phase: "normal", master: role === "master" ? "d1" : "d0" };
  const keeperEntry = (uid: string) => ({ uid, generation: 1, changeTime: cd.changeTime, spec: {}, status: { healthy: true } });
  cd.keepers.k1 = keeperEntry("k1");
  if (role === "master") {
    cd.dbs.d1 = makeDb("d1", { keeperUID: "k1", role: "master" });
  } else {
    cd.keepers.k0 = keeperEntry("k0");
    cd.dbs.d0 = makeDb(
      "d0",
      { keeperUID: "k0", role: "master", followers: ["d1"], synchronousStandbys: [] },
      { healthy: true, listenAddress: "10.0.0.9", port: "5432", systemdID: SYSTEM_ID, xLogPos: MASTER_POS, timelineID: 2 },
    );
    cd.dbs.d1 = makeDb("d1", { keeperUID: "k1", role: "standby", followConfig: { type: "internal", dbuid: "d0" } });
  }
  if (role !== "no cluster data") await store.putClusterData(cd, 0);

  const cfg = resolveKeeperConfig(
    { "cluster-name": "c1", "store-backend": "etcdv3", uid: "k1", "data-dir": dir, "pg-listen-address": "10.0.0.1", "pg-repl-username": "repl", "pg-repl-password": "r", "pg-su-password": "s" },
    {},
    { isRoot: false, currentUser: "alice", readFile: () => "" },
  );
  const pg = new FakePg(join(dir, "postgres"));
  const { log, lines } = collectingLog();
  const keeper = new Keeper(cfg, { uid: "k1", dataDir: dir, pg, binaryVersion: { Maj: 15, Min: 4 }, release() {} }, store, log, clock);
  const ac = new AbortController();
  const running = keeper.run(ac.signal);
  const pass = async (ms: number, step = 50) => {
    for (let t = 0; t < ms; t += step) {
      await clock.advance(Math.min(step, ms - t));
      await settle();
    }
  };
  let done = false;
  void running.finally(() => (done = true));
  stops.push(async () => {
    ac.abort();
    // A report may still be waiting for the state (KEEPER_STATE_WAIT_MS on the fake clock).
    for (let i = 0; i < 100 && !done; i++) await pass(100);
    await running;
    await kv.close();
  });
  await settle();
  if (role === "no cluster data") return { dir, clock, kv, store, pg, keeper, lines, ac, running, pass };

  // The sentinel's part: the view learns this keeper process (bootUUID) from its first report.
  let boot: string | undefined;
  for (let i = 0; i < 20 && !boot; i++) {
    boot = (await store.getKeepersInfo()).items.k1?.bootUUID;
    if (!boot) await pass(100);
  }
  if (!boot) throw new Error("the keeper never reported");
  const v = (await store.getClusterData())!;
  v.clusterData.keepers.k1!.status.bootUUID = boot;
  await store.putClusterData(v.clusterData, v.revision);
  await settle();
  return { dir, clock, kv, store, pg, keeper, lines, ac, running, pass };
}

/** Runs the loops until `cond` holds, at most `ms` of fake time. */
async function until(s: Setup, what: string, cond: () => boolean, ms = 5000): Promise<void> {
  for (let t = 0; t < ms && !cond(); t += 50) await s.pass(50);
  if (!cond()) throw new Error(`never happened within ${ms} ms of fake time: ${what}`);
}

const FENCE_AFTER_MS = keeperFenceAfterMs(specTimings({}).failIntervalMs);

describe("Keeper fencing", () => {
  test("a master whose reports fail is fenced after keeperFenceAfterMs, not before; a report that succeeds lifts the fence", async () => {
    const s = await startKeeper("master");
    await until(s, "ready", () => s.keeper.health().ready.ok);
    // Let a report succeed and cut the store at once: the silence starts at that report.
    const reported = s.keeper.health().loops.find((l) => l.name === "report")!.ticks;
    await until(s, "another report", () => s.keeper.health().loops.find((l) => l.name === "report")!.ticks > reported);
    s.kv.setAvailable(false);
    const cutAt = s.clock.now();

    await s.pass(FENCE_AFTER_MS, 100);
    expect(s.clock.now() - cutAt).toBe(FENCE_AFTER_MS);
    expect(s.pg.fences).toBe(0);
    expect(s.keeper.status().fenced).toBe(false);

    await s.pass(100, 100);
    expect(s.pg.fences).toBe(1);
    expect(s.keeper.status()).toMatchObject({ fenced: true, localRole: "master" });
    expect(s.keeper.health().ready).toMatchObject({ ok: false, reason: expect.stringContaining("fenced") });
    expect(s.lines.some((l) => l.level === "warn" && /fencing the master/.test(l.msg))).toBe(true);
    // Fenced once, not again at every check.
    await s.pass(2000, 100);
    expect(s.pg.fences).toBe(1);

    s.kv.setAvailable(true);
    await until(s, "the fence lifted", () => !s.keeper.status().fenced, 2000);
    // The next pass writes the normal pg_hba.conf over the fenced one, and the keeper is ready again.
    await until(s, "pg_hba.conf rewritten", () => s.pg.files.get("pg_hba.conf") !== FENCED_HBA, 2000);
    await until(s, "ready again", () => s.keeper.health().ready.ok, 2000);
    expect(s.pg.fences).toBe(1);
  });

  test("a standby whose reports fail is never fenced", async () => {
    const s = await startKeeper("standby");
    await until(s, "ready", () => s.keeper.health().ready.ok);
    expect(s.keeper.status().localRole).toBe("standby");
    s.kv.setAvailable(false);
    await s.pass(10 * FENCE_AFTER_MS, 100);
    expect(s.pg.fences).toBe(0);
    expect(s.keeper.status().fenced).toBe(false);
  });
});

describe("Keeper status and health", () => {
  test("a converged master: roles, figures, ready; PostgreSQL gone: not ready; the signal: shutting down at once", async () => {
    const s = await startKeeper("master");
    await until(s, "ready", () => s.keeper.health().ready.ok);
    const h = s.keeper.health();
    expect(h).toMatchObject({ component: "keeper", uid: "k1", live: { ok: true }, ready: { ok: true } });
    expect(h.loops.map((l) => l.name)).toEqual(["reconcile", "report", "fence"]);
    expect(h.details).toMatchObject({ dbUid: "d1", elected: true, targetRole: "master", localRole: "master" });
    expect(s.keeper.status()).toMatchObject({
      clusterName: "c1",
      clusterUID: CLUSTER_UID,
      postgresRunning: true,
      postgresHealthy: true,
      converged: true,
      fenced: false,
      shuttingDown: false,
      timeline: 2,
      walPosition: MASTER_POS,
      replicationLagBytes: 0,
      replicationLagSeconds: 0,
      streaming: false,
      maxStandbyLagBytes: 1024 * 1024,
    });
    expect(s.keeper.status().clusterDataValidAt).toBeGreaterThan(0);
    expect(s.keeper.figures()).toMatchObject({ sleepIntervalMs: 1000, needsReload: false, needsRestart: false, shutdownAt: 0 });
    expect(s.keeper.figures().lastSyncSuccessAt).toBeGreaterThan(0);

    // The state query stops answering: unhealthy once the last answer is stale.
    s.pg.stateError = new Error("connection refused");
    await until(s, "unhealthy", () => !s.keeper.status().postgresHealthy, 5000);
    expect(s.keeper.health().ready).toMatchObject({ ok: false, reason: expect.stringContaining("does not answer") });
    s.pg.stateError = null;
    await until(s, "healthy again", () => s.keeper.health().ready.ok, 2000);
    // It hangs: the last answer serves for a while (a report does not wait), then it is stale.
    let answer = () => {};
    s.pg.stateHang = new Promise<void>((r) => (answer = r));
    await s.pass(1000);
    expect(s.keeper.status().postgresHealthy).toBe(true);
    await until(s, "stale", () => !s.keeper.status().postgresHealthy, 2000);
    s.pg.stateHang = null;
    answer();
    await until(s, "healthy again", () => s.keeper.health().ready.ok, 2000);

    // PostgreSQL dies: not ready at once (the next pass starts it again).
    s.pg.running = false;
    expect(s.keeper.status()).toMatchObject({ postgresRunning: false, localRole: null, postgresHealthy: false });
    expect(s.keeper.health().ready).toMatchObject({ ok: false, reason: "PostgreSQL is not running" });
    await until(s, "started again", () => s.keeper.health().ready.ok, 3000);

    s.ac.abort();
    expect(s.keeper.status().shuttingDown).toBe(true);
    expect(s.keeper.figures().shutdownAt).toBeGreaterThan(0);
    expect(s.keeper.health().ready).toMatchObject({ ok: false, reason: "the keeper is shutting down" });
    await s.clock.advance(1);
    await s.running;
    expect(s.pg.running).toBe(false);
    expect(s.keeper.health().live.ok).toBe(false);
  });

  test("before any cluster data: live, not ready, no role, nothing reported, said once", async () => {
    const s = await startKeeper("no cluster data");
    await s.pass(5000, 100);
    const h = s.keeper.health();
    expect(h.live.ok).toBe(true);
    expect(h.ready).toMatchObject({ ok: false, reason: "PostgreSQL is not running" });
    expect(s.keeper.status()).toMatchObject({ clusterUID: "", dbUid: "d1", targetRole: null, localRole: null, elected: false, converged: false, clusterDataValidAt: 0 });
    expect(s.keeper.figures().lastSyncSuccessAt).toBeGreaterThan(0);
    expect((await s.store.getKeepersInfo()).items).toEqual({});
    expect(s.lines.filter((l) => l.level === "info" && l.msg.startsWith("no cluster data"))).toHaveLength(1);
  });

  test("a standby reports its lag from the master's position in the view and its replay", async () => {
    const s = await startKeeper("standby");
    await until(s, "ready", () => s.keeper.health().ready.ok);
    expect(s.keeper.status()).toMatchObject({
      targetRole: "standby",
      localRole: "standby",
      elected: false,
      streaming: true,
      synchronous: false,
      walPosition: REPLAY_POS,
      replicationLagBytes: MASTER_POS - REPLAY_POS,
      replicationLagSeconds: 1.5,
    });
  });

  test("the report loop stuck: /health says so", async () => {
    const s = await startKeeper("master");
    await until(s, "ready", () => s.keeper.health().ready.ok);
    expect(s.keeper.health().live.ok).toBe(true);
    // A report that does not end (etcd hangs without an error) until the test lets it.
    let release = () => {};
    const hung = new Promise<"written">((r) => (release = () => r("written")));
    s.store.setKeeperInfo = () => hung;
    try {
      await s.pass(3000, 100);
      expect(s.keeper.health().live.ok).toBe(true);
      await s.pass(600, 100);
      expect(s.keeper.health().live).toMatchObject({ ok: false, reason: expect.stringContaining("loop report has not finished a pass") });
    } finally {
      release();
    }
    await s.pass(600, 100);
    expect(s.keeper.health().live.ok).toBe(true);
  });

  const ok: KeeperStatus = masterStatus({ dbUid: "d1" });

  test.each([
    ["all well", {}, true, /answers and is converged/],
    ["PostgreSQL not running", { postgresRunning: false, postgresHealthy: false, localRole: null }, false, /not running/],
    ["PostgreSQL not answering", { postgresHealthy: false }, false, /does not answer/],
    ["no db in the view", { targetRole: null, converged: false }, false, /assigns no db/],
    ["not converged", { converged: false }, false, /has not converged/],
    ["fenced", { fenced: true }, false, /fenced/],
    ["shutting down", { shuttingDown: true }, false, /shutting down/],
    ["stopped for a switchover", { postgresRunning: false, postgresHealthy: false, localRole: null, stoppedForSwitchover: "sw1" }, false, /PostgreSQL is stopped for switchover sw1/],
  ] as const)("readiness: %s", (_name, change, expected, reason) => {
    const r = readiness({ ...ok, ...change });
    expect(r.ok).toBe(expected);
    expect(r.reason).toMatch(reason);
  });
});

describe("Keeper loops", () => {
  test("the reconcile loop logs a repeated failure once, and again once it has changed", async () => {
    const s = await startKeeper("master");
    await until(s, "ready", () => s.keeper.health().ready.ok);
    s.kv.setAvailable(false);
    await s.pass(5000, 100);
    const reconcile = s.keeper.health().loops.find((l) => l.name === "reconcile")!;
    expect(reconcile.errors).toBeGreaterThan(2);
    const errors = s.lines.filter((l) => l.level === "error");
    expect(errors.map((l) => l.msg)).toEqual([expect.stringContaining("unavailable")]);
    const reportWarnings = s.lines.filter((l) => l.level === "warn" && l.msg.startsWith("cannot publish the keeper info"));
    expect(reportWarnings).toHaveLength(1);
    s.kv.setAvailable(true);
    await until(s, "a pass succeeds", () => s.keeper.health().loops.find((l) => l.name === "reconcile")!.lastError === "", 3000);
    s.kv.setAvailable(false);
    await s.pass(3000, 100);
    // A failure after a success is news again.
    expect(s.lines.filter((l) => l.level === "error")).toHaveLength(2);
  });

  test("the cluster data's watch wakes the reconcile loop long before its interval", async () => {
    const s = await startKeeper("master");
    await until(s, "ready", () => s.keeper.health().ready.ok);
    const v = (await s.store.getClusterData())!;
    v.clusterData.cluster.spec = { ...v.clusterData.cluster.spec, sleepInterval: "1h" };
    await s.store.putClusterData(v.clusterData, v.revision);
    await s.pass(2000);
    expect(s.keeper.figures().sleepIntervalMs).toBe(3_600_000);
    // A new generation of d1 (a spec change): converged to it without the clock moving at all.
    const w = (await s.store.getClusterData())!;
    w.clusterData.dbs.d1!.generation = 4;
    await s.store.putClusterData(w.clusterData, w.revision);
    const at = s.clock.now();
    await settle();
    expect(s.clock.now()).toBe(at);
    expect(loadDbState(s.dir)?.Generation).toBe(4);
    expect(s.keeper.status().converged).toBe(true);
  });
});

describe("Keeper reports (issue 23: liveness from the lease)", () => {
  test("a PostgreSQL left running by an earlier keeper process: the keeper reports while it stops it", async () => {
    const clock = new FakeClock(1_000_000);
    const kv = new MemoryBackend(clock);
    const store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
    const dir = mkdtempSync(join(tmpdir(), "keeper-unit-"));
    dirs.push(dir);
    saveDbState(dir, { UID: "d1", Generation: 3, Initializing: false, InitPGParameters: null, ClusterUID: CLUSTER_UID, SystemID: SYSTEM_ID, WasMaster: true });
    saveKeeperState(dir, { UID: "k1", ClusterUID: CLUSTER_UID });
    const cd: ClusterData = newClusterData(CLUSTER_UID, { initMode: "new" }, new Date());
    cd.cluster.status = { phase: "normal", master: "d1" };
    cd.keepers.k1 = { uid: "k1", generation: 1, changeTime: cd.changeTime, spec: {}, status: { healthy: true } };
    cd.dbs.d1 = makeDb("d1", { keeperUID: "k1", role: "master" });
    await store.putClusterData(cd, 0);
    const cfg = resolveKeeperConfig(
      { "cluster-name": "c1", "store-backend": "etcdv3", uid: "k1", "data-dir": dir, "pg-listen-address": "10.0.0.1", "pg-repl-username": "repl", "pg-repl-password": "r", "pg-su-password": "s" },
      {},
      { isRoot: false, currentUser: "alice", readFile: () => "" },
    );
    const pg = new FakePg(join(dir, "postgres"));
    pg.running = true;
    // The leftover postmaster takes its time to stop (a checkpoint): until the test says so.
    let release = () => {};
    const slowStop = new Promise<void>((r) => (release = r));
    pg.stop = async () => {
      pg.calls.push("stop");
      await slowStop;
      pg.running = false;
    };
    const { log } = collectingLog();
    const keeper = new Keeper(cfg, { uid: "k1", dataDir: dir, pg, binaryVersion: { Maj: 15, Min: 4 }, release() {} }, store, log, clock);
    const ac = new AbortController();
    const running = keeper.run(ac.signal);
    try {
      for (let i = 0; i < 20; i++) {
        await clock.advance(50);
        await settle();
      }
      expect(pg.calls).toEqual(["stop"]);
      const list = await store.getKeepersInfo();
      expect(list.items.k1?.clusterUID).toBe(CLUSTER_UID);
      // Renewed all along: the sentinel never reads this keeper as silent while it stops.
      expect(await store.leaseSilenceMs(list.leases.k1!)).toBe(0);
    } finally {
      release();
      ac.abort();
      let done = false;
      void running.finally(() => (done = true));
      for (let i = 0; i < 100 && !done; i++) {
        await clock.advance(100);
        await settle();
      }
      await running;
      await kv.close();
    }
  });

  test("an unchanged report renews the lease without a write; a change is written at once", async () => {
    const s = await startKeeper("master");
    await until(s, "ready", () => s.keeper.health().ready.ok);
    await s.pass(1000);
    const key = `${s.store.basePath}/keepers/info/k1`;
    const before = (await s.kv.get(key))!;
    await s.pass(3000, 100);
    const after = (await s.kv.get(key))!;
    // 15 report passes, no write: same revision, same infoUID, the lease alive and renewed.
    expect(after.modRevision).toBe(before.modRevision);
    expect(await s.store.leaseSilenceMs(after.lease)).toBe(0);
    s.pg.stateError = new Error("connection refused");
    await s.pass(3000, 100);
    const changed = (await published(s))!;
    expect(changed.postgresState?.healthy).toBe(false);
    expect(changed.infoUID).not.toBe(JSON.parse(before.value).infoUID);
  });
});

/** Changes the cluster view as the sentinel would (one compare-and-swap). */
async function edit(s: Setup, change: (cd: ClusterData) => void): Promise<void> {
  const v = (await s.store.getClusterData())!;
  change(v.clusterData);
  await s.store.putClusterData(v.clusterData, v.revision);
  await settle();
}

const published = async (s: Setup) => (await s.store.getKeepersInfo()).items.k1;

describe("Keeper and issue 17's planned operations", () => {
  const CKPT = 0x3000028;

  test("stop for a switchover: a fast shutdown, the checkpoint reported and kept down; the request gone (rollback): started again, nothing reported", async () => {
    const s = await startKeeper("master");
    await until(s, "ready", () => s.keeper.health().ready.ok);
    s.pg.control = { state: "shut down", cleanShutdown: true, checkpointLsn: CKPT, timelineID: 2 };
    await edit(s, (cd) => {
      cd.dbs.d1!.spec.stopForSwitchover = "sw1";
      cd.dbs.d1!.generation++;
    });
    let info = await published(s);
    for (let t = 0; t < 3000 && !info?.postgresState?.stoppedForSwitchover; t += 50) {
      await s.pass(50);
      info = await published(s);
    }
    expect(info?.postgresState?.stoppedForSwitchover).toEqual({ id: "sw1", lsn: CKPT });
    expect(s.pg.running).toBe(false);
    expect(s.keeper.status().stoppedForSwitchover).toBe("sw1");
    expect(s.lines.some((l) => /switchover sw1: stopping postgres \(fast shutdown\)/.test(l.msg))).toBe(true);
    // Many passes later: still down, still reported.
    await s.pass(3000, 100);
    expect(s.pg.running).toBe(false);
    expect((await published(s))?.postgresState?.stoppedForSwitchover).toEqual({ id: "sw1", lsn: CKPT });

    await edit(s, (cd) => {
      delete cd.dbs.d1!.spec.stopForSwitchover;
      cd.dbs.d1!.generation++;
    });
    await until(s, "started again", () => s.pg.running, 2000);
    await s.pass(1000);
    expect((await published(s))?.postgresState?.stoppedForSwitchover).toBeUndefined();
  });

  test("the switchover's target reports every 100 ms while the master stops, every 200 ms otherwise", async () => {
    const s = await startKeeper("standby");
    await until(s, "ready", () => s.keeper.health().ready.ok);
    const reports = () => s.keeper.health().loops.find((l) => l.name === "report")!.ticks;
    const count = async (ms: number) => {
      const before = reports();
      await s.pass(ms, 50);
      return reports() - before;
    };
    expect(await count(2000)).toBeLessThanOrEqual(11);
    const sw = (phase: "stopping" | "done") => (cd: ClusterData) => {
      cd.switchover = { id: "sw1", requestedAt: cd.changeTime, timeout: "30s", drainTimeout: "5s", phase, phaseTime: cd.changeTime, fromDb: "d0", toDb: "d1", steps: [] };
    };
    await edit(s, sw("stopping"));
    expect(await count(2000)).toBeGreaterThanOrEqual(15);
    await edit(s, sw("done"));
    await s.pass(200);
    expect(await count(2000)).toBeLessThanOrEqual(11);
  });

  test("paused: a master cut from etcd is not fenced and its watchdog is off; the pause ended: fenced, watchdog on", async () => {
    const s = await startKeeper("master");
    await until(s, "ready", () => s.keeper.health().ready.ok);
    expect(s.pg.watchdog).toBe(true);
    await edit(s, (cd) => {
      cd.pause = { since: new Date().toISOString(), until: new Date(Date.now() + 60_000).toISOString(), reason: "patching" };
    });
    await until(s, "the watchdog off", () => !s.pg.watchdog, 2000);
    s.kv.setAvailable(false);
    await s.pass(2 * FENCE_AFTER_MS, 100);
    expect(s.pg.fences).toBe(0);
    s.kv.setAvailable(true);
    await edit(s, (cd) => {
      cd.pause = null;
    });
    await until(s, "the watchdog on", () => s.pg.watchdog, 2000);
    s.kv.setAvailable(false);
    await s.pass(FENCE_AFTER_MS + 500, 100);
    expect(s.pg.fences).toBe(1);
  });

  test("--priority is in the keeper's info", async () => {
    const s = await startKeeper("master");
    await s.pass(1000);
    expect((await published(s))?.priority).toBe(1);
  });
});

describe("Keeper and issue 18's read-only port", () => {
  test("a standby publishes its replayed position (replayedXLogPos) beside its received one; a master publishes none", async () => {
    const standby = await startKeeper("standby");
    await until(standby, "ready", () => standby.keeper.health().ready.ok);
    await standby.pass(1000);
    expect((await published(standby))?.postgresState).toMatchObject({ uid: "d1", healthy: true, receivingWal: true, xLogPos: MASTER_POS, replayedXLogPos: REPLAY_POS });

    const master = await startKeeper("master");
    await until(master, "ready", () => master.keeper.health().ready.ok);
    await master.pass(1000);
    const ps = (await published(master))?.postgresState;
    expect(ps).toMatchObject({ uid: "d1", healthy: true, xLogPos: MASTER_POS });
    expect(ps && "replayedXLogPos" in ps).toBe(false);
  });
});
