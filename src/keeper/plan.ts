/**
 * planKeeper: what the keeper does next to bring its PostgreSQL to what the cluster view asks.
 * Pure: it gets the cluster data, the keeper's settings and an observation of the local
 * instance, and returns actions with the sentences that explain them.
 *
 * Level-triggered: each pass plans from a fresh observation. A pass that changes the instance's
 * shape (init, resync, start, promote) ends there and the next pass, run at once, re-observes. The
 * converged generation is saved only by a pass in which everything else already held.
 */
import { masterDb } from "../cluster/cluster-data.ts";
import { slotName } from "../cluster/slot-names.ts";
import type { ClusterData, DB } from "../cluster/types.ts";
import { renderConninfo } from "../postgres/conninfo.ts";
import { formatLsn } from "../postgres/lsn.ts";
import type { ControlData } from "../postgres/control-data.ts";
import {
  buildParameters,
  pitrRecoveryParameters,
  renderHba,
  renderRecoveryHba,
  renderPostgresqlConf,
  synchronousStandbyNames,
  type AuthMethod,
  type RecoverySettings,
} from "../postgres/config.ts";
import type { DbState } from "./local-state.ts";

export interface KeeperSettings {
  uid: string;
  bootUUID: string;
  pgListenAddress: string;
  pgPort: number;
  socketDir: string;
  su: { username: string; authMethod: AuthMethod; hasPassword: boolean };
  repl: { username: string; authMethod: AuthMethod };
  /** --allow-trust-on-network: trust may apply on host lines for every address. */
  trustOnNetwork?: boolean;
  /** The passfile primary_conninfo points at. */
  replPassfile: string;
}

export interface LocalObservation {
  dbState: DbState | null;
  initialized: boolean;
  running: boolean;
  /** standby.signal is present: the instance starts (or runs) as a standby. */
  standbySignal: boolean;
  /** From pg_control; null when not initialized. */
  systemID: string | null;
  postgresqlConf: string | null;
  hba: string | null;
  /** Parameters whose change waits for a restart (only known while running). */
  pendingRestart: string[];
  /** The keeper fenced its master (cut from etcd): pg_hba.conf must stay fenced. */
  fenced?: boolean;
  /** Only the superuser and replication may connect until the sync standbys are in sync again. */
  internalOnly?: boolean;
  /** DB uids of the standbys the local primary reports in sync (only known while running). */
  inSyncStandbys?: string[];
  /** pg_rewind to become this db (uid) failed a moment ago: not tried again yet. */
  rewindFailedFor?: string;
  /**
   * pg_control of a stopped instance without standby.signal (a stopped primary): whether its last
   * shutdown was clean and where its shutdown checkpoint is. Only read in that state (null:
   * running, a standby, not initialized, or unreadable).
   */
  control?: ControlData | null;
  /**
   * The cluster is paused (maintenance mode, ClusterData.pause in force): a running instance is
   * not stopped while the sentinel learns this keeper process.
   */
  paused?: boolean;
  /** The pitr restore of this db (uid) failed here: it is not run again for the same db. */
  pitrFailedFor?: string;
}

export interface DesiredConfig {
  postgresqlConf: string;
  hba: string;
  standby: boolean;
  /** recovery.signal: an archive recovery (the pitr init of a master), until it ends. */
  recovery?: boolean;
}

export interface Source {
  host: string;
  port: string;
}

export type KeeperAction =
  | { kind: "stop"; why: string }
  /** Fast shutdown of the master for a switchover (DBSpec.stopForSwitchover); it stays down while that is set. */
  | { kind: "stop-for-switchover"; id: string }
  /** dbstate: this data holds nothing only it has any more (a former master followed the new one from a clean stop). */
  | { kind: "forget-was-master"; why: string }
  | { kind: "wipe"; why: string }
  | { kind: "init-new"; db: DB; config: DesiredConfig }
  | { kind: "init-existing"; db: DB; config: DesiredConfig }
  | {
      kind: "init-pitr";
      db: DB;
      /** pitrConfig.dataRestoreCommand as the spec gives it (%d is expanded by the executor, which knows the data dir). */
      command: string;
      /** The configuration the archive recovery runs with (recovery.signal, or standby.signal for an external follow). */
      recoveryConfig: DesiredConfig;
      /** The db's own configuration, written once the recovery ended. */
      config: DesiredConfig;
    }
  | {
      kind: "resync";
      db: DB;
      source: Source;
      slot: string;
      rewind: boolean;
      rewindSource: Source | null;
      /** A full copy may replace the local data (when pg_rewind is not tried or fails). */
      copy: boolean;
      config: DesiredConfig;
    }
  | { kind: "write-config"; config: DesiredConfig }
  | { kind: "start" }
  | { kind: "reload"; why: string }
  | { kind: "restart"; why: string }
  | { kind: "promote" }
  | { kind: "sync-slots"; slots: string[] }
  | { kind: "set-internal-only"; on: boolean }
  /** Also records which cluster and database system the converged data belongs to. */
  | { kind: "save-generation"; db: DB; clusterUID: string; systemID: string | null };

