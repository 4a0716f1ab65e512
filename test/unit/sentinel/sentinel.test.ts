/**
 * The Sentinel object on the in-memory store and a FakeClock: its election, its leader ticks and
 * what it counts. Keepers are scripted by writing their infos into the store, as real ones do.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { ConsolaReporter } from "consola";
import { masterDb, newClusterData, type ClusterData, type KeeperInfo } from "../../../src/cluster/index.ts";
import { FakeClock } from "../../../src/lib/clock.ts";
import { createLogger } from "../../../src/lib/log.ts";
import { Sentinel } from "../../../src/sentinel/sentinel.ts";
import { KvStore, MemoryBackend, type Election, type KvElection } from "../../../src/store/index.ts";
import { steadyCluster } from "../../harness/builders.ts";

const SLEEP_MS = 1000;
const FAIL_MS = 3000;

/** A store that counts the cluster-data writes and can run a step just before one (a concurrent writer). */
class ScriptedStore extends KvStore {
  writes: ClusterData[] = [];
  beforeNextPut: (() => Promise<void>) | null = null;
  /** Called at the start of every keeper-info read: the middle of a leader tick. */
  onKeepersRead: (() => void) | null = null;
  override async putClusterData(cd: ClusterData, prevRevision: number): Promise<number> {
    const step = this.beforeNextPut;
    this.beforeNextPut = null;
    if (step) await step();
    const rev = await super.putClusterData(cd, prevRevision);
    this.writes.push(structuredClone(cd));
    return rev;
  }
  override getKeepersInfo() {
    this.onKeepersRead?.();
    return super.getKeepersInfo();
  }
}

let n = 0;
/** What a keeper publishes for the db it holds in `cd` (a new infoUID each time: it is alive). */
function infoOf(cd: ClusterData, keeper: string, canBeMaster = true): KeeperInfo {
  // A keeper without a db yet (an initializing cluster) reports its address and nothing else.
  const d = Object.values(cd.dbs).find((x) => x.spec.keeperUID === keeper) ?? { uid: "", generation: 0, status: { timelineID: 0, xLogPos: 0 } };
  return {
    infoUID: `i${++n}`,
    uid: keeper,
    clusterUID: "c1",
    bootUUID: `boot-${keeper}`,
    postgresBinaryVersion: { Maj: 15, Min: 18 },
    canBeMaster,
    canBeSynchronousReplica: true,
    postgresState: {
      uid: d.uid,
      generation: d.generation,
      listenAddress: "127.0.0.1",
      port: "5432",
      healthy: true,
      systemID: "sys1",
      timelineID: d.status.timelineID ?? 1,
      xLogPos: d.status.xLogPos ?? 0,
      timelinesHistory: null,
      pgParameters: {},
      synchronousStandbys: null,
      olderWalFile: "000000010000000000000001",
    },
  } as KeeperInfo;
}

interface World {
  clock: FakeClock;
  kv: MemoryBackend;
  store: ScriptedStore;
  sentinel: Sentinel;
  logs: { level: string; msg: string }[];
  /** Stops the sentinel (SIGTERM's abort) and waits for it, the store left open. */
  halt: () => Promise<void>;
  stop: () => Promise<void>;
  /** Keepers that publish their info at every step. */
  alive: Set<string>;
  /** Keepers that say they cannot be master (--can-be-master false). */
  notMaster: Set<string>;
  /** Fields over a keeper's published info (a pitr restore's `init`...). */
  reports: Map<string, Partial<KeeperInfo>>;
  /** Advances the clock in steps of `stepMs`, the alive keepers publishing at each. */
  run: (ms: number, stepMs?: number) => Promise<void>;
  electionFor: () => Election;
}

let world: World | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

