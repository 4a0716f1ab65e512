/**
 * runPitrInit on a fake PostgreSQL (the few PgManager methods it calls, on nothing) and a clock
 * that moves only when slept on: the order of the steps, what is published as KeeperInfo.init,
 * and how each failure is reported (the command's exit code and output, PostgreSQL's log, the
 * syncTimeout bound). The real thing runs in test/integration/pitr-keeper.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { createConsola } from "consola";
import type { KeeperPg } from "../../../src/keeper/keeper.ts";
import type { KeeperInit } from "../../../src/cluster/index.ts";
import { MAX_STRING_LENGTH } from "../../../src/cluster/info-check.ts";
import { oneLine, runPitrInit } from "../../../src/keeper/pitr.ts";
import { planKeeper, type KeeperAction } from "../../../src/keeper/plan.ts";
import type { Clock } from "../../../src/lib/clock.ts";
import type { RecoveryProgress } from "../../../src/postgres/sql.ts";
import { empty, makeCd, makeDb, settings } from "./plan-builders.ts";

/** What runPitrInit does to PostgreSQL, recorded; each answer is the test's to set. */
class FakePg {
  readonly dataDir = "/k/postgres";
  calls: string[] = [];
  restore = { exitCode: 0 as number | null, output: "" };
  initialized = true;
  running = false;
  /** Successive answers of recoveryProgress (the last one repeats); an Error is thrown. */
  progress: (RecoveryProgress | Error)[] = [{ inRecovery: false, replayLsn: 100, lastReplayTime: null }];
  /** PostgreSQL exits after this many progress reads. */
  exitAfter = Infinity;
  configs: { standby: boolean; recovery?: boolean }[] = [];

  async stop() {
    this.calls.push("stop");
    this.running = false;
  }
  async wipe() {
    this.calls.push("wipe");
  }
  async dataRestore(command: string) {
    this.calls.push(`restore ${command}`);
    return this.restore;
  }
  isInitialized() {
    return this.initialized;
  }
  neutraliseAutoConf() {
    this.calls.push("auto.conf");
    return "restore_command = 'pgbackrest archive-get %f \"%p\"'";
  }
  writeReplicationPassfile() {
    return "/k/pgpass";
  }
  writeConfig(c: { standby: boolean; recovery?: boolean }) {
    this.calls.push(`config${c.recovery ? " recovery" : ""}${c.standby ? " standby" : ""}`);
    this.configs.push(c);
  }
  async start() {
    this.calls.push("start");
    this.running = true;
  }
  isRunning() {
    return this.running;
  }
  recoverySignal = true;
  hasRecoverySignal() {
    return this.recoverySignal;
  }
  async recoveryProgress(): Promise<RecoveryProgress> {
    if (this.exitAfter-- <= 0) this.running = false;
    const p = this.progress.length > 1 ? this.progress.shift()! : this.progress[0]!;
    if (p instanceof Error) throw p;
    return p;
  }
  async closeSql() {}
  async setupRolesAfterRestore() {
    this.calls.push("roles");
  }
  logTail() {
    return "FATAL:  recovery ended before configured recovery target was reached";
  }
}

/** A clock that moves only when slept on. */
function steppingClock(): Clock {
  let t = 0;
  return { now: () => t, sleep: async (ms) => void (t += ms) };
}

function setUp(o: { syncTimeoutMs?: number; spec?: Parameters<typeof makeDb>[1] } = {}) {
  const pg = new FakePg();
  const published: KeeperInit[] = [];
  const ctx = {
    pg: pg as unknown as KeeperPg,
    log: createConsola({ level: -999 }),
    clock: steppingClock(),
    syncTimeoutMs: o.syncTimeoutMs ?? 0,
    requestTimeoutMs: 10_000,
    setInit: (i: KeeperInit) => void published.push(i),
  };
  const db = makeDb("d1", o.spec ?? { keeperUID: "k1", initMode: "pitr", pitrConfig: { dataRestoreCommand: "tar -xf /b/base.tar -C %d", archiveRecoverySettings: { restoreCommand: "cp /a/%f %p" } } });
  const a = planKeeper({ cd: makeCd([db]), settings, local: empty }).actions[0] as KeeperAction & { kind: "init-pitr" };
  expect(a.kind).toBe("init-pitr");
  return { pg, published, ctx, a, run: () => runPitrInit(ctx, a, new AbortController().signal) };
}