export interface KeeperPlan {
  /** The DB assigned to this keeper, if any. */
  db: DB | null;
  actions: KeeperAction[];
  /** Why: one sentence per decision. */
  notes: string[];
  /** Problems in the view the keeper worked around (ignored parameters, bad pgHBA lines). */
  warnings: string[];
  /** What the keeper reports as PostgresState.stoppedForSwitchover, null for nothing. */
  stoppedForSwitchover: { id: string; lsn: number } | null;
}

export interface PlanInput {
  cd: ClusterData;
  settings: KeeperSettings;
  local: LocalObservation;
}

/** The stolonctl command that gives a keeper leave to replace a former master's data. */
export const confirmWipeCommand = (keeperUid: string) => `stolonctl confirm-wipe ${keeperUid}`;

/** Whether the local data may be removed or replaced, and why (one sentence). */
export interface ReplaceVerdict {
  allowed: boolean;
  why: string;
}

/**
 * The data of a former master: its dbstate says it ran as a primary, or it would start as one
 * (no standby.signal: a dbstate written before WasMaster was recorded, or a promotion the keeper
 * did not live to record). Local facts only: the cluster data cannot tell what this node wrote.
 */
export function wasMaster(local: LocalObservation): boolean {
  return local.initialized && (local.dbState?.WasMaster === true || !local.standbySignal);
}

/**
 * May this keeper remove or replace the data in its data dir to become `db` (initMode new or
 * resync)? The cluster data alone never suffices for a former master's data: the sentinel may
 * assign a resync or a new cluster may be written over a running one (`clusterdata write`), and
 * the only copy of acknowledged writes would go. Allowed:
 *  - when the data dir holds no database;
 *  - a former master's data: only with the operator's confirmation for this keeper, this data
 *    (its db uid) and this request (the db to become), so a stale one cannot wipe a later master;
 *  - a standby's data, for a resync: the new copy replaces it only once complete (the executor
 *    copies beside it), and pg_rewind keeps what both sides share;
 *  - a standby's data, for an initdb: only if it belongs to another cluster (dbstate's cluster uid
 *    differs and its system id is pg_control's, so dbstate really describes this data).
 * An interrupted init (dbstate Initializing) is planKeeper's first rule, before this one.
 */
export function replaceVerdict(cd: ClusterData, settings: KeeperSettings, local: LocalObservation, db: DB): ReplaceVerdict {
  if (!local.initialized) return { allowed: true, why: "this data dir holds no database" };
  const st = local.dbState;
  const held = st && st.UID !== "" ? `db ${st.UID}` : "a database unknown to this keeper";
  const c = cd.keepers[settings.uid]?.status.wipeConfirmation;
  const confirmed = typeof c === "object" && c !== null && c.dbUID === (st?.UID ?? "") && c.forDbUID === db.uid;
  const byOperator = `the operator confirmed it (${confirmWipeCommand(settings.uid)}, ${c?.time ?? ""})`;
  if (wasMaster(local)) {
    if (confirmed) return { allowed: true, why: `it holds ${held}, a former master's data, and ${byOperator}` };
    const fact = st?.WasMaster === true ? "its dbstate says it ran as a master" : "it has no standby.signal, so it would start as a primary";
    return { allowed: false, why: `it holds ${held}, which was a master here (${fact}) and may hold writes no other node has` };
  }
  if (db.spec.initMode === "resync") return { allowed: true, why: `it holds ${held}, a standby's data, replaced only once the new copy is complete` };
  if (st?.ClusterUID && st.ClusterUID !== cd.cluster.uid && st.SystemID !== undefined && st.SystemID === local.systemID)
    return { allowed: true, why: `it holds ${held} of another cluster (${st.ClusterUID}, system ${st.SystemID})` };
  if (confirmed) return { allowed: true, why: `it holds ${held} and ${byOperator}` };
  const fact =
    st?.ClusterUID === cd.cluster.uid
      ? `it belongs to this cluster (${cd.cluster.uid})`
      : !st?.ClusterUID
        ? "its dbstate records no cluster uid, so nothing shows it belongs to another cluster"
        : `its dbstate's system id ${st.SystemID ?? "(none)"} is not pg_control's ${local.systemID ?? "(unreadable)"}, so dbstate does not describe it`;
  return { allowed: false, why: `it holds ${held}, and ${fact}` };
}

function followedDb(cd: ClusterData, db: DB): DB | null {
  const uid = db.spec.followConfig?.dbuid;
  return uid !== undefined ? (cd.dbs[uid] ?? null) : null;
}

function dbAddress(d: DB | null): Source | null {
  if (!d?.status.listenAddress || !d.status.port) return null;
  return { host: d.status.listenAddress, port: d.status.port };
}

