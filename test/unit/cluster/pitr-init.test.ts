/**
 * decide() for initMode pitr (src/cluster/pitr-init.ts): the first db on a keeper chosen as for
 * `new`, the wait for its restore (bounded by syncTimeout), the keeper's reported failure with and
 * without pitrConfig.retryOnOtherKeeper, and the standby cluster's first db (the standby leader).
 * Each case is a story of ticks: the cluster data one tick writes is what the next one reads, and
 * the keepers' reports are stated per tick. Inputs are deep-frozen.
 */
import { describe, expect, test } from "bun:test";
import {
  decide,
  freshMemory,
  type ClusterData,
  type ClusterSpec,
  type DecideOutput,
  type KeeperInfo,
  type KeeperInit,
  type KeeperStatus,
  type PostgresState,
  type SentinelMemory,
} from "../../../src/cluster/index.ts";
import { deepFreeze, makeClusterData, makeKeeper } from "../../harness/builders.ts";
import { keeperInfoFor } from "../../harness/info-builders.ts";
import { NOW, WALL, at, notes } from "./planned-builders.ts";
import { PITR, STANDBY } from "./dr-builders.ts";

const RETRY: ClusterSpec = { ...PITR, pitrConfig: { ...PITR.pitrConfig, retryOnOtherKeeper: true } };

/** An initializing cluster c1 with healthy keepers (status overrides per keeper) and no db yet. */
function initializing(spec: ClusterSpec, keepers: Record<string, Partial<KeeperStatus>> = { k1: {}, k2: {}, k3: {} }): ClusterData {
  const cd = makeClusterData("c1", spec);
  cd.changeTime = cd.cluster.changeTime = cd.proxy.changeTime = "";
  cd.cluster.status.phase = "initializing";
  cd.keepers = Object.fromEntries(Object.entries(keepers).map(([k, s]) => [k, makeKeeper(k, { lastHealthyTime: at(0), ...s })]));
  return deepFreeze(cd);
}

/** What one keeper reports: its info fields, its PostgreSQL state, or no info at all. */
type Report = { init?: KeeperInit; pg?: Partial<PostgresState>; missing?: boolean; canBeMaster?: boolean; priority?: number };

/** A restore that failed, as the keeper reports it. */
const failure = (dbUid: string, output = "tar: /backup/base.tar: Cannot open: No such file or directory\ntar: Error is not recoverable: exiting now\n"): KeeperInit => ({
  dbUid,
  phase: "failed",
  since: at(-2000),
  detail: "dataRestoreCommand exited with code 2",
  output,
});

/** Not running yet (restoring): no db state. */
const DOWN: Partial<PostgresState> = { uid: "", generation: 0, healthy: false };

/** What the sentinel decided, without what keepers report: the cluster's status and each db's generation and spec. */
const decided = (cd: ClusterData) => ({
  status: cd.cluster.status,
  dbs: Object.fromEntries(Object.values(cd.dbs).map((d) => [d.uid, { generation: d.generation, spec: d.spec }])),
});

/** The ticks of one story: the cluster data and memory carried from tick to tick; fresh infos on every tick. */
class Story {
  n = 0;
  memory: SentinelMemory = freshMemory();
  last!: DecideOutput;
  constructor(public cd: ClusterData) {}

  tick(reports: Record<string, Report> = {}, o: { afterMs?: number; spec?: ClusterSpec } = {}): DecideOutput {
    const tick = ++this.n;
    let cd = this.cd;
    if (o.spec) cd = deepFreeze({ ...structuredClone(cd), cluster: { ...structuredClone(cd.cluster), spec: o.spec } });
    const infos: Record<string, KeeperInfo> = {};
    for (const k of Object.keys(cd.keepers)) {
      const { init, pg, missing, canBeMaster, priority } = reports[k] ?? {};
      if (missing) continue;
      const extra = { ...(init ? { init } : {}), ...(priority !== undefined ? { priority } : {}) };
      infos[k] = keeperInfoFor(cd, k, { infoUID: `i-${k}-${tick}`, canBeMaster: canBeMaster ?? true, pg, ...extra });
    }
    let u = 0;
    this.last = decide({
      clusterData: cd,
      keepersInfo: deepFreeze(infos),
      proxiesInfo: {},
      memory: deepFreeze(this.memory),
      now: NOW + (o.afterMs ?? tick * 1000),
      wallNow: WALL + (o.afterMs ?? tick * 1000),
      sentinelUID: "s1",
      newUid: () => `d${tick}${String.fromCharCode(96 + ++u)}`,
    });
    this.cd = deepFreeze(this.last.clusterData);
    this.memory = this.last.memory;
    return this.last;
  }

