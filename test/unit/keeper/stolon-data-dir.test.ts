/**
 * A data dir last used by stolon's keeper (v0.17): its keeperstate and dbstate as Go's
 * encoding/json writes them, its fcntl lock, and what planKeeper does with its PostgreSQL as stolon
 * left it (stopped on SIGTERM, with stolon's own postgresql.conf and pg_hba.conf): it adopts it as
 * it is, no initdb, no copy, no rewind. The integration story is test/integration/takeover*.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDbState, loadKeeperState, lockDataDir } from "../../../src/keeper/local-state.ts";
import { planKeeper } from "../../../src/keeper/plan.ts";
import { fcntlLockFree, holdFcntlLock } from "../../harness/fcntl-lock.ts";
import { deepFreeze, empty, kinds, makeCd, makeDb, settings } from "./plan-builders.ts";

const dir = mkdtempSync(join(tmpdir(), "stolon-test-stolon-dir-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The files exactly as stolon's keeper writes them (KeeperLocalState, DBLocalState; no spaces, Go field names). */
const STOLON_FILES = {
  keeperstate: '{"UID":"a1b2c3d4","ClusterUID":"5c1d2e3f"}',
  dbstateNull: '{"UID":"0d1e2f3a","Generation":7,"Initializing":false,"InitPGParameters":null}',
  dbstateParams: '{"UID":"0d1e2f3a","Generation":1,"Initializing":false,"InitPGParameters":{"max_connections":"100","shared_buffers":"128MB"}}',
  dbstateInitializing: '{"UID":"0d1e2f3a","Generation":1,"Initializing":true,"InitPGParameters":null}',
};

function dataDir(files: Record<string, string>): string {
  const d = mkdtempSync(join(dir, "dd-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text, { mode: 0o600 });
  return d;
}

describe("stolon's state files", () => {
  test.each([
    ["InitPGParameters null", STOLON_FILES.dbstateNull, { UID: "0d1e2f3a", Generation: 7, Initializing: false, InitPGParameters: null }],
    [
      "InitPGParameters from initdb",
      STOLON_FILES.dbstateParams,
      { UID: "0d1e2f3a", Generation: 1, Initializing: false, InitPGParameters: { max_connections: "100", shared_buffers: "128MB" } },
    ],
    ["an init that did not finish", STOLON_FILES.dbstateInitializing, { UID: "0d1e2f3a", Generation: 1, Initializing: true, InitPGParameters: null }],
  ] as const)("dbstate with %s loads as it is, nothing added", (_, text, want) => {
    const d = dataDir({ keeperstate: STOLON_FILES.keeperstate, dbstate: text });
    expect(loadKeeperState(d)).toEqual({ UID: "a1b2c3d4", ClusterUID: "5c1d2e3f" });
    expect(loadDbState(d)).toEqual(want);
  });
});

describe("the data dir lock against stolon's keeper", () => {
  test("a data dir stolon's keeper still runs on is refused, naming it; free once it stopped", async () => {
    const d = dataDir({ keeperstate: STOLON_FILES.keeperstate });
    const held = await holdFcntlLock(join(d, "lock"));
    expect(() => lockDataDir(d)).toThrow(/locked by another process \(an fcntl lock .*, as stolon's keeper takes\): stop stolon's keeper/);
    await held.release();
    const ours = lockDataDir(d);
    ours.release();
  });

  test("while our keeper runs, stolon's keeper cannot take the data dir (a rollback must stop ours first)", () => {
    const d = dataDir({});
    const ours = lockDataDir(d);
    expect(fcntlLockFree(join(d, "lock"))).toBe(false);
    ours.release();
    expect(fcntlLockFree(join(d, "lock"))).toBe(true);
  });
});

describe("planKeeper on the PostgreSQL stolon's keeper left", () => {
  // stolon's dbstate knows nothing of WasMaster, ClusterUID or SystemID.
  const stolonState = deepFreeze({ UID: "d1", Generation: 7, Initializing: false, InitPGParameters: null });
  const stolonConf = "listen_addresses = '10.0.0.1'\nport = '5432'\nhot_standby = 'on'\n";
  const stolonHba = "host all all 0.0.0.0/0 md5\n";
  const master = makeDb("d1", { keeperUID: "k1", role: "master", initMode: "none", followers: ["d2"] }, { generation: 7 });
  const standbyOfK2 = makeDb("d1", { keeperUID: "k1", role: "standby", initMode: "none", followConfig: { type: "internal", dbuid: "d2" } }, { generation: 7 });
  const masterOnK2 = makeDb("d2", { keeperUID: "k2", role: "master", followers: ["d1"] }, { status: { listenAddress: "10.0.0.2", port: "5432", systemdID: "777" } });
  const stopped = (standbySignal: boolean) =>
    deepFreeze({ ...empty, dbState: stolonState, initialized: true, standbySignal, systemID: "777", postgresqlConf: stolonConf, hba: stolonHba });

  test.each([
    ["a master, stopped by stolon's keeper", makeCd([master], { master: "d1" }), stopped(false), /db d1 is master and postgres is not running: starting it/],
    ["a standby, stopped by stolon's keeper", makeCd([standbyOfK2, masterOnK2], { master: "d2" }), stopped(true), /db d1 is a standby and postgres is not running: starting it/],
  ] as const)("%s: our configuration written, started; no initdb, copy, rewind or wipe", (_, cd, local, note) => {
    const p = planKeeper({ cd, settings, local });
    expect(kinds(p)).toEqual(["write-config", "start"]);
    expect(p.notes.join(" ")).toMatch(note);
  });

  test("initMode resync left in a stolon standby's spec does not copy data that is already this db's", () => {
    const db = makeDb("d1", { keeperUID: "k1", role: "standby", initMode: "resync", followConfig: { type: "internal", dbuid: "d2" } }, { generation: 7 });
    expect(kinds(planKeeper({ cd: makeCd([db, masterOnK2], { master: "d2" }), settings, local: stopped(true) }))).toEqual(["write-config", "start"]);
  });

  test("stolon's half-made data dir (Initializing) is not taken as this db's data: wiped, as stolon's keeper does", () => {
    const local = deepFreeze({ ...stopped(true), dbState: { ...stolonState, Initializing: true } });
    const p = planKeeper({ cd: makeCd([standbyOfK2, masterOnK2], { master: "d2" }), settings, local });
    expect(kinds(p)).toEqual(["wipe"]);
    expect(p.notes[0]).toContain("did not finish");
  });
});