/** What desiredConfig needs: the view, the db, the keeper's settings and the local modes. */
export interface DesiredConfigOptions {
  cd: ClusterData;
  db: DB;
  settings: KeeperSettings;
  /** The parameters initdb gave this db's data (from dbstate); null when unknown. */
  initParameters?: Record<string, string> | null;
  /** The keeper fenced its master: pg_hba.conf lets only the keeper and replication in. */
  fenced?: boolean;
  /** A synchronous master waiting for its standbys: only the superuser and replication connect. */
  internalOnly?: boolean;
  /** A master's archive recovery parameters (pitr init, see pitrRecoveryParameters). */
  archiveRecovery?: Record<string, string> | null;
}

export interface DesiredConfigResult {
  /** The files, or why they cannot be built yet. */
  config: DesiredConfig | { wait: string };
  /** Problems in the view worked around (ignored parameters, bad pgHBA lines). */
  warnings: string[];
}

/** The recovery settings of a standby, or why they cannot be known yet; null for a master. */
function recoverySettings(cd: ClusterData, db: DB, settings: KeeperSettings): RecoverySettings | null | { wait: string } {
  if (db.spec.role === "master") return null;
  const follow = db.spec.followConfig;
  if (follow?.type === "external") {
    const s = follow.standbySettings ?? {};
    if (!s.primaryConninfo && !follow.archiveRecoverySettings?.restoreCommand)
      return { wait: `db ${db.uid} follows an external primary but standbySettings.primaryConninfo is not set` };
    return {
      primaryConninfo: s.primaryConninfo ?? "",
      primarySlotName: s.primarySlotName,
      recoveryMinApplyDelay: s.recoveryMinApplyDelay,
      restoreCommand: follow.archiveRecoverySettings?.restoreCommand,
    };
  }
  const followed = followedDb(cd, db);
  const addr = dbAddress(followed);
  if (!followed) return { wait: `db ${db.uid} is a standby but its followConfig names no known db` };
  if (!addr) return { wait: `db ${db.uid} follows db ${followed.uid}, which has not reported its address yet` };
  return {
    primaryConninfo: renderConninfo({
      host: addr.host,
      port: addr.port,
      user: settings.repl.username,
      application_name: slotName(db.uid),
      sslmode: "prefer",
      passfile: settings.replPassfile,
    }),
    primarySlotName: slotName(db.uid),
  };
}

/**
 * The configuration files this DB should have, with the warnings about what of the view was
 * ignored. `config` is `{ wait }` (with the reason) when the files cannot be built yet, e.g. a
 * standby whose master has not reported its address.
 */
export function desiredConfig(o: DesiredConfigOptions): DesiredConfigResult {
  const { cd, db, settings } = o;
  const spec = db.spec;
  const isMaster = spec.role === "master";
  const recovery = recoverySettings(cd, db, settings);
  if (recovery !== null && "wait" in recovery) return { config: recovery, warnings: [] };
  const syncNames =
    isMaster && spec.synchronousReplication
      ? synchronousStandbyNames([...(spec.synchronousStandbys ?? []).map(slotName), ...(spec.externalSynchronousStandbys ?? [])])
      : "";
  const params = buildParameters({
    initParameters: o.initParameters ?? null,
    includePreviousConfig: spec.includePreviousConfig,
    pgParameters: spec.pgParameters,
    listenAddress: settings.pgListenAddress,
    port: settings.pgPort,
    socketDir: settings.socketDir,
    maxStandbys: spec.maxStandbys,
    additionalWalSenders: spec.additionalWalSenders,
    usePgrewind: spec.usePgrewind,
    synchronousStandbyNames: syncNames,
    recovery,
    archiveRecovery: o.archiveRecovery,
  });
  const warnings = params.ignored.map((i) => `pgParameters ${i}: ignored`);
  const others = Object.values(cd.dbs)
    .filter((d) => d.uid !== db.uid && d.status.listenAddress)
    .map((d) => d.status.listenAddress!);
  const hba = renderHba({
    suUsername: settings.su.username,
    suAuthMethod: settings.su.authMethod,
    replUsername: settings.repl.username,
    replAuthMethod: settings.repl.authMethod,
    accessMode: cd.cluster.spec.defaultSUReplAccessMode ?? "all",
    standbyAddresses: others,
    isMaster,
    pgHBA: spec.pgHBA,
    internalOnly: o.internalOnly === true && isMaster,
    fenced: o.fenced === true && isMaster,
    trustOnNetwork: settings.trustOnNetwork === true,
  });
  warnings.push(...hba.ignored.map((i) => `${i}: ignored`));
  return { config: { postgresqlConf: renderPostgresqlConf(params.params), hba: hba.text, standby: !isMaster }, warnings };
}