  get master() {
    const uid = this.cd.cluster.status.master;
    return uid ? this.cd.dbs[uid] : undefined;
  }
}

describe("initMode pitr: the first db", () => {
  test("a healthy keeper gets it: initMode pitr, the spec's pitrConfig without retryOnOtherKeeper, role master", () => {
    const s = new Story(initializing(RETRY));
    const r = s.tick();
    expect(r.change).toBe("decision");
    expect(Object.keys(s.cd.dbs)).toEqual(["d1a"]);
    expect(s.cd.cluster.status).toEqual({ phase: "initializing", master: "d1a" });
    expect(s.master!.spec).toMatchObject({ keeperUID: "k1", initMode: "pitr", role: "master", followConfig: null, includePreviousConfig: true, synchronousReplication: false });
    expect(s.master!.spec.pitrConfig).toEqual(PITR.pitrConfig!);
    expect(notes(r)).toContain("db d1a on keeper k1 will be restored (dataRestoreCommand) and become the first master");
  });

  const choice: [string, Record<string, Report>, string | null][] = [
    ["the lowest healthy uid", {}, "k1"],
    ["not a keeper without a report", { k1: { missing: true } }, "k2"],
    ["not one that may not be master", { k1: { canBeMaster: false } }, "k2"],
    ["not one of priority 0", { k1: { priority: 0 } }, "k2"],
    ["none: no keeper fits", { k1: { missing: true }, k2: { canBeMaster: false }, k3: { missing: true } }, null],
  ];
  test.each(choice)("keeper choice: %s", (_name, reports, want) => {
    const s = new Story(initializing(PITR));
    const r = s.tick(reports);
    expect(s.master?.spec.keeperUID ?? null).toBe(want);
    if (want === null) expect(notes(r)).toContain("no healthy keeper that can be master yet: waiting");
  });

  test("keeper choice: none without any keeper", () => {
    const s = new Story(initializing(PITR, {}));
    expect(notes(s.tick())).toContain("no healthy keeper that can be master yet: waiting");
    expect(s.cd.dbs).toEqual({});
  });

  test("a standby cluster: the db is the standby leader, role standby following the external source, with the master's extra slots", () => {
    const s = new Story(initializing({ ...STANDBY, additionalMasterReplicationSlots: ["downstream"], synchronousReplication: true }));
    const r = s.tick();
    expect(s.master!.spec).toMatchObject({
      keeperUID: "k1",
      initMode: "pitr",
      role: "standby",
      pitrConfig: { dataRestoreCommand: "pg_basebackup -D %d -h source" },
      followConfig: { type: "external", standbySettings: STANDBY.standbyConfig!.standbySettings, archiveRecoverySettings: STANDBY.standbyConfig!.archiveRecoverySettings },
      additionalReplicationSlots: ["downstream"],
      synchronousReplication: false,
    });
    expect(notes(r)).toContain("will be restored (dataRestoreCommand) and become the standby leader");
  });
});

