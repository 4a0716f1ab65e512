/**
 * planKeeper's steps and desiredConfig's options object: what a caller of the steps relies on
 * (each step ends the pass or hands on, notes and warnings gathered in step order) and what the
 * one-options-object desiredConfig returns. The per-situation tables are in plan.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { desiredConfig, planKeeper } from "../../../src/keeper/plan.ts";
import { deepFreeze, empty, kinds, makeCd, makeDb, masterOnK2, settings, state, steady } from "./plan-builders.ts";

describe("desiredConfig({ cd, db, settings, ... }) -> { config, warnings }", () => {
  const bad = makeDb("d1", { keeperUID: "k1", pgParameters: { port: "1" }, pgHBA: ["a\nb"] });
  const cd = makeCd([bad]);

  test("the warnings come back with the config, in a new array per call", () => {
    const first = desiredConfig(deepFreeze({ cd, db: bad, settings }));
    const second = desiredConfig({ cd, db: bad, settings });
    expect(first.warnings).toEqual(["pgParameters port: managed by the keeper: ignored", 'pgHBA entry "a\\nb": contains a newline or NUL: ignored']);
    expect(second.warnings).toEqual(first.warnings);
    expect(second.warnings).not.toBe(first.warnings);
    expect("wait" in first.config).toBe(false);
  });

  test("omitted options mean: no init parameters, not fenced, not internal-only", () => {
    const master = makeDb("d1", { keeperUID: "k1" });
    const c = makeCd([master]);
    const explicit = desiredConfig({ cd: c, db: master, settings, initParameters: null, fenced: false, internalOnly: false });
    expect(desiredConfig({ cd: c, db: master, settings })).toEqual(explicit);
  });

  test.each([
    ["fenced", { fenced: true }],
    ["internal-only", { internalOnly: true }],
  ] as const)("%s changes a master's pg_hba.conf and not a standby's", (_what, mode) => {
    const master = makeDb("d2", { keeperUID: "k1" }, { status: { listenAddress: "10.0.0.2", port: "5432" } });
    const standby = makeDb("d1", { keeperUID: "k1", role: "standby", followConfig: { type: "internal", dbuid: "d2" } });
    const c = makeCd([master, standby]);
    const hba = (db: typeof master, o: object) => {
      const r = desiredConfig({ cd: c, db, settings, ...o }).config;
      return "wait" in r ? r.wait : r.hba;
    };
    expect(hba(master, mode)).not.toBe(hba(master, {}));
    expect(hba(standby, mode)).toBe(hba(standby, {}));
  });

  test("a config that cannot be built yet says why, with no warnings", () => {
    const orphan = makeDb("d1", { keeperUID: "k1", role: "standby", followConfig: { type: "internal", dbuid: "gone" } });
    expect(desiredConfig({ cd: makeCd([orphan]), db: orphan, settings })).toEqual({
      config: { wait: "db d1 is a standby but its followConfig names no known db" },
      warnings: [],
    });
  });
});

describe("planKeeper: init per mode", () => {
  // The modes are looked up in a table: a mode that is a property every object inherits must
  // not be taken for a step.
  test.each(["constructor", "toString", "__proto__", "hasOwnProperty", "none"])("initMode %p is no init step: refuse to guess", (mode) => {
    const db = makeDb("d1", { keeperUID: "k1", initMode: mode as "none" });
    const p = planKeeper({ cd: makeCd([db]), settings, local: empty });
    expect(kinds(p)).toEqual([]);
    expect(p.notes).toEqual([`db d1 is assigned with initMode ${mode} but this data dir holds no db: refusing to guess; the sentinel must assign a db to resync`]);
  });

  test("a known mode hands its step the db and the config: existing takes over the local data", () => {
    const db = makeDb("d1", { keeperUID: "k1", initMode: "existing" });
    const p = planKeeper({ cd: makeCd([db]), settings, local: { ...empty, initialized: true, dbState: state("other") } });
    expect(kinds(p)).toEqual(["init-existing"]);
  });
});

describe("planKeeper: notes and warnings in step order", () => {
  test("the sync-master gate speaks before the start, and its flag comes first", () => {
    const sync = makeDb("d1", { keeperUID: "k1", synchronousReplication: true, synchronousStandbys: ["d2"] });
    const cd = makeCd([sync]);
    const p = planKeeper({ cd, settings, local: steady(cd, sync, { running: false }) });
    expect(kinds(p)).toEqual(["set-internal-only", "write-config", "start"]);
    expect(p.notes).toEqual([
      "db d1 is a synchronous master starting again: only the superuser and replication may connect until its synchronous standbys are in sync",
      "db d1 is master and postgres is not running: starting it",
    ]);
  });

  test("the view's warnings come before the steady state's", () => {
    const bad = makeDb("d1", { keeperUID: "k1", pgParameters: { port: "1" } });
    const cd = makeCd([bad]);
    const p = planKeeper({ cd, settings, local: steady(cd, bad, { pendingRestart: ["shared_buffers"] }) });
    expect(p.warnings).toEqual([
      "pgParameters port: managed by the keeper: ignored",
      "parameters shared_buffers need a restart to take effect (automaticPgRestart is off)",
    ]);
  });

  test("a standby to be promoted while stopped starts first and promotes on the next pass", () => {
    const db = makeDb("d1", { keeperUID: "k1", followers: [] });
    const cd = makeCd([db, masterOnK2()]);
    const stopped = planKeeper({ cd, settings, local: steady(cd, db, { standbySignal: true, running: false }) });
    expect(kinds(stopped)).toEqual(["start"]);
    const running = planKeeper({ cd, settings, local: steady(cd, db, { standbySignal: true }) });
    expect(kinds(running).at(-1)).toBe("promote");
  });
});