function configDiffers(local: LocalObservation, c: DesiredConfig): string[] {
  const what: string[] = [];
  if (local.postgresqlConf !== c.postgresqlConf) what.push("postgresql.conf");
  if (local.hba !== c.hba) what.push("pg_hba.conf");
  if (local.standbySignal !== c.standby) what.push("standby.signal");
  return what;
}

/**
 * One pass of planning: the input, the sentences gathered so far, and the ways a step ends the
 * plan. A step returns a KeeperPlan to end the pass, or null to hand on to the next step.
 */
class Pass {
  readonly notes: string[] = [];
  readonly warnings: string[] = [];
  stoppedForSwitchover: { id: string; lsn: number } | null = null;
  constructor(
    readonly cd: ClusterData,
    readonly settings: KeeperSettings,
    readonly local: LocalObservation,
  ) {}

  done(db: DB | null, actions: KeeperAction[] = []): KeeperPlan {
    return { db, actions, notes: this.notes, warnings: this.warnings, stoppedForSwitchover: this.stoppedForSwitchover };
  }

  note(sentence: string): void {
    this.notes.push(sentence);
  }

  stopIfRunning(why: string): KeeperAction[] {
    return this.local.running ? [{ kind: "stop", why }] : [];
  }

  /** Ends the pass with nothing done but the reason to wait. */
  wait(db: DB, why: string): KeeperPlan {
    this.note(why);
    return this.done(db);
  }

  /**
   * Refuses to replace the local data and waits for the operator. PostgreSQL is stopped: this
   * data is not the db the cluster view assigns, so it must not serve (a former master running
   * beside a new one would take writes no one replicates).
   */
  refuse(db: DB, what: string, why: string): KeeperPlan {
    const uid = this.settings.uid;
    this.note(
      `keeper ${uid} refuses ${what}, which would remove the data in its data dir: ${why}. The data stays where it is; to allow its removal, run: ${confirmWipeCommand(uid)}`,
    );
    return this.done(db, this.stopIfRunning("the data in this data dir is not the db the cluster view assigns"));
  }
}

/** What the steps after identity work on: the assigned db and, once built, its configuration. */
interface Assigned {
  db: DB;
  config: DesiredConfig | { wait: string };
  /** The set-internal-only flag change this pass makes, if any. */
  flag: KeeperAction | null;
}

/** The assigned db's data is here and its configuration is known: what the last steps work on. */
interface Ready extends Assigned {
  config: DesiredConfig;
  dbState: DbState;
}

/**
 * The steps, in order; each ends the pass with a plan or hands on to the next:
 *  1. planIdentity: in the view, a db assigned, this keeper process known, no half-done init;
 *  2. syncMasterGate (never ends the pass): whether a synchronous master lets only su and
 *     replication in; then the desired configuration is built (desiredConfig);
 *  3. planInit: the data dir does not hold the assigned db yet: one function per initMode
 *     (INIT_BY_MODE; a new init mode is a new entry and its table cases);
 *  4. planLocalData: the data is still here and the configuration can be built;
 *  5. planSwitchoverStop: the master stopped (and kept down) for a switchover, and the position
 *     it reports;
 *  6. planRoleChange: promotion, start of a stopped instance, a primary that should be a standby
 *     (a former master following the new one after a switchover: planFormerMasterFollows);
 *  7. planSteadyState: configuration reload, slots, pending restart, the converged generation.
 */
export function planKeeper({ cd, settings, local }: PlanInput): KeeperPlan {
  const pass = new Pass(cd, settings, local);
  const identity = planIdentity(pass);
  if ("actions" in identity) return identity;
  const { db } = identity;
  const { internalOnly, flag } = syncMasterGate(pass, db);
  const built = desiredConfig({
    cd,
    db,
    settings,
    initParameters: local.dbState?.UID === db.uid ? local.dbState.InitPGParameters : null,
    fenced: local.fenced === true,
    internalOnly,
  });
  pass.warnings.push(...built.warnings);
  const a: Assigned = { db, config: built.config, flag };
  const ready = planInit(pass, a) ?? planLocalData(pass, a);
  if ("actions" in ready) return ready;
  return planSwitchoverStop(pass, ready) ?? planRoleChange(pass, ready) ?? planSteadyState(pass, ready);
}

/**
 * Identity and local state: the keeper is in the view, a db is assigned to it, the view knows
 * this keeper process, and no init was left half done. Returns the db, or the plan that ends here.
 */