describe("initMode pitr: waiting for the restore", () => {
  test("restoring, then recovering: nothing decided, the keeper's progress in the notes", () => {
    const s = new Story(initializing(PITR));
    s.tick();
    const before = decided(s.cd);
    const restoring = s.tick({ k1: { pg: DOWN, init: { dbUid: "d1a", phase: "restoring", since: at(500), detail: "running dataRestoreCommand" } } });
    expect(decided(s.cd)).toEqual(before);
    expect(notes(restoring)).toContain(`waiting for db d1a (keeper k1): restoring since ${at(500)}: "running dataRestoreCommand"`);
    const recovering = s.tick({
      k1: { pg: DOWN, init: { dbUid: "d1a", phase: "recovering", since: at(2500), detail: "archive recovery to the target", replayedXLogPos: 50_331_648, lastReplayTime: "2026-12-01T10:59:58Z" } },
    });
    expect(decided(s.cd)).toEqual(before);
    expect(notes(recovering)).toContain("recovering since");
    expect(notes(recovering)).toContain("replayed to 0/3000000, last replayed transaction 2026-12-01T10:59:58Z");
    expect(s.master!.uid).toBe("d1a");
  });

  test("converged and healthy: phase normal, initMode none, the restored parameters merged; then the other keepers join as standbys", () => {
    const s = new Story(initializing(PITR));
    s.tick();
    const pg = { generation: 1, healthy: true, systemID: "7400000000000000001", timelineID: 2, xLogPos: 60_000_000, pgParameters: { max_connections: "200" } };
    const r = s.tick({ k1: { pg } });
    expect(s.cd.cluster.status.phase).toBe("normal");
    expect(s.master!.spec).toMatchObject({ initMode: "none", includePreviousConfig: false, role: "master", pgParameters: { max_connections: "200" } });
    expect(s.cd.cluster.spec.pgParameters).toEqual({ max_connections: "200" });
    expect(notes(r)).toContain("db d1a on keeper k1 is restored: the cluster is ready (phase normal)");
    // The next ticks: the master converges to its new generation; free keepers get standbys that resync from it.
    s.tick({ k1: { pg: { ...pg, generation: 2 } } });
    const standbys = Object.values(s.cd.dbs).filter((d) => d.uid !== "d1a");
    expect(standbys.map((d) => [d.spec.keeperUID, d.spec.initMode, d.spec.role, d.spec.followConfig]).sort()).toEqual([
      ["k2", "resync", "standby", { type: "internal", dbuid: "d1a" }],
      ["k3", "resync", "standby", { type: "internal", dbuid: "d1a" }],
    ]);
  });

  test("a standby cluster's leader converged: phase normal, it stays a standby of the source; its standbys follow it", () => {
    const s = new Story(initializing(STANDBY));
    s.tick();
    const pg = { generation: 1, healthy: true, systemID: "7400000000000000001", timelineID: 1, xLogPos: 60_000_000, receivingWal: true };
    const r = s.tick({ k1: { pg } });
    expect(s.cd.cluster.status.phase).toBe("normal");
    expect(notes(r)).toContain("the standby cluster is ready");
    s.tick({ k1: { pg: { ...pg, generation: 2 } } });
    expect(s.master!.spec).toMatchObject({ role: "standby", followConfig: { type: "external", standbySettings: STANDBY.standbyConfig!.standbySettings } });
    const followers = Object.values(s.cd.dbs).filter((d) => d.uid !== s.master!.uid);
    expect(followers.map((d) => d.spec.followConfig)).toEqual([
      { type: "internal", dbuid: "d1a" },
      { type: "internal", dbuid: "d1a" },
    ]);
  });

  test("syncTimeout: a restore not done in time is tried again on another keeper; 0 waits forever", () => {
    const s = new Story(initializing({ ...PITR, syncTimeout: "10m" }));
    s.tick();
    const before = decided(s.cd);
    s.tick({ k1: { pg: DOWN } }, { afterMs: 599_000 });
    expect(decided(s.cd)).toEqual(before);
    const late = s.tick({ k1: { pg: DOWN } }, { afterMs: 602_000 });
    expect(notes(late)).toContain("db d1a (keeper k1) did not finish its pitr restore and recovery within syncTimeout 10m: trying again");
    expect(Object.keys(s.cd.dbs)).toEqual(["d3a"]);
    expect(s.master!.spec.keeperUID).toBe("k2");

    const forever = new Story(initializing(PITR));
    forever.tick();
    const first = decided(forever.cd);
    forever.tick({ k1: { pg: DOWN } }, { afterMs: 30 * 24 * 3600_000 });
    expect(decided(forever.cd)).toEqual(first);
  });

  test("pitrConfig changed by stolonctl update while initializing: the db is replaced, with the new settings", () => {
    const s = new Story(initializing(PITR));
    s.tick();
    const spec = { ...PITR, pitrConfig: { ...PITR.pitrConfig, dataRestoreCommand: "tar -xf /backup2/base.tar -C %d" } };
    const r = s.tick({ k1: { pg: DOWN, init: failure("d1a") } }, { spec });
    expect(notes(r)).toContain("pitrConfig changed while db d1a (keeper k1) was initializing");
    expect(Object.keys(s.cd.dbs)).toEqual(["d2a"]);
    expect(s.master!.spec.pitrConfig!.dataRestoreCommand).toBe("tar -xf /backup2/base.tar -C %d");
    // The same settings written with nulls for unset fields (as a stolon sentinel may store them) are no change.
    const nulls = new Story(initializing(STANDBY));
    nulls.tick();
    const stored = structuredClone(nulls.cd);
    Object.assign(stored.dbs.d1a!.spec.pitrConfig!, { archiveRecoverySettings: null, recoveryTargetSettings: null });
    nulls.cd = deepFreeze(stored);
    const waiting = nulls.tick({ k1: { pg: DOWN } });
    expect(notes(waiting)).toContain("waiting for db d1a (keeper k1) to restore and recover");
    expect(nulls.master!.uid).toBe("d1a");
    // retryOnOtherKeeper alone is not part of the db's config: turning it on replaces nothing.
    const same = new Story(initializing(PITR));
    same.tick();
    same.tick({ k1: { pg: DOWN } }, { spec: RETRY });
    expect(same.master!.uid).toBe("d1a");
  });
});

