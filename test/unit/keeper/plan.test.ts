/**
 * planKeeper, table-driven: each case states the view and the local observation that matter and
 * the actions (and the sentences) expected. Inputs are deep-frozen, so a planner that mutates
 * its input throws.
 */
import { describe, expect, test } from "bun:test";
import type { ClusterData, DB, WipeConfirmation } from "../../../src/cluster/index.ts";
import { desiredConfig, planKeeper, type KeeperAction, type KeeperSettings, type LocalObservation } from "../../../src/keeper/plan.ts";
import { deepFreeze, empty, kinds, makeCd, makeDb, masterOnK2, settings, state, steady } from "./plan-builders.ts";


describe("planKeeper: waiting and stopping", () => {
  test.each([
    ["not in the view", makeCd([], { keepers: {} }), { ...empty, running: true }, [], /not in the cluster view yet/],
    ["no db, postgres running", makeCd([]), { ...empty, running: true }, ["stop"], /no db is assigned to keeper k1: stopping postgres/],
    ["no db, postgres stopped", makeCd([]), empty, [], /no db is assigned/],
    ["bootUUID not seen yet", makeCd([makeDb("d1", { keeperUID: "k1" })], { keepers: { k1: "old-boot" } }), { ...empty, running: true }, ["stop"], /does not know this keeper process yet/],
  ] as const)("%s", (_, cd, local, want, note) => {
    const p = planKeeper({ cd, settings, local });
    expect(kinds(p)).toEqual([...want]);
    expect(p.notes.join(" ")).toMatch(note);
  });

  test("an unfinished init is wiped before anything else", () => {
    const cd = makeCd([makeDb("d1", { keeperUID: "k1", initMode: "new" })]);
    const p = planKeeper({ cd, settings, local: deepFreeze({ ...empty, initialized: true, running: true, dbState: state("d1", 0, { Initializing: true }) }) });
    expect(kinds(p)).toEqual(["stop", "wipe"]);
    expect(p.notes[0]).toContain("did not finish");
  });
});

describe("planKeeper: init", () => {
  test("initMode new on a fresh data dir: initdb with a master config", () => {
    const cd = makeCd([makeDb("d1", { keeperUID: "k1", initMode: "new" })]);
    const p = planKeeper({ cd, settings, local: empty });
    expect(kinds(p)).toEqual(["init-new"]);
    const a = p.actions[0]!;
    if (a.kind !== "init-new") throw new Error();
    expect(a.config.standby).toBe(false);
    expect(a.config.postgresqlConf).toContain("listen_addresses = '10.0.0.1'");
  });

  test("initMode new replaces the data of another cluster's standby", () => {
    const cd = makeCd([makeDb("d1", { keeperUID: "k1", initMode: "new" })]);
    const local = deepFreeze({ ...empty, initialized: true, standbySignal: true, systemID: "555", dbState: state("old", 1, { ClusterUID: "c0", SystemID: "555" }) });
    const p = planKeeper({ cd, settings, local });
    expect(kinds(p)).toEqual(["init-new"]);
    expect(p.notes[0]).toContain("this data dir held db old");
    expect(p.notes[0]).toContain("of another cluster (c0, system 555)");
  });

  test("initMode existing needs data", () => {
    const cd = makeCd([makeDb("d1", { keeperUID: "k1", initMode: "existing" })]);
    expect(kinds(planKeeper({ cd, settings, local: empty }))).toEqual([]);
    expect(kinds(planKeeper({ cd, settings, local: deepFreeze({ ...empty, initialized: true }) }))).toEqual(["init-existing"]);
  });

  test.each([
    ["same system, rewind on", { usePgrewind: true }, "777", true, /rewinding/],
    ["rewind off", { usePgrewind: false }, "777", false, /pg_basebackup/],
    ["another system", { usePgrewind: true }, "999", false, /another database system/],
    ["no local data", { usePgrewind: true }, null, false, /there is no local data/],
  ] as const)("resync: %s", (_, spec, systemID, rewind, note) => {
    const db = makeDb("d1", { keeperUID: "k1", role: "standby", initMode: "resync", followConfig: { type: "internal", dbuid: "d2" }, ...spec });
    const cd = makeCd([db, masterOnK2(["d1"])], { master: "d2" });
    const local = deepFreeze({ ...empty, initialized: systemID !== null, standbySignal: systemID !== null, systemID, dbState: state("old") });
    const p = planKeeper({ cd, settings, local });
    expect(kinds(p)).toEqual(["resync"]);
    const a = p.actions[0]!;
    if (a.kind !== "resync") throw new Error();
    expect(a.rewind).toBe(rewind);
    expect(a.source).toEqual({ host: "10.0.0.2", port: "5432" });
    expect(a.slot).toBe("stolon_d1");
    expect(a.config.standby).toBe(true);
    expect(a.config.postgresqlConf).toContain("primary_slot_name = 'stolon_d1'");
    expect(a.config.postgresqlConf).toContain("application_name=''stolon_d1''");
    expect(p.notes.join(" ")).toMatch(note);
  });

  test("resync waits while the master has not reported an address", () => {
    const db = makeDb("d1", { keeperUID: "k1", role: "standby", initMode: "resync", followConfig: { type: "internal", dbuid: "d2" } });
    const cd = makeCd([db, makeDb("d2", { keeperUID: "k2" })]);
    const p = planKeeper({ cd, settings, local: empty });
    expect(kinds(p)).toEqual([]);
    expect(p.notes[0]).toContain("has not reported its address");
  });

  test.each([
    ["pitr", /no pitrConfig\.dataRestoreCommand: nothing to restore from/],
    ["none", /refusing to guess/],
  ] as const)("initMode %s on foreign data does nothing and says why", (initMode, note) => {
    const cd = makeCd([makeDb("d1", { keeperUID: "k1", initMode })]);
    const p = planKeeper({ cd, settings, local: deepFreeze({ ...empty, initialized: true, dbState: state("old") }) });
    expect(kinds(p)).toEqual([]);
    expect(p.notes[0]).toMatch(note);
  });
});