function planIdentity(pass: Pass): KeeperPlan | { db: DB } {
  const { cd, settings, local } = pass;
  const keeper = cd.keepers[settings.uid];
  if (!keeper) {
    pass.note(`keeper ${settings.uid} is not in the cluster view yet: waiting for the sentinel to add it`);
    return pass.done(null);
  }
  const db = Object.values(cd.dbs).find((d) => d.spec.keeperUID === settings.uid) ?? null;
  if (!db) {
    pass.note(`no db is assigned to keeper ${settings.uid}${local.running ? ": stopping postgres" : ""}`);
    return pass.done(null, pass.stopIfRunning("no db is assigned to this keeper"));
  }
  if (keeper.status.bootUUID !== settings.bootUUID) {
    // The view was computed before the sentinel saw this keeper process: acting on it could
    // undo a decision the sentinel took without knowing we restarted.
    if (local.paused && local.running) {
      // Paused: nothing fails over and nothing is reassigned, so the instance a keeper restart
      // found running keeps serving as it is (issue 17: a keeper restart stops PostgreSQL no
      // longer than the restart itself).
      pass.note(`the cluster view does not know this keeper process yet (bootUUID): the cluster is paused, so postgres keeps running as it is while waiting for the sentinel`);
      return pass.done(db);
    }
    pass.note(`the cluster view does not know this keeper process yet (bootUUID): waiting for the sentinel`);
    return pass.done(db, pass.stopIfRunning("the sentinel has not seen this keeper process yet"));
  }
  if (local.dbState?.Initializing) {
    pass.note(`the init or resync of db ${local.dbState.UID} did not finish: wiping the half-made data dir to start again`);
    return pass.done(db, [...pass.stopIfRunning("an unfinished init must be redone"), { kind: "wipe", why: `unfinished init of db ${local.dbState.UID}` }]);
  }
  return { db };
}

/**
 * stolon's rule for a synchronous master that was down: on restart it lets in only the
 * superuser and replication until its synchronous standbys are in sync again, so no client
 * sees a commit that was written locally but never acknowledged. Returns whether pg_hba.conf
 * is to be internal-only and the flag change to record.
 */
function syncMasterGate(pass: Pass, db: DB): { internalOnly: boolean; flag: KeeperAction | null } {
  const { local } = pass;
  const syncMaster = db.spec.role === "master" && db.spec.synchronousReplication;
  const flag: KeeperAction | null = local.internalOnly && !syncMaster ? { kind: "set-internal-only", on: false } : null;
  const internalOnly = local.internalOnly === true && syncMaster;
  if (syncMaster && local.dbState?.UID === db.uid && local.initialized && !local.running && !local.standbySignal) {
    pass.note(`db ${db.uid} is a synchronous master starting again: only the superuser and replication may connect until its synchronous standbys are in sync`);
    return { internalOnly: true, flag: { kind: "set-internal-only", on: true } };
  }
  if (internalOnly && local.running) {
    const wanted = db.spec.synchronousStandbys ?? [];
    const missing = wanted.filter((u) => !(local.inSyncStandbys ?? []).includes(u));
    if (missing.length === 0) {
      pass.note(`the synchronous standbys of db ${db.uid} are in sync: clients may connect again`);
      return { internalOnly: false, flag: { kind: "set-internal-only", on: false } };
    }
    pass.note(`waiting for synchronous standbys ${missing.join(", ")} to be in sync before letting clients in`);
  }
  return { internalOnly, flag };
}

/** How each initMode brings a db that is not yet in this data dir here. */
const INIT_BY_MODE: Record<string, (pass: Pass, a: Assigned, was: string) => KeeperPlan> = {
  new: initNew,
  existing: initExisting,
  resync: initResync,
  pitr: initPitr,
};

/** Init per mode: the data dir does not hold the assigned db yet. Hands on when it does. */
function planInit(pass: Pass, a: Assigned): KeeperPlan | null {
  const { local } = pass;
  const { db } = a;
  if (local.dbState?.UID === db.uid) return null;
  const was = local.dbState?.UID ? `db ${local.dbState.UID}` : "no db";
  const init = Object.hasOwn(INIT_BY_MODE, db.spec.initMode) ? INIT_BY_MODE[db.spec.initMode] : undefined;
  if (init) return init(pass, a, was);
  return pass.wait(
    db,
    `db ${db.uid} is assigned with initMode ${db.spec.initMode} but this data dir holds ${was}: refusing to guess; the sentinel must assign a db to resync`,
  );
}

function initNew(pass: Pass, { db, config }: Assigned, was: string): KeeperPlan {
  if ("wait" in config) return pass.wait(db, config.wait);
  const v = replaceVerdict(pass.cd, pass.settings, pass.local, db);
  if (!v.allowed) return pass.refuse(db, `an initdb for db ${db.uid}`, v.why);
  pass.note(`db ${db.uid} is new here (this data dir held ${was}): initializing a new database with initdb, as ${v.why}`);
  return pass.done(db, [{ kind: "init-new", db, config }]);
}

/**
 * A pitr init (stolon's): the data dir is replaced as for `new` (the same safety rule), the
 * dataRestoreCommand fills it, and an archive recovery brings it to the target. A restore that
 * failed here is not run again for the same db: a loop of restores would be worse than waiting,
 * and the sentinel decides (another keeper, or the operator).
 */