async function start(cd: ClusterData = steadyCluster({ sleepInterval: `${SLEEP_MS / 1000}s`, failInterval: `${FAIL_MS / 1000}s` })): Promise<World> {
  const clock = new FakeClock();
  const kv = new MemoryBackend(clock);
  const store = new ScriptedStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  await store.putClusterData(cd, 0);
  store.writes = [];
  const logs: { level: string; msg: string }[] = [];
  const reporter: ConsolaReporter = { log: (o) => void logs.push({ level: o.type, msg: o.args.map(String).join(" ") }) };
  const electionFor = () => store.sentinelElection(5000, clock);
  let u = 0;
  const sentinel = new Sentinel({ uid: "s1", store, election: electionFor(), log: createLogger("debug", [reporter]), clock, newUid: () => `u${++u}` });
  const ac = new AbortController();
  const alive = new Set(["k1", "k2"]);
  const notMaster = new Set<string>();
  const reports = new Map<string, Partial<KeeperInfo>>();
  const publish = async () => {
    const cur = (await store.getClusterData())!.clusterData;
    for (const k of alive) await store.setKeeperInfo({ ...infoOf(cur, k, !notMaster.has(k)), ...reports.get(k) }, 10_000);
  };
  await publish();
  const running = sentinel.run(ac.signal);
  const w: World = {
    clock,
    kv,
    store,
    sentinel,
    logs,
    alive,
    notMaster,
    reports,
    electionFor,
    run: async (ms, stepMs = 100) => {
      for (let t = 0; t < ms; t += stepMs) {
        await publish();
        await clock.advance(stepMs);
        for (let i = 0; i < 20; i++) await Promise.resolve();
      }
    },
    halt: async () => {
      ac.abort();
      // Less than the sentinel info's lease (10 s), so that its absence afterwards is the delete's.
      await clock.advance(1000);
      await running;
    },
    stop: async () => {
      await w.halt();
      await kv.close();
    },
  };
  world = w;
  return w;
}

const errors = (w: World) => w.logs.filter((l) => l.level === "error" || l.level === "fatal");