describe("runPitrInit", () => {
  test("a master: wipe, restore (%d expanded), archive recovery until promoted, roles, stop, its own configuration", async () => {
    const s = setUp();
    s.pg.progress = [new Error("the database system is starting up"), { inRecovery: true, replayLsn: 4096, lastReplayTime: "2026-12-01T08:00:00.000Z" }, { inRecovery: false, replayLsn: 8192, lastReplayTime: null }];
    expect(await s.run()).toBe(true);
    expect(s.pg.calls).toEqual(["stop", "wipe", "restore tar -xf /b/base.tar -C /k/postgres", "auto.conf", "config recovery", "start", "roles", "stop", "config"]);
    expect(s.published.map((i) => i.phase)).toEqual(["restoring", "recovering", "recovering"]);
    expect(s.published[0]!.detail).toBe("running the dataRestoreCommand: tar -xf /b/base.tar -C /k/postgres");
    expect(s.published[2]).toMatchObject({ dbUid: "d1", replayedXLogPos: 4096, lastReplayTime: "2026-12-01T08:00:00.000Z" });
  });

  test("a standby of an external primary: done once it answers; no roles (read-only), standby.signal throughout", async () => {
    const s = setUp({
      spec: {
        keeperUID: "k1",
        role: "standby",
        initMode: "pitr",
        pitrConfig: { dataRestoreCommand: "restore %d" },
        followConfig: { type: "external", standbySettings: { primaryConninfo: "host=src" } },
      },
    });
    s.pg.progress = [{ inRecovery: true, replayLsn: 1, lastReplayTime: null }];
    expect(await s.run()).toBe(true);
    expect(s.pg.calls).toEqual(["stop", "wipe", "restore restore /k/postgres", "auto.conf", "config standby", "start", "stop", "config standby"]);
  });

  test.each([
    ["the command exits non-zero", (pg: FakePg): void => void (pg.restore = { exitCode: 3, output: "tar: base.tar: Cannot open" }), /dataRestoreCommand "tar -xf \/b\/base.tar -C \/k\/postgres" exited with code 3/, /Cannot open/],
    ["the command leaves no database", (pg: FakePg): void => void (pg.initialized = false), /exited with code 0 but left no database in \/k\/postgres/, /^$/],
    ["PostgreSQL exits during the recovery (target beyond the archive)", (pg: FakePg): void => {
        pg.progress = [{ inRecovery: true, replayLsn: 1, lastReplayTime: null }];
        pg.exitAfter = 2;
      }, /PostgreSQL exited during the archive recovery/, /recovery ended before configured recovery target/],
  ] as const)("failed: %s", async (_, arrange, detail, output) => {
    const s = setUp();
    arrange(s.pg);
    expect(await s.run()).toBe(false);
    const last = s.published.at(-1)!;
    expect(last.phase).toBe("failed");
    expect(last.detail).toMatch(detail);
    expect(last.output ?? "").toMatch(output);
    expect(s.pg.calls).not.toContain("roles");
    expect(s.pg.calls.at(-1)).toBe("stop");
  });

  test("a missing superuser is waited for during the recovery (the WAL may bring it), and is a failure once it ended", async () => {
    const noRole = () => Object.assign(new Error('connecting: role "su" does not exist'), { cause: Object.assign(new Error('role "su" does not exist'), { code: "28000" }) });
    const s = setUp();
    s.pg.progress = [noRole(), noRole(), { inRecovery: false, replayLsn: 1, lastReplayTime: null }];
    expect(await s.run()).toBe(true);
    const t = setUp();
    t.pg.recoverySignal = false;
    t.pg.progress = [noRole()];
    expect(await t.run()).toBe(false);
    expect(t.published.at(-1)!.detail).toMatch(/the recovery ended but the keeper cannot connect to the restored database: .*role "su" does not exist.*the backup must have the keeper's superuser role/);
  });

  test("failed: the recovery outlasts syncTimeout", async () => {
    const s = setUp({ syncTimeoutMs: 5000 });
    s.pg.progress = [{ inRecovery: true, replayLsn: 1, lastReplayTime: null }];
    expect(await s.run()).toBe(false);
    expect(s.published.at(-1)).toMatchObject({ phase: "failed", detail: "the archive recovery did not end within syncTimeout (5 s)" });
  });

  test("the detail is one line the info schema takes: newlines gone, at most MAX_STRING_LENGTH characters", async () => {
    expect(oneLine("a\n  b\r\nc")).toBe("a b c");
    const s = setUp({ spec: { keeperUID: "k1", initMode: "pitr", pitrConfig: { dataRestoreCommand: `set -e\n${"x".repeat(3000)}\nexit 1` } } });
    s.pg.restore = { exitCode: 1, output: "" };
    await s.run();
    const detail = s.published.at(-1)!.detail;
    expect(detail).not.toContain("\n");
    expect(detail.length).toBe(MAX_STRING_LENGTH);
    expect(detail).toStartWith('the dataRestoreCommand "set -e xxx');
  });

  test("the output reported is the last 4000 characters", async () => {
    const s = setUp();
    s.pg.restore = { exitCode: 1, output: "x".repeat(5000) + "the end" };
    await s.run();
    const out = s.published.at(-1)!.output!;
    expect(out.length).toBe(4000);
    expect(out.endsWith("the end")).toBe(true);
  });

  test("a keeper that stops during the restore throws: the half-made data dir is redone later, nothing is reported failed", async () => {
    const s = setUp();
    s.pg.restore = { exitCode: null, output: "" };
    const ac = new AbortController();
    ac.abort();
    await expect(runPitrInit(s.ctx, s.a, ac.signal)).rejects.toThrow();
    expect(s.published.map((i) => i.phase)).not.toContain("failed");
  });
});