function initPitr(pass: Pass, { db, config }: Assigned, was: string): KeeperPlan {
  if (pass.local.pitrFailedFor === db.uid)
    return pass.wait(db, `the pitr restore of db ${db.uid} failed on this keeper: not run again for this db; waiting for the sentinel (another keeper or a new db) or the operator`);
  if ("wait" in config) return pass.wait(db, config.wait);
  const command = db.spec.pitrConfig?.dataRestoreCommand;
  if (!command) return pass.wait(db, `db ${db.uid} has initMode pitr but no pitrConfig.dataRestoreCommand: nothing to restore from`);
  const v = replaceVerdict(pass.cd, pass.settings, pass.local, db);
  if (!v.allowed) return pass.refuse(db, `a pitr restore for db ${db.uid}`, v.why);
  const recovery = pitrRecovery(pass, db, config);
  pass.note(`db ${db.uid} is to be restored here (this data dir held ${was}): running its dataRestoreCommand, then ${recovery.how}, as ${v.why}`);
  return pass.done(db, [{ kind: "init-pitr", db, command, recoveryConfig: recovery.config, config }]);
}

/**
 * The configuration of a pitr init's recovery, and how it ends. A db that follows an external
 * primary (a standby cluster's leader) recovers with its own standby configuration. A master
 * recovers with recovery.signal, the restore_command and the target, and a pg_hba.conf that lets
 * only the keeper in; without a restore_command there is no archive to read: PostgreSQL replays
 * the WAL the backup holds and starts (no recovery.signal, which would need one).
 */
function pitrRecovery(pass: Pass, db: DB, config: DesiredConfig): { config: DesiredConfig; how: string } {
  if (config.standby) return { config, how: "following its external primary as a standby" };
  const pitr = db.spec.pitrConfig ?? {};
  const restoreCommand = pitr.archiveRecoverySettings?.restoreCommand;
  const archiveRecovery = pitrRecoveryParameters({ restoreCommand, targets: restoreCommand ? pitr.recoveryTargetSettings : null });
  const built = desiredConfig({ cd: pass.cd, db, settings: pass.settings, archiveRecovery: restoreCommand ? archiveRecovery : null });
  if ("wait" in built.config) return { config, how: "starting it" };
  const recoveryConfig = { ...built.config, hba: renderRecoveryHba(pass.settings.su.username), recovery: !!restoreCommand };
  if (!restoreCommand) return { config: recoveryConfig, how: "replaying the WAL the backup holds (no archiveRecoverySettings.restoreCommand: no archive, no target)" };
  const target = Object.entries(archiveRecovery).find(([k]) => k.startsWith("recovery_target") && k !== "recovery_target_action" && k !== "recovery_target_timeline");
  const to = target ? `${target[0]} ${target[1]}` : "the end of the archive";
  return { config: recoveryConfig, how: `an archive recovery to ${to}, promoted there` };
}

function initExisting(pass: Pass, { db, config }: Assigned): KeeperPlan {
  if (!pass.local.initialized)
    return pass.wait(db, `db ${db.uid} has initMode existing but this data dir holds no database: nothing to take over`);
  if ("wait" in config) return pass.wait(db, config.wait);
  pass.note(`db ${db.uid} takes over the existing database in this data dir`);
  return pass.done(db, [{ kind: "init-existing", db, config }]);
}

function initResync(pass: Pass, { db, config }: Assigned): KeeperPlan {
  if ("wait" in config) return pass.wait(db, config.wait);
  const { cd, settings, local } = pass;
  const followed = followedDb(cd, db);
  const source = dbAddress(followed);
  if (!followed || !source) return pass.wait(db, `db ${db.uid} must be copied from its master, which has not reported its address yet: waiting`);
  const rewindSource = dbAddress(masterDb(cd) ?? null);
  const rewind = db.spec.usePgrewind ? rewindPossible(pass, db, followed, rewindSource) : false;
  // pg_rewind stays allowed for a former master: it keeps what both sides share and drops
  // only what the new master never had. A full copy replaces everything.
  const v = replaceVerdict(cd, settings, local, db);
  if (!v.allowed && !rewind) return pass.refuse(db, `a full copy for db ${db.uid}`, v.why);
  const how = rewind
    ? v.allowed
      ? "rewinding the local data with pg_rewind (a full copy if that fails)"
      : `rewinding the local data with pg_rewind, and no full copy if that fails: ${v.why}`
    : "copying it with pg_basebackup beside the local data, which the copy replaces once complete";
  pass.note(`db ${db.uid} must follow db ${followed.uid} at ${source.host}:${source.port}: ${how}`);
  return pass.done(db, [{ kind: "resync", db, source, slot: slotName(db.uid), rewind, rewindSource: rewind ? rewindSource : null, copy: v.allowed, config }]);
}

