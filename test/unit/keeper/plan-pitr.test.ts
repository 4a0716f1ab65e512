/**
 * planKeeper's pitr init, table-driven, and what it renders: the dataRestoreCommand's %d and %%,
 * the recovery parameters of a master (restore_command, one target, recovery_target_action
 * promote, or recovery_target_timeline latest), recovery.signal versus standby.signal, and the
 * pg_hba.conf that lets only the keeper in during the recovery.
 */
import { describe, expect, test } from "bun:test";
import type { DBSpec, PitrConfig } from "../../../src/cluster/index.ts";
import { planKeeper, type KeeperAction, type LocalObservation } from "../../../src/keeper/plan.ts";
import { expandDataRestoreCommand, pitrRecoveryParameters, renderRecoveryHba } from "../../../src/postgres/index.ts";
import { deepFreeze, empty, kinds, makeCd, makeDb, settings, state } from "./plan-builders.ts";

const PITR: PitrConfig = {
  dataRestoreCommand: "tar -xf /backup/base.tar -C %d",
  archiveRecoverySettings: { restoreCommand: "cp /archive/%f %p" },
  recoveryTargetSettings: { recoveryTargetTime: "2026-12-01 08:00:00+00" },
};
const pitrDb = (spec: Partial<DBSpec> = {}) => makeDb("d1", { keeperUID: "k1", initMode: "pitr", pitrConfig: PITR, ...spec });
const holding = (o: { cluster?: string; master?: boolean } = {}): LocalObservation =>
  deepFreeze({
    ...empty,
    initialized: true,
    standbySignal: !o.master,
    systemID: "777",
    dbState: state("old", 3, { ClusterUID: o.cluster ?? "c1", SystemID: "777", ...(o.master ? { WasMaster: true } : {}) }),
  });
const pitrAction = (p: ReturnType<typeof planKeeper>) => {
  const a = p.actions.find((x) => x.kind === "init-pitr");
  if (!a || a.kind !== "init-pitr") throw new Error(`no init-pitr in ${kinds(p).join(", ")}`);
  return a as KeeperAction & { kind: "init-pitr" };
};

describe("planKeeper: initMode pitr", () => {
  test.each([
    ["an empty data dir", makeCd([pitrDb()]), empty, ["init-pitr"], /restored here \(this data dir held no db\).*archive recovery to recovery_target_time 2026-12-01 08:00:00\+00, promoted there, as this data dir holds no database/],
    ["another cluster's standby data", makeCd([pitrDb()]), holding({ cluster: "c0" }), ["init-pitr"], /of another cluster \(c0, system 777\)/],
    ["this cluster's standby data: refused, as for new", makeCd([pitrDb()]), holding(), [], /refuses a pitr restore for db d1.*it belongs to this cluster/],
    ["a former master's data: refused", makeCd([pitrDb()]), holding({ cluster: "c0", master: true }), [], /refuses a pitr restore for db d1.*was a master here/],
    ["the restore of this db failed here before: not run again", makeCd([pitrDb()]), deepFreeze({ ...empty, pitrFailedFor: "d1" }), [], /pitr restore of db d1 failed on this keeper: not run again/],
    ["a failure for another db does not hold this one back", makeCd([pitrDb()]), deepFreeze({ ...empty, pitrFailedFor: "d0" }), ["init-pitr"], /restored here/],
    ["no dataRestoreCommand", makeCd([pitrDb({ pitrConfig: {} })]), empty, [], /no pitrConfig.dataRestoreCommand/],
    ["no restore_command: the backup's WAL only", makeCd([pitrDb({ pitrConfig: { dataRestoreCommand: "x" } })]), empty, ["init-pitr"], /replaying the WAL the backup holds/],
    ["no target: to the end of the archive", makeCd([pitrDb({ pitrConfig: { ...PITR, recoveryTargetSettings: undefined } })]), empty, ["init-pitr"], /archive recovery to the end of the archive/],
  ] as const)("%s", (_, cd, local, want, note) => {
    const p = planKeeper({ cd, settings, local });
    expect(kinds(p)).toEqual([...want]);
    expect(p.notes.join(" ")).toMatch(note);
  });

  test("the restored db is then started as master, with its own configuration", () => {
    const cd = makeCd([pitrDb()]);
    const restored = deepFreeze({ ...empty, initialized: true, systemID: "888", dbState: state("d1", 0) });
    const p = planKeeper({ cd, settings, local: restored });
    expect(kinds(p)).toEqual(["write-config", "start"]);
    const w = p.actions[0] as KeeperAction & { kind: "write-config" };
    expect(w.config.postgresqlConf).not.toMatch(/restore_command|recovery_target/);
  });

  test("a master recovers with recovery.signal, restore_command, the target and promote; then its own files", () => {
    const a = pitrAction(planKeeper({ cd: makeCd([pitrDb()]), settings, local: empty }));
    expect(a.command).toBe("tar -xf /backup/base.tar -C %d");
    expect(a.recoveryConfig).toMatchObject({ standby: false, recovery: true, hba: renderRecoveryHba("su") });
    expect(a.recoveryConfig.postgresqlConf).toContain("restore_command = 'cp /archive/%f %p'");
    expect(a.recoveryConfig.postgresqlConf).toContain("recovery_target_time = '2026-12-01 08:00:00+00'");
    expect(a.recoveryConfig.postgresqlConf).toContain("recovery_target_action = 'promote'");
    expect(a.recoveryConfig.postgresqlConf).not.toContain("primary_conninfo");
    expect(a.config.recovery).toBeUndefined();
    expect(a.config.standby).toBe(false);
    expect(a.config.postgresqlConf).not.toMatch(/restore_command|recovery_target/);
    expect(a.config.hba).toContain("host all all 0.0.0.0/0 md5");
  });

  test("a db that follows an external primary (a standby cluster's leader) recovers as that standby: standby.signal, no target", () => {
    const db = pitrDb({
      role: "standby",
      pitrConfig: { dataRestoreCommand: "x" },
      followConfig: { type: "external", standbySettings: { primaryConninfo: "host=src port=5432" }, archiveRecoverySettings: { restoreCommand: "cp /a/%f %p" } },
    });
    const a = pitrAction(planKeeper({ cd: makeCd([db]), settings, local: empty }));
    expect(a.recoveryConfig).toEqual(a.config);
    expect(a.config.standby).toBe(true);
    expect(a.config.recovery).toBeUndefined();
    expect(a.config.postgresqlConf).toContain("primary_conninfo = 'host=src port=5432'");
    expect(a.config.postgresqlConf).toContain("restore_command = 'cp /a/%f %p'");
    expect(a.config.postgresqlConf).not.toContain("recovery_target_action");
  });

  test("the user's own restore_command or recovery target in pgParameters is ignored (managed)", () => {
    const db = pitrDb({ pgParameters: { restore_command: "evil", recovery_target_time: "x", work_mem: "8MB" } });
    const p = planKeeper({ cd: makeCd([db]), settings, local: empty });
    const a = pitrAction(p);
    expect(a.recoveryConfig.postgresqlConf).not.toContain("evil");
    expect(a.recoveryConfig.postgresqlConf).toContain("work_mem = '8MB'");
    expect(p.warnings.join(" ")).toMatch(/restore_command: managed by the keeper/);
  });
});