describe("Sentinel on the in-memory store", () => {
  test("a sentinel that stops deletes its info at once, not one info lease later", async () => {
    const w = await start();
    await w.run(500);
    expect(Object.keys((await w.store.getSentinelsInfo()).items)).toEqual(["s1"]);
    await w.halt();
    expect(Object.keys((await w.store.getSentinelsInfo()).items)).toEqual([]);
  });

  test("a lost compare-and-swap is no error: the leader decides again on fresh data and its write lands", async () => {
    const w = await start();
    await w.run(500);
    expect(w.sentinel.stats().isLeader).toBe(true);
    // The master's keeper stops: the next decision is to elect s. Just before that write, another
    // writer changes the cluster data (an operator's stolonctl), so the compare-and-swap is lost.
    let concurrent = false;
    w.store.beforeNextPut = async () => {
      const cur = (await w.store.getClusterData())!;
      cur.clusterData.cluster.spec.pgParameters = { work_mem: "8MB" };
      await w.store.putClusterData(cur.clusterData, cur.revision);
      concurrent = true;
    };
    w.alive.delete("k1");
    await w.store.deleteKeeperInfo("k1");
    await w.run(2000);
    expect(concurrent).toBe(true);
    // The concurrent write, then the sentinel's own, made on top of it.
    const mine = w.store.writes.slice(1);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((cd) => cd.cluster.spec.pgParameters?.work_mem === "8MB")).toBe(true);
    const now = (await w.store.getClusterData())!.clusterData;
    expect(now.cluster.status.master).toBe("s");
    expect(now.cluster.spec.pgParameters?.work_mem).toBe("8MB");
    expect(errors(w)).toEqual([]);
    expect(w.logs.filter((l) => l.level === "warn" && l.msg.includes("tick failed"))).toEqual([]);
    expect(w.logs.some((l) => l.level === "debug" && l.msg.includes("deciding again"))).toBe(true);
  });

  test("lost leadership mid-tick: no further write from this sentinel, is_leader 0, it campaigns again", async () => {
    const w = await start();
    await w.run(500);
    expect(w.sentinel.stats()).toMatchObject({ isLeader: true, leaderCount: 1 });
    // Another candidate waits behind; the leader's key goes away in the middle of a tick that
    // would write (the master's keeper stopped).
    let other: Awaited<ReturnType<KvElection["campaign"]>> | null = null;
    const otherCampaign = w.electionFor().campaign("s2", new AbortController().signal).then((l) => (other = l));
    await w.run(100);
    w.alive.delete("k1");
    await w.store.deleteKeeperInfo("k1");
    const writesBefore = w.store.writes.length;
    w.store.onKeepersRead = () => {
      w.store.onKeepersRead = null;
      void (async () => {
        const mine = (await w.kv.list(`${w.store.basePath}/sentinel-leader/`)).find((e) => e.value === "s1")!;
        await w.kv.delete(mine.key);
      })();
    };
    await w.run(3000);
    await otherCampaign;
    expect(other).not.toBeNull();
    expect(w.store.writes.length).toBe(writesBefore);
    expect(w.sentinel.stats().isLeader).toBe(false);
    expect(w.sentinel.health().details.leader).toBe(false);
    expect(w.logs.some((l) => l.level === "warn" && l.msg.includes("leadership lost"))).toBe(true);
    // It campaigns again: elected once the other resigns, with a new term.
    await other!.resign();
    await w.run(500);
    expect(w.sentinel.stats()).toMatchObject({ isLeader: true, leaderCount: 2 });
    expect(w.store.writes.length).toBeGreaterThan(writesBefore);
    expect((await w.store.getClusterData())!.clusterData.cluster.status.master).toBe("s");
  });

  test("a scripted master failure: one failover, its duration from the first tick that saw the master failed, decisions by kind", async () => {
    const w = await start();
    await w.run(1000);
    expect(w.sentinel.stats()).toMatchObject({ isLeader: true, leaderCount: 1, failovers: 0, keepersHealthy: 2, keepersUnhealthy: 0 });
    expect(w.sentinel.health().ready.ok).toBe(true);
    // k1 freezes: its info stays but stops changing, so the leader fails it after failInterval.
    // Its only standby cannot be master until 2 s after that: the failover waits for it.
    w.alive.delete("k1");
    w.notMaster.add("k2");
    const frozenAt = w.clock.now();
    let firstSeenFailed = 0;
    let electedAt = 0;
    for (let i = 0; i < 100 && electedAt === 0; i++) {
      await w.run(100);
      const cd = w.store.writes.at(-1);
      if (firstSeenFailed === 0 && cd?.keepers.k1?.status.healthy === false) firstSeenFailed = w.clock.now();
      if (firstSeenFailed !== 0 && w.clock.now() - firstSeenFailed >= 2000) w.notMaster.delete("k2");
      if (cd?.cluster.status.master === "s") electedAt = w.clock.now();
    }
    expect(firstSeenFailed).toBeGreaterThan(0);
    expect(electedAt).toBeGreaterThan(0);
    const st = w.sentinel.stats();
    expect(st.failovers).toBe(1);
    expect(st.keepersUnhealthy).toBe(1);
    expect(st.keepersHealthy).toBe(1);
    // The keeper is failed after failInterval without a change of its info; the failover is
    // timed from that tick (not from the freeze) to the write electing s.
    expect(firstSeenFailed - frozenAt).toBeGreaterThanOrEqual(FAIL_MS);
    expect(st.lastFailoverDurationMs).toBeGreaterThanOrEqual(2000);
    expect(Math.abs(st.lastFailoverDurationMs - (electedAt - firstSeenFailed))).toBeLessThanOrEqual(100);
    expect(st.lastFailoverWall).toBeGreaterThan(0);
    expect(st.decisions.master).toBe(1);
    expect(st.decisions.keepers).toBeGreaterThanOrEqual(1);
    expect(st.decisions.followers).toBeGreaterThanOrEqual(1);
    expect(st.decisions.proxy).toBeGreaterThanOrEqual(1);
  });

  test("ready while the store answers; not ready once it has not answered for two sleepIntervals; ready again when it does", async () => {
    const w = await start();
    await w.run(1500);
    expect(w.sentinel.health()).toMatchObject({ component: "sentinel", live: { ok: true }, ready: { ok: true } });
    w.kv.setAvailable(false);
    // Keepers cannot publish either: advance the clock alone.
    for (let t = 0; t < 2 * SLEEP_MS - 200; t += 100) await w.clock.advance(100);
    expect(w.sentinel.health().ready.ok).toBe(true);
    for (let t = 0; t < 1000; t += 100) await w.clock.advance(100);
    const down = w.sentinel.health();
    expect(down.ready.ok).toBe(false);
    expect(down.ready.reason).toContain("the store has not answered");
    expect(down.live.ok).toBe(true);
    w.kv.setAvailable(true);
    await w.run(1500);
    expect(w.sentinel.health().ready.ok).toBe(true);
  });
});