/** pg_rewind needs the same database system and the superuser on the master; notes why not. */
function rewindPossible(pass: Pass, db: DB, followed: DB, rewindSource: Source | null): boolean {
  const { settings, local } = pass;
  const why =
    local.rewindFailedFor === db.uid
      ? "it failed a moment ago for this db"
      : !local.initialized
        ? "there is no local data"
        : local.systemID === null || local.systemID !== followed.status.systemdID
          ? "the local data belongs to another database system"
          : !rewindSource
            ? "the master's address is unknown"
            : settings.su.authMethod === "md5" && !settings.su.hasPassword
              ? "there is no superuser password"
              : null;
  if (why !== null) pass.note(`pg_rewind not tried: ${why}`);
  return why === null;
}

/**
 * The assigned db's data is here (planInit handed on): it must still be, and its configuration
 * must be known. Returns what the next steps work on, or the plan that ends here.
 */
function planLocalData(pass: Pass, a: Assigned): KeeperPlan | Ready {
  const { db, config } = a;
  const dbState = pass.local.dbState;
  if (!pass.local.initialized || !dbState) {
    pass.note(`the data of db ${db.uid} is gone from this data dir: waiting for the sentinel to assign a new db`);
    return pass.done(db, pass.stopIfRunning("the data dir is gone"));
  }
  if ("wait" in config) return pass.wait(db, config.wait);
  return { ...a, config, dbState };
}

/**
 * A switchover asks the master to stop (DBSpec.stopForSwitchover): a fast shutdown, after which
 * PostgreSQL stays down while the request is set, whatever else the view says. Once pg_control
 * shows a clean shutdown, its checkpoint location is what the keeper reports: the last record of
 * this master's WAL, which the target must have received before it is promoted. A stop that was
 * not clean (an immediate shutdown, a crash) has no such point: nothing is reported, and the
 * sentinel rolls the switchover back at its timeout (the master then starts again, with crash
 * recovery). Hands on when no switchover asks this db to stop.
 */
function planSwitchoverStop(pass: Pass, { db }: Ready): KeeperPlan | null {
  const id = db.spec.stopForSwitchover;
  if (id === undefined || db.spec.role !== "master") return null;
  const { local } = pass;
  if (local.running) {
    pass.note(`switchover ${id}: stopping postgres of master db ${db.uid} (fast shutdown); it stays down until the switchover moves on or is rolled back`);
    return pass.done(db, [{ kind: "stop-for-switchover", id }]);
  }
  const c = local.control;
  if (local.standbySignal || !c) {
    const why = local.standbySignal ? "the local data is a standby's (standby.signal), not a stopped primary" : "pg_control could not be read";
    return pass.wait(db, `switchover ${id}: postgres of db ${db.uid} is down but no stop position can be reported: ${why}`);
  }
  if (!c.cleanShutdown)
    return pass.wait(
      db,
      `switchover ${id}: postgres of db ${db.uid} is down but its last stop was not clean (pg_control: "${c.state}"), so there is no shutdown checkpoint to report; it stays down until the switchover is rolled back`,
    );
  pass.stoppedForSwitchover = { id, lsn: c.checkpointLsn };
  return pass.wait(db, `switchover ${id}: postgres of db ${db.uid} stopped cleanly, shutdown checkpoint at ${formatLsn(c.checkpointLsn)} (timeline ${c.timelineID}); it stays down`);
}

/**
 * A stopped former primary (no standby.signal) that the view makes a standby of the same db uid:
 * the old master of a switchover, which the sentinel turns into a standby of the new master once
 * it promotes it. PostgreSQL can follow the new master as it is, with no pg_rewind and no copy,
 * when its last stop was clean and the new master's timeline forked off after that shutdown
 * checkpoint (the new master received it: everything this node wrote is there, so dbstate's
 * WasMaster goes too). Until the new master reports its new timeline this waits; a fork before
 * the checkpoint means this data holds WAL the new master lacks: the resync step decides (pg_rewind,
 * or the operator's leave for a copy). Hands on (the plain start as a standby) when the stop was
 * not clean or pg_control is unknown, as before issue 17: PostgreSQL itself refuses to stream a
 * timeline that forked before its WAL ends, and the sentinel replaces such a standby.
 */
function planFormerMasterFollows(pass: Pass, a: Ready): KeeperPlan | null {
  const { local, cd } = pass;
  const { db } = a;
  const c = local.control;
  const followed = followedDb(cd, db);
  if (!c?.cleanShutdown || !followed || db.spec.followConfig?.type !== "internal") return null;
  const at = `stopped cleanly at ${formatLsn(c.checkpointLsn)} on timeline ${c.timelineID}`;
  if ((followed.status.timelineID ?? 0) <= c.timelineID)
    return pass.wait(db, `db ${db.uid} (${at}) is to follow db ${followed.uid}, which has not reported a newer timeline yet: waiting for its promotion`);
  const fork = (followed.status.timelinesHistory ?? []).find((h) => h.timelineID === c.timelineID);
  if (fork !== undefined && (fork.switchPoint ?? 0) > c.checkpointLsn) {
    pass.note(
      `db ${db.uid} (${at}) follows db ${followed.uid}, whose timeline ${followed.status.timelineID} forked off at ${formatLsn(fork.switchPoint ?? 0)}, after this node's last record: starting it as a standby, no pg_rewind and no copy needed`,
    );
    return pass.done(db, [
      { kind: "forget-was-master", why: `db ${followed.uid} has all WAL this node wrote (fork at ${formatLsn(fork.switchPoint ?? 0)})` },
      { kind: "write-config", config: a.config },
      { kind: "start" },
    ]);
  }
  const where = fork === undefined ? `timeline ${c.timelineID} is not in its history` : `its timeline forked off at ${formatLsn(fork.switchPoint ?? 0)}, before this node's last record`;
  pass.note(`db ${db.uid} (${at}) cannot simply follow db ${followed.uid}: ${where}`);
  return initResync(pass, a);
}