describe("expandDataRestoreCommand", () => {
  test.each([
    ["tar -xf b.tar -C %d", "tar -xf b.tar -C /k/postgres"],
    ['pgbackrest --stanza=s --pg1-path="%d" restore', 'pgbackrest --stanza=s --pg1-path="/k/postgres" restore'],
    ["echo 100%% > %d/x", "echo 100% > /k/postgres/x"],
    ["%%d is not the dir", "%d is not the dir"],
    ["%%%d", "%/k/postgres"],
    ["%f and %p stay", "%f and %p stay"],
    ["%d%d", "/k/postgres/k/postgres"],
    ["trailing %", "trailing %"],
  ])("%s", (cmd, want) => {
    expect(expandDataRestoreCommand(cmd, "/k/postgres")).toBe(want);
  });
});

describe("pitrRecoveryParameters", () => {
  test.each([
    ["no target: timeline latest", { restoreCommand: "cp %f %p" }, { restore_command: "cp %f %p", recovery_target_timeline: "latest" }],
    ["immediate", { targets: { recoveryTarget: "immediate" } }, { recovery_target: "immediate", recovery_target_action: "promote" }],
    ["lsn", { targets: { recoveryTargetLsn: "0/3000000" } }, { recovery_target_lsn: "0/3000000", recovery_target_action: "promote" }],
    ["name", { targets: { recoveryTargetName: "before-drop" } }, { recovery_target_name: "before-drop", recovery_target_action: "promote" }],
    ["time", { targets: { recoveryTargetTime: "2026-12-01 08:00:00+00" } }, { recovery_target_time: "2026-12-01 08:00:00+00", recovery_target_action: "promote" }],
    ["xid with a timeline", { targets: { recoveryTargetXid: "1234", recoveryTargetTimeline: "2" } }, { recovery_target_xid: "1234", recovery_target_timeline: "2", recovery_target_action: "promote" }],
    ["empty strings count as not set", { restoreCommand: "", targets: { recoveryTargetTime: "" } }, { recovery_target_timeline: "latest" }],
  ] as const)("%s", (_, input, want) => {
    expect(pitrRecoveryParameters(input)).toEqual(want);
  });

  test("the recovery pg_hba.conf lets only the superuser in, on the local socket", () => {
    const lines = renderRecoveryHba('we"ird').trim().split("\n").filter((l) => !l.startsWith("#"));
    expect(lines).toEqual(['local all "we""ird" trust']);
  });
});
