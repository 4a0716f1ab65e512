/**
 * planKeeper and issue 17's planned operations, table-driven: the master's stop for a switchover
 * (DBSpec.stopForSwitchover) and the position it reports, the rollback, the old master following
 * the new one without a copy, and a keeper restart while the cluster is paused.
 */
import { describe, expect, test } from "bun:test";
import type { DB } from "../../../src/cluster/index.ts";
import { planKeeper, type LocalObservation } from "../../../src/keeper/plan.ts";
import type { ControlData } from "../../../src/postgres/control-data.ts";
import { deepFreeze, kinds, makeCd, makeDb, settings, state, steady } from "./plan-builders.ts";

const SW = "sw1";
const CKPT = 0x3000028;

const clean = (o: Partial<ControlData> = {}): ControlData => ({ state: "shut down", cleanShutdown: true, checkpointLsn: CKPT, timelineID: 1, ...o });
const crashed: ControlData = { state: "in production", cleanShutdown: false, checkpointLsn: 0x2000060, timelineID: 1 };

/** The master d1 on this keeper (k1), with the switchover's stop request when `stop` is given. */
const master = (stop?: string) => makeDb("d1", { keeperUID: "k1", role: "master", ...(stop !== undefined ? { stopForSwitchover: stop } : {}) });

describe("planKeeper: the master's stop for a switchover", () => {
  const sw = master(SW);
  const cd = makeCd([sw]);
  const stopped = (o: Partial<LocalObservation>) => steady(cd, sw, { running: false, ...o });

  test.each<[string, Partial<LocalObservation>, string[], { id: string; lsn: number } | null, RegExp]>([
    ["running: a fast shutdown", {}, ["stop-for-switchover"], null, /switchover sw1: stopping postgres of master db d1 \(fast shutdown\)/],
    ["stopped cleanly: stays down and reports the checkpoint", { running: false, control: clean() }, [], { id: SW, lsn: CKPT }, /stopped cleanly, shutdown checkpoint at 0\/3000028 \(timeline 1\); it stays down/],
    ["stopped but not cleanly: stays down, nothing to report", { running: false, control: crashed }, [], null, /last stop was not clean \(pg_control: "in production"\)/],
    ["stopped, pg_control unreadable: stays down, nothing to report", { running: false, control: null }, [], null, /pg_control could not be read/],
    ["stopped with standby.signal: not a primary's stop", { running: false, standbySignal: true, control: clean() }, [], null, /standby\.signal/],
  ])("%s", (_, o, want, report, note) => {
    const p = planKeeper({ cd, settings, local: o.running === false ? stopped(o) : steady(cd, sw, o) });
    expect(kinds(p) as string[]).toEqual(want);
    expect(p.stoppedForSwitchover).toEqual(report);
    expect(p.notes.join(" ")).toMatch(note);
  });

  test("never a start while the request is set, even with a changed configuration or the sync gate", () => {
    const sync = makeDb("d1", { keeperUID: "k1", role: "master", stopForSwitchover: SW, synchronousReplication: true, synchronousStandbys: ["d2"] });
    const c = makeCd([sync]);
    const p = planKeeper({ cd: c, settings, local: steady(c, sync, { running: false, postgresqlConf: "old", control: clean() }) });
    expect(kinds(p)).toEqual([]);
    expect(p.stoppedForSwitchover).toEqual({ id: SW, lsn: CKPT });
  });

  test("rollback: the request is gone while the db is still master: started again as master, nothing reported", () => {
    const back = master();
    const c = makeCd([back]);
    const p = planKeeper({ cd: c, settings, local: steady(c, back, { running: false, control: clean() }) });
    expect(kinds(p)).toEqual(["start"]);
    expect(p.stoppedForSwitchover).toBeNull();
  });

  test("no switchover: a running master plans no stop and reports nothing", () => {
    const m = master();
    const c = makeCd([m]);
    const p = planKeeper({ cd: c, settings, local: steady(c, m) });
    expect(kinds(p)).not.toContain("stop-for-switchover");
    expect(p.stoppedForSwitchover).toBeNull();
  });
});