/** Role changes: promotion of a standby, start of a stopped instance, a primary that should be a standby. */
function planRoleChange(pass: Pass, ready: Ready): KeeperPlan | null {
  const { db, config, flag } = ready;
  const { local } = pass;
  const changed = configDiffers(local, config);
  const writeIfChanged: KeeperAction[] = changed.length ? [{ kind: "write-config", config }] : [];
  if (db.spec.role === "master") {
    if (local.standbySignal) return planPromotion(pass, db, config);
    if (!local.running) {
      pass.note(`db ${db.uid} is master and postgres is not running: starting it`);
      return pass.done(db, [...(flag ? [flag] : []), ...writeIfChanged, { kind: "start" }]);
    }
    return null;
  }
  if (!local.standbySignal && local.running)
    return pass.wait(
      db,
      `db ${db.uid} is to be a standby but the local postgres runs as a primary: not demoting it in place (that could hide diverged data); the sentinel must assign a db to resync`,
    );
  if (!local.running && !local.standbySignal) {
    const follows = planFormerMasterFollows(pass, ready);
    if (follows) return follows;
  }
  if (!local.running) {
    pass.note(`db ${db.uid} is a standby and postgres is not running: starting it`);
    return pass.done(db, [...writeIfChanged, { kind: "start" }]);
  }
  return null;
}

/** A standby that is to become master. */
function planPromotion(pass: Pass, db: DB, config: DesiredConfig): KeeperPlan {
  if (!pass.local.running) {
    // Start it as the standby it is and promote it then: starting without standby.signal
    // would make it a primary on the old timeline.
    pass.note(`db ${db.uid} is to become master and is a stopped standby: starting it as a standby first`);
    return pass.done(db, [{ kind: "start" }]);
  }
  pass.note(`db ${db.uid} is to become master: promoting the standby`);
  // The master's configuration first (kept in standby mode until the promotion), so that
  // the new master never runs a moment without its synchronous_standby_names.
  const asStandby = { ...config, standby: true };
  const before: KeeperAction[] = configDiffers(pass.local, asStandby).length
    ? [{ kind: "write-config", config: asStandby }, { kind: "reload", why: "the master's configuration, before the promotion" }]
    : [];
  return pass.done(db, [...before, { kind: "promote" }]);
}

/** Steady state: the running instance has its role; configuration, slots, restart, generation. */
function planSteadyState(pass: Pass, { db, config, flag, dbState }: Ready): KeeperPlan {
  const { cd, local } = pass;
  const changed = configDiffers(local, config);
  const actions: KeeperAction[] = flag ? [flag] : [];
  if (changed.length > 0) {
    pass.note(`${changed.join(", ")} changed: writing the configuration and reloading`);
    actions.push({ kind: "write-config", config }, { kind: "reload", why: `${changed.join(", ")} changed` });
  }
  // A standby cluster's leader (following an external primary) serves its cluster's standbys as
  // a master does: their slots live on it (PostgreSQL creates physical slots on a standby).
  const masterType = db.spec.role === "master" || db.spec.followConfig?.type === "external";
  const slots = masterType ? [...(db.spec.followers ?? []), ...(db.spec.additionalReplicationSlots ?? [])].map(slotName) : [];
  actions.push({ kind: "sync-slots", slots: [...new Set(slots)].sort() });
  if (local.pendingRestart.length > 0 && changed.length === 0) {
    const list = local.pendingRestart.join(", ");
    if (cd.cluster.spec.automaticPgRestart) {
      pass.note(`parameters ${list} need a restart and automaticPgRestart is on: restarting postgres`);
      actions.push({ kind: "restart", why: `pending restart for ${list}` });
    } else {
      pass.warnings.push(`parameters ${list} need a restart to take effect (automaticPgRestart is off)`);
    }
  }
  if (dbState.Generation !== db.generation) pass.note(`db ${db.uid} converged to generation ${db.generation}`);
  actions.push({ kind: "save-generation", db, clusterUID: cd.cluster.uid, systemID: local.systemID });
  return pass.done(db, actions);
}