describe("planKeeper: the local data is replaced only when it may be (issue 13 item 5)", () => {
  const confirm = (dbUID: string, forDbUID: string): WipeConfirmation => ({ dbUID, forDbUID, time: "2026-11-30T20:00:00Z" });
  /** Data this keeper holds: a standby's of cluster `cluster` unless `master`. */
  const holding = (o: { uid?: string; cluster?: string; sys?: string; pgSys?: string; master?: boolean; signal?: boolean; running?: boolean; rewindFailedFor?: string } = {}): LocalObservation =>
    deepFreeze({
      ...empty,
      initialized: true,
      running: o.running ?? false,
      standbySignal: o.signal ?? !o.master,
      systemID: o.pgSys ?? o.sys ?? "777",
      dbState: state(o.uid ?? "old", 3, { ClusterUID: o.cluster ?? "c1", SystemID: o.sys ?? "777", ...(o.master ? { WasMaster: true } : {}) }),
      ...(o.rewindFailedFor ? { rewindFailedFor: o.rewindFailedFor } : {}),
    });
  const refused = /keeper k1 refuses .*The data stays where it is; to allow its removal, run: stolonctl confirm-wipe k1/;

  describe("initMode new (the cluster is initializing)", () => {
    const dbNew = makeDb("d1", { keeperUID: "k1", initMode: "new" });
    test.each([
      ["an empty data dir", makeCd([dbNew]), empty, ["init-new"], /holds no database/],
      ["another cluster's standby data (cluster uid differs, system id as in pg_control)", makeCd([dbNew]), holding({ cluster: "c0", sys: "555" }), ["init-new"], /of another cluster \(c0, system 555\)/],
      ["this cluster's standby data", makeCd([dbNew]), holding({ cluster: "c1" }), [], /refuses an initdb for db d1.*it belongs to this cluster \(c1\)/],
      ["another cluster uid, but dbstate's system id is not pg_control's", makeCd([dbNew]), holding({ cluster: "c0", sys: "555", pgSys: "556" }), [], /system id 555 is not pg_control's 556/],
      ["a dbstate that records no cluster uid", makeCd([dbNew]), deepFreeze({ ...holding(), dbState: state("old") }), [], /records no cluster uid/],
      ["another cluster's former master (dbstate WasMaster)", makeCd([dbNew]), holding({ cluster: "c0", master: true }), [], /was a master here \(its dbstate says it ran as a master\)/],
      ["data without standby.signal and an old dbstate (would start as a primary)", makeCd([dbNew]), deepFreeze({ ...holding({ cluster: "c0" }), standbySignal: false }), [], /no standby.signal, so it would start as a primary/],
      ["a running former master: refused and stopped", makeCd([dbNew]), holding({ cluster: "c0", master: true, running: true }), ["stop"], /was a master here/],
      ["a former master with the operator's confirmation", makeCd([dbNew], { confirm: confirm("old", "d1") }), holding({ cluster: "c0", master: true }), ["init-new"], /the operator confirmed it \(stolonctl confirm-wipe k1/],
      ["this cluster's standby data with the operator's confirmation", makeCd([dbNew], { confirm: confirm("old", "d1") }), holding(), ["init-new"], /the operator confirmed it/],
      ["a stale confirmation (given for another request)", makeCd([dbNew], { confirm: confirm("old", "d0") }), holding({ master: true }), [], /was a master here/],
      ["a stale confirmation (given for other data)", makeCd([dbNew], { confirm: confirm("older", "d1") }), holding({ master: true }), [], /was a master here/],
    ] as const)("%s", (_, cd, local, want, note) => {
      const p = planKeeper({ cd, settings, local });
      expect(kinds(p)).toEqual([...want]);
      expect(p.notes.join(" ")).toMatch(note);
      if (want.length === 0 || want[0] === "stop") expect(p.notes.join(" ")).toMatch(refused);
    });
  });

  describe("initMode resync", () => {
    const resyncDb = (usePgrewind: boolean) => makeDb("d1", { keeperUID: "k1", role: "standby", initMode: "resync", usePgrewind, followConfig: { type: "internal", dbuid: "d2" } });
    const cdWith = (usePgrewind: boolean, confirmation?: WipeConfirmation) => makeCd([resyncDb(usePgrewind), masterOnK2(["d1"])], { master: "d2", confirm: confirmation });
    const resync = (p: ReturnType<typeof planKeeper>) => {
      const a = p.actions.find((x) => x.kind === "resync");
      return a?.kind === "resync" ? { rewind: a.rewind, copy: a.copy } : null;
    };
    test.each([
      ["an empty data dir: copied", cdWith(false), empty, { rewind: false, copy: true }, /copying it with pg_basebackup beside the local data/],
      ["a standby's data, rewind off: copied beside it", cdWith(false), holding(), { rewind: false, copy: true }, /replaces once complete/],
      ["a standby's data, rewind on: rewound, copied if that fails", cdWith(true), holding(), { rewind: true, copy: true }, /a full copy if that fails/],
      ["a former master, rewind on: rewound, never copied", cdWith(true), holding({ master: true }), { rewind: true, copy: false }, /pg_rewind, and no full copy if that fails: it holds db old, which was a master here/],
      ["a former master, rewind off: refused", cdWith(false), holding({ master: true }), null, /refuses a full copy for db d1.*was a master here/],
      ["a former master whose rewind failed: refused", cdWith(true), holding({ master: true, rewindFailedFor: "d1" }), null, /pg_rewind not tried: it failed a moment ago for this db.*refuses a full copy/],
      ["a former master, rewind off, confirmed: copied", cdWith(false, confirm("old", "d1")), holding({ master: true }), { rewind: false, copy: true }, /copying it with pg_basebackup/],
      ["a former master whose rewind failed, confirmed: copied", cdWith(true, confirm("old", "d1")), holding({ master: true, rewindFailedFor: "d1" }), { rewind: false, copy: true }, /copying it/],
      ["a former master, stale confirmation for an earlier request: refused", cdWith(false, confirm("old", "d0")), holding({ master: true }), null, /refuses a full copy/],
      ["a later master of the same keeper, confirmation for the data it replaced: refused", cdWith(false, confirm("old", "d1")), holding({ uid: "d1x", master: true }), null, /it holds db d1x, which was a master here/],
    ] as const)("%s", (_, cd, local, want, note) => {
      const p = planKeeper({ cd, settings, local });
      expect(resync(p)).toEqual(want);
      expect(p.notes.join(" ")).toMatch(note);
      if (want === null) expect(p.notes.join(" ")).toMatch(refused);
    });
  });

  test("an interrupted init is wiped even for a former master (the keeper's own state says the data dir is half made)", () => {
    const cd = makeCd([makeDb("d1", { keeperUID: "k1", initMode: "new" })]);
    const p = planKeeper({ cd, settings, local: deepFreeze({ ...empty, initialized: true, dbState: state("d1", 0, { Initializing: true, WasMaster: true }) }) });
    expect(kinds(p)).toEqual(["wipe"]);
  });

  test("a converged pass records the cluster uid and system id of the data", () => {
    const db = makeDb("d1", { keeperUID: "k1", role: "standby", followConfig: { type: "internal", dbuid: "d2" } });
    const cd = makeCd([db, masterOnK2(["d1"])], { master: "d2", clusterUID: "c9" });
    const p = planKeeper({ cd, settings, local: steady(cd, db) });
    expect(p.actions.at(-1)).toEqual({ kind: "save-generation", db, clusterUID: "c9", systemID: "777" });
  });
});

describe("planKeeper: a master", () => {
  const db = makeDb("d1", { keeperUID: "k1", followers: ["d3", "d2"], additionalReplicationSlots: ["backup"] });
  const cd = makeCd([db]);

  test("converged: slots for each follower and the additional ones, then the generation", () => {
    const p = planKeeper({ cd, settings, local: steady(cd, db) });
    expect(kinds(p)).toEqual(["sync-slots", "save-generation"]);
    expect(p.actions[0]).toEqual({ kind: "sync-slots", slots: ["stolon_backup", "stolon_d2", "stolon_d3"] });
  });

  test("stopped: write the configuration if needed and start", () => {
    expect(kinds(planKeeper({ cd, settings, local: steady(cd, db, { running: false }) }))).toEqual(["start"]);
    expect(kinds(planKeeper({ cd, settings, local: steady(cd, db, { running: false, hba: "old" }) }))).toEqual(["write-config", "start"]);
  });

  test("a running standby is promoted; a stopped one is started as a standby first", () => {
    const p = planKeeper({ cd, settings, local: steady(cd, db, { standbySignal: true }) });
    expect(kinds(p)).toEqual(["promote"]);
    const q = planKeeper({ cd, settings, local: steady(cd, db, { standbySignal: true, running: false }) });
    expect(kinds(q)).toEqual(["start"]);
    expect(q.notes[0]).toContain("starting it as a standby first");
  });

  test("a standby whose configuration is still a standby's gets the master's (synchronous_standby_names included) before the promotion, standby.signal kept", () => {
    const local = { ...steady(cd, db, { standbySignal: true }), postgresqlConf: "# a standby's\nprimary_conninfo = 'host=x'\n" };
    const p = planKeeper({ cd, settings, local });
    expect(kinds(p)).toEqual(["write-config", "reload", "promote"]);
    const w = p.actions[0] as Extract<KeeperAction, { kind: "write-config" }>;
    expect(w.config.standby).toBe(true);
    expect(w.config.postgresqlConf).not.toContain("primary_conninfo");
  });

  test("a configuration change is written and reloaded, the generation saved in the same pass", () => {
    const newer = { ...db, generation: 2, spec: { ...db.spec, pgParameters: { work_mem: "8MB" } } };
    const cd2 = makeCd([newer]);
    const p = planKeeper({ cd: cd2, settings, local: steady(cd, db) });
    expect(kinds(p)).toEqual(["write-config", "reload", "sync-slots", "save-generation"]);
    expect(p.notes.join(" ")).toContain("postgresql.conf changed");
  });

  test("pending restart: restarted only with automaticPgRestart", () => {
    const local = steady(cd, db, { pendingRestart: ["shared_buffers"] });
    const p = planKeeper({ cd, settings, local });
    expect(kinds(p)).toEqual(["sync-slots", "save-generation"]);
    expect(p.warnings.join(" ")).toContain("shared_buffers need a restart");
    const auto = makeCd([db]);
    const cdAuto = deepFreeze({ ...auto, cluster: { ...auto.cluster, spec: { ...auto.cluster.spec, automaticPgRestart: true } } });
    expect(kinds(planKeeper({ cd: cdAuto, settings, local }))).toEqual(["sync-slots", "restart", "save-generation"]);
  });

  test("while fenced, the configuration a pass writes keeps the master fenced", () => {
    const p = planKeeper({ cd, settings, local: steady(cd, db, { fenced: true }) });
    const w = p.actions.find((a) => a.kind === "write-config");
    expect(w?.kind === "write-config" && w.config.hba).not.toContain("host all");
  });

  test("a synchronous master that starts again lets in only su and replication until its sync standbys are in sync", () => {
    const sync = makeDb("d1", { keeperUID: "k1", synchronousReplication: true, synchronousStandbys: ["d2"] });
    const c = makeCd([sync]);
    const start = planKeeper({ cd: c, settings, local: steady(c, sync, { running: false }) });
    expect(kinds(start)).toEqual(["set-internal-only", "write-config", "start"]);
    const w = start.actions[1]!;
    expect(w.kind === "write-config" && w.config.hba).not.toContain("host all all");
    expect(start.notes.join(" ")).toContain("only the superuser and replication may connect");
    // Still waiting: the internal-only configuration stays.
    const wait = planKeeper({ cd: c, settings, local: steady(c, sync, { internalOnly: true, inSyncStandbys: [], hba: w.kind === "write-config" ? w.config.hba : "" }) });
    expect(kinds(wait)).toEqual(["sync-slots", "save-generation"]);
    expect(wait.notes.join(" ")).toContain("waiting for synchronous standbys d2 to be in sync");
    // In sync: clients are let in.
    const open = planKeeper({ cd: c, settings, local: steady(c, sync, { internalOnly: true, inSyncStandbys: ["d2"], hba: w.kind === "write-config" ? w.config.hba : "" }) });
    expect(kinds(open)).toEqual(["set-internal-only", "write-config", "reload", "sync-slots", "save-generation"]);
    // An asynchronous master starts as usual.
    expect(kinds(planKeeper({ cd, settings, local: steady(cd, db, { running: false }) }))).toEqual(["start"]);
  });

  test("synchronous replication names the sync standbys and the fake one", () => {
    const sync = makeDb("d1", { keeperUID: "k1", synchronousReplication: true, synchronousStandbys: ["d2"], externalSynchronousStandbys: ["stolonfakestandby"] });
    const c = desiredConfig({ cd: makeCd([sync]), db: sync, settings }).config;
    expect("wait" in c ? c.wait : c.postgresqlConf).toContain(`synchronous_standby_names = '2 ("stolon_d2","stolonfakestandby")'`);
  });

  test("ignored user parameters come back as warnings", () => {
    const bad = makeDb("d1", { keeperUID: "k1", pgParameters: { port: "1" }, pgHBA: ["a\nb"] });
    const p = planKeeper({ cd: makeCd([bad]), settings, local: steady(makeCd([bad]), bad) });
    expect(p.warnings).toEqual(["pgParameters port: managed by the keeper: ignored", 'pgHBA entry "a\\nb": contains a newline or NUL: ignored']);
  });
});

describe("desiredConfig: pg_hba.conf from addresses in etcd and the trust opt-in", () => {
  const master = makeDb("d1", { keeperUID: "k1", followers: ["d2", "d3"], pgHBA: [] });
  const standby = (uid: string, listenAddress: string) =>
    makeDb(uid, { keeperUID: uid.replace("d", "k"), role: "standby", followConfig: { type: "internal", dbuid: "d1" } }, { status: { listenAddress, port: "5432" } });
  const base = makeCd([master, standby("d2", "999.1.1.1"), standby("d3", "::ffff:10.0.0.3")], { master: "d1" });
  const strict: ClusterData = deepFreeze({ ...base, cluster: { ...base.cluster, spec: { ...base.cluster.spec, defaultSUReplAccessMode: "strict" } } });
  const hostLines = (c: ReturnType<typeof desiredConfig>["config"]) => ("wait" in c ? [c.wait] : c.hba.split("\n").filter((l) => l.startsWith("host")));

  test("strict mode: a hostile standby address is a warning, not a line; an IPv4-mapped one is its IPv4 /32", () => {
    const { config, warnings } = desiredConfig({ cd: strict, db: master, settings });
    expect(hostLines(config)).toEqual(['host all "su" 10.0.0.3/32 md5', 'host replication "repl" 10.0.0.3/32 md5']);
    expect(warnings).toEqual(['strict mode: standby address "999.1.1.1" is not an IP address: no superuser or replication rule for it: ignored']);
  });

  test("repl trust: loopback host lines only, unless the keeper's settings carry the opt-in", () => {
    const trusting = (trustOnNetwork: boolean): KeeperSettings => ({ ...settings, repl: { username: "repl", authMethod: "trust" }, trustOnNetwork });
    const replLines = (s: KeeperSettings) => hostLines(desiredConfig({ cd: base, db: master, settings: s }).config).filter((l) => l.includes('"repl"'));
    expect(replLines(trusting(false))).toEqual(['host replication "repl" 127.0.0.0/8 trust', 'host replication "repl" ::1/128 trust']);
    expect(replLines(trusting(true))).toEqual(['host replication "repl" 0.0.0.0/0 trust', 'host replication "repl" ::0/0 trust']);
  });
});

describe("planKeeper: a standby", () => {
  const db = makeDb("d1", { keeperUID: "k1", role: "standby", followConfig: { type: "internal", dbuid: "d2" } });
  const cd = makeCd([db, masterOnK2(["d1"])], { master: "d2" });

  test("converged: drops every stolon slot (a standby has no followers) and saves the generation", () => {
    const p = planKeeper({ cd, settings, local: steady(cd, db) });
    expect(p.actions).toEqual([{ kind: "sync-slots", slots: [] }, { kind: "save-generation", db, clusterUID: "c1", systemID: "777" }]);
  });

  test("the master moved: the new primary_conninfo is written and reloaded", () => {
    const moved = makeCd([db, { ...masterOnK2(["d1"]), status: { listenAddress: "10.0.0.9", port: "6000" } }]);
    const p = planKeeper({ cd: moved, settings, local: steady(cd, db) });
    expect(kinds(p)).toEqual(["write-config", "reload", "sync-slots", "save-generation"]);
    const a = p.actions[0]!;
    expect(a.kind === "write-config" && a.config.postgresqlConf).toContain("host=''10.0.0.9'' port=''6000''");
  });

  test("a local primary is not demoted in place", () => {
    const p = planKeeper({ cd, settings, local: steady(cd, db, { standbySignal: false }) });
    expect(kinds(p)).toEqual([]);
    expect(p.notes[0]).toContain("not demoting it in place");
  });

  test("the data vanished: stop and wait for the sentinel", () => {
    const p = planKeeper({ cd, settings, local: steady(cd, db, { initialized: false }) });
    expect(kinds(p)).toEqual(["stop"]);
    expect(p.notes[0]).toContain("is gone");
  });

  test("a standby cluster's leader keeps the slots of its own standbys, as a master does", () => {
    const leader = makeDb("d1", { keeperUID: "k1", role: "standby", followers: ["d2"], followConfig: { type: "external", standbySettings: { primaryConninfo: "host=remote" } } });
    const c = makeCd([leader]);
    const p = planKeeper({ cd: c, settings, local: steady(c, leader, { standbySignal: true }) });
    expect(p.actions.find((a) => a.kind === "sync-slots")).toEqual({ kind: "sync-slots", slots: ["stolon_d2"] });
  });

  test("an external primary (standby cluster) is followed with the spec's settings", () => {
    const ext = makeDb("d1", { keeperUID: "k1", role: "standby", followConfig: { type: "external", standbySettings: { primaryConninfo: "host=remote", primarySlotName: "s1" } } });
    const c = desiredConfig({ cd: makeCd([ext]), db: ext, settings }).config;
    expect("wait" in c ? c.wait : c.postgresqlConf).toContain("primary_conninfo = 'host=remote'");
  });
});