describe("planKeeper: the old master follows the new one after a switchover", () => {
  /** d1 (this keeper, the old master, same db uid) made a standby of d2, the promoted target. */
  const setup = (newMaster: Partial<DB["status"]>, o: { usePgrewind?: boolean } = {}) => {
    const d2 = makeDb("d2", { keeperUID: "k2", role: "master", followers: ["d1"] }, { status: { listenAddress: "10.0.0.2", port: "5432", systemdID: "777", ...newMaster } });
    const d1 = makeDb("d1", { keeperUID: "k1", role: "standby", followConfig: { type: "internal", dbuid: "d2" }, usePgrewind: o.usePgrewind ?? false });
    const cd = makeCd([d1, d2], { master: "d2" });
    // The data of the old master: stopped, no standby.signal, dbstate says it ran as a master.
    const local = (control: ControlData | null) =>
      steady(cd, d1, { running: false, standbySignal: false, dbState: state("d1", 1, { WasMaster: true }), control });
    return { cd, local };
  };
  const promoted = { timelineID: 2, timelinesHistory: [{ timelineID: 1, switchPoint: CKPT + 0x98 }] };

  test("clean stop, the new timeline forked after its checkpoint: started as a standby, no pg_rewind, no copy, WasMaster forgotten", () => {
    const { cd, local } = setup(promoted);
    const p = planKeeper({ cd, settings, local: local(clean()) });
    expect(kinds(p)).toEqual(["forget-was-master", "write-config", "start"]);
    const w = p.actions[1]!;
    expect(w.kind === "write-config" && w.config.standby).toBe(true);
    expect(p.notes.join(" ")).toMatch(/stopped cleanly at 0\/3000028 on timeline 1\) follows db d2, whose timeline 2 forked off at 0\/30000C0, after this node's last record: starting it as a standby, no pg_rewind and no copy needed/);
  });

  test("the new master has not reported its new timeline yet: waits, nothing started", () => {
    const { cd, local } = setup({ timelineID: 1, timelinesHistory: [] });
    const p = planKeeper({ cd, settings, local: local(clean()) });
    expect(kinds(p)).toEqual([]);
    expect(p.notes.join(" ")).toMatch(/which has not reported a newer timeline yet: waiting for its promotion/);
  });

  test.each([
    ["the fork is at the checkpoint (its record was not received)", [{ timelineID: 1, switchPoint: CKPT }], /forked off at 0\/3000028, before this node's last record/],
    ["its timeline is not in the new master's history", [{ timelineID: 3, switchPoint: CKPT + 0x1000 }], /timeline 1 is not in its history/],
  ])("%s: never a plain start; pg_rewind when allowed, else the operator decides (no copy of a former master's data)", (_, history, why) => {
    const withRewind = setup({ timelineID: 2, timelinesHistory: history }, { usePgrewind: true });
    const p = planKeeper({ cd: withRewind.cd, settings, local: withRewind.local(clean()) });
    expect(p.notes.join(" ")).toMatch(why);
    expect(kinds(p)).toEqual(["resync"]);
    const a = p.actions[0]!;
    expect(a.kind === "resync" && a.rewind && !a.copy).toBe(true);

    const noRewind = setup({ timelineID: 2, timelinesHistory: history });
    const q = planKeeper({ cd: noRewind.cd, settings, local: noRewind.local(clean()) });
    expect(kinds(q)).toEqual([]);
    expect(q.notes.join(" ")).toMatch(/refuses a full copy for db d1.*stolonctl confirm-wipe k1/);
  });

  test("a stop that was not clean, or pg_control unknown: the plain start as a standby of before issue 17", () => {
    const { cd, local } = setup(promoted);
    for (const c of [crashed, null]) {
      const p = planKeeper({ cd, settings, local: local(c) });
      expect(kinds(p)).toEqual(["write-config", "start"]);
      expect(p.notes.join(" ")).toMatch(/is a standby and postgres is not running: starting it/);
    }
  });
});

describe("planKeeper: a keeper restart while the cluster is paused", () => {
  const m = master();
  const cd = makeCd([m], { keepers: { k1: "old-boot" } });

  test.each([
    ["paused: the running instance keeps running while the sentinel learns this keeper process", true, [], /the cluster is paused, so postgres keeps running as it is/],
    ["not paused: stopped until then, as before", false, ["stop"], /waiting for the sentinel/],
  ] as const)("%s", (_, paused, want, note) => {
    const p = planKeeper({ cd, settings, local: deepFreeze({ ...steady(makeCd([m]), m), paused }) });
    expect(kinds(p)).toEqual([...want]);
    expect(p.notes.join(" ")).toMatch(note);
  });
});