describe("Sentinel while the cluster is paused (issue 17)", () => {
  test("warns at most once a minute while paused, says when it ends, and never fails over", async () => {
    const cd = steadyCluster({ sleepInterval: `${SLEEP_MS / 1000}s`, failInterval: `${FAIL_MS / 1000}s` });
    cd.pause = { since: new Date().toISOString(), reason: "kernel update" };
    const w = await start(cd);
    const warnings = () => w.logs.filter((l) => l.level === "warn" && l.msg.includes("the cluster is paused since"));
    await w.run(500);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]!.msg).toContain("reason: kernel update");
    expect(w.sentinel.stats().paused).toBe(true);
    // The master's keeper goes away: no failover while paused.
    w.alive.delete("k1");
    await w.store.deleteKeeperInfo("k1");
    await w.run(30_000, 1000);
    expect(warnings()).toHaveLength(1);
    await w.run(31_000, 1000);
    expect(warnings()).toHaveLength(2);
    expect((await w.store.getClusterData())!.clusterData.cluster.status.master).toBe("m");
    // Resumed (stolonctl resume clears it): the failover follows, and the sentinel says it ended.
    const cur = (await w.store.getClusterData())!;
    delete cur.clusterData.pause;
    await w.store.putClusterData(cur.clusterData, cur.revision);
    await w.run(1000);
    expect((await w.store.getClusterData())!.clusterData.cluster.status.master).toBe("s");
    expect(w.logs.some((l) => l.level === "info" && l.msg.includes("no longer paused"))).toBe(true);
    expect(w.sentinel.stats().paused).toBe(false);
    expect(w.sentinel.stats().failovers).toBe(1);
  });
});

describe("Sentinel with a failed pitr restore (issue 19)", () => {
  test("the failure is logged as a warning once, though the cluster data stays as it is, and again when it changes", async () => {
    const spec = { initMode: "pitr" as const, sleepInterval: `${SLEEP_MS / 1000}s`, failInterval: `${FAIL_MS / 1000}s`, pitrConfig: { dataRestoreCommand: "restore-it %d" } };
    const w = await start(newClusterData("c1", spec, new Date()));
    // k1 restores: its PostgreSQL does not run yet.
    w.reports.set("k1", { postgresState: null });
    await w.run(1500);
    const first = (await w.store.getClusterData())!.clusterData;
    const db = masterDb(first)!;
    expect(db.spec).toMatchObject({ keeperUID: "k1", initMode: "pitr" });
    const failed = (since: string, output: string) => ({
      init: { dbUid: db.uid, phase: "failed" as const, since, detail: "dataRestoreCommand exited with code 1", output },
      postgresState: null,
    });
    w.reports.set("k1", failed("2026-12-01T12:00:00Z", "restore-it: no backup found\n"));
    await w.run(5000);
    const warnings = () => w.logs.filter((l) => l.level === "warn" && l.msg.startsWith("pitr restore of"));
    expect(warnings().map((l) => l.msg)).toEqual([expect.stringContaining('last output line: "restore-it: no backup found"')]);
    expect(w.logs.filter((l) => l.level === "warn" && l.msg.startsWith("the cluster stays initializing"))).toHaveLength(1);
    expect(masterDb((await w.store.getClusterData())!.clusterData)!.spec).toEqual(db.spec);
    w.reports.set("k1", failed("2026-12-01T12:05:00Z", "restore-it: still no backup\n"));
    await w.run(2000);
    expect(warnings()).toHaveLength(2);
  });
});