describe("initMode pitr: a failed restore", () => {
  test("without retryOnOtherKeeper: nothing changes, the failure and its output's last line in the notes", () => {
    const s = new Story(initializing({ ...PITR, syncTimeout: "1m" }));
    s.tick();
    const before = decided(s.cd);
    const r = s.tick({ k1: { pg: DOWN, init: failure("d1a") } }, { afterMs: 120_000 });
    expect(decided(s.cd)).toEqual(before);
    // The next tick the same: nothing to write.
    expect(s.tick({ k1: { pg: DOWN, init: failure("d1a") } }, { afterMs: 121_000 }).change).not.toBe("decision");
    expect(notes(r)).toContain(
      `pitr restore of db d1a (keeper k1) failed (since ${at(-2000)}): "dataRestoreCommand exited with code 2"; last output line: "tar: Error is not recoverable: exiting now"`,
    );
    expect(notes(r)).toContain("the cluster stays initializing until an operator acts");
    expect(notes(r)).not.toContain("syncTimeout");
  });

  test("a failure reported for another db (an earlier attempt) or another cluster is not this db's", () => {
    const s = new Story(initializing(PITR));
    s.tick();
    const stale = s.tick({ k1: { pg: DOWN, init: failure("d0x") } });
    expect(notes(stale)).not.toContain("failed");
    expect(notes(stale)).toContain("waiting for db d1a (keeper k1) to restore and recover");
  });

  test("with retryOnOtherKeeper: each keeper tried once, then the cluster waits and says so", () => {
    const s = new Story(initializing(RETRY));
    s.tick();
    const r1 = s.tick({ k1: { pg: DOWN, init: failure("d1a") } });
    expect(notes(r1)).toContain("db d1a (keeper k1) removed: the restore is tried on another keeper (pitrConfig.retryOnOtherKeeper)");
    expect(Object.keys(s.cd.dbs)).toEqual(["d2a"]);
    expect(s.master!.spec).toMatchObject({ keeperUID: "k2", initMode: "pitr" });
    s.tick({ k1: { pg: DOWN, init: failure("d1a") }, k2: { pg: DOWN, init: failure("d2a") } });
    expect(s.master!.spec.keeperUID).toBe("k3");
    const r3 = s.tick({ k1: { pg: DOWN, init: failure("d1a") }, k2: { pg: DOWN, init: failure("d2a") }, k3: { pg: DOWN, init: failure("d3a") } });
    expect(s.cd.dbs).toEqual({});
    expect(s.cd.cluster.status.master).toBeUndefined();
    expect(notes(r3)).toContain("every healthy keeper that can be master already failed the pitr restore (k1, k2, k3): waiting for another keeper");
    // A keeper that joins later is tried.
    const joined = deepFreeze({ ...structuredClone(s.cd), keepers: { ...structuredClone(s.cd.keepers), k4: makeKeeper("k4", { lastHealthyTime: at(0) }) } });
    s.cd = joined;
    s.tick({ k1: { pg: DOWN }, k2: { pg: DOWN }, k3: { pg: DOWN } });
    expect(s.master!.spec.keeperUID).toBe("k4");
  });

  test("another cluster (stolonctl init again) starts with no keeper tried", () => {
    const s = new Story(initializing(RETRY, { k1: {} }));
    s.tick();
    s.tick({ k1: { pg: DOWN, init: failure("d1a") } });
    expect(s.cd.dbs).toEqual({});
    const again = new Story(deepFreeze({ ...initializing(RETRY, { k1: {} }), cluster: { ...structuredClone(initializing(RETRY).cluster), uid: "c2" } }));
    again.memory = s.memory;
    again.tick();
    expect(again.master!.spec.keeperUID).toBe("k1");
  });

  test("a hostile report is quoted on one line and cut short", () => {
    const s = new Story(initializing(PITR));
    s.tick();
    const init = { ...failure("d1a", `ok\n\u001b[2J${"x".repeat(3000)}\n`), detail: `exit 1\n\u001b]0;owned\u0007${"y".repeat(1000)}` };
    const r = s.tick({ k1: { pg: DOWN, init } });
    const line = r.notes.find((n) => n.startsWith("pitr restore"))!;
    expect(line).not.toMatch(/[\u0000-\u001f]/);
    expect(line.length).toBeLessThan(800);
  });
});
