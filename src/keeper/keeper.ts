/**
 * The keeper process: sets up its data dir (identity, lock, OS user), then runs three loops
 * (src/lib/run-loop.ts, on the injected clock) until the signal aborts:
 *
 *  - reconcile: read the cluster view, observe the local PostgreSQL, planKeeper(), execute. Every
 *    sleepInterval, at once after a pass that changed something, and whenever the cluster data
 *    changes in etcd (watch).
 *  - report: every KEEPER_REPORT_MS, renew the keeper's lease and publish KeeperInfo (with the
 *    PostgreSQL state) when it changed (report-info.ts), and at once when a pass asks
 *    (reportTrigger). It runs beside the reconcile loop, so a long pg_basebackup does not silence
 *    it. It starts before anything else, so the sentinel sees this keeper process while it stops a
 *    PostgreSQL left running by an earlier one.
 *  - fence: every FENCE_CHECK_MS, fences a master whose lease renewals have failed for too long.
 *
 * On abort the loops end, a fencing under way is awaited, PostgreSQL is stopped (fast), the
 * keeper info deleted and the lock released. What the keeper knows at any moment is `status()`
 * (src/keeper/status.ts), the source of its health, its metrics and its Patroni endpoints.
 */
import { randomUUID } from "node:crypto";
import { accessSync, constants, existsSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  activePause,
  DEFAULT_SPEC_TIMINGS,
  FENCE_CHECK_MS,
  KEEPER_POSITION_MS,
  KEEPER_REPORT_MS,
  KEEPER_STATE_WAIT_MS,
  keeperFenceAfterMs,
  keeperLeaseMs,
  masterDb,
  POSTGRES_STATE_ZEROS,
  SPEC_DEFAULTS,
  specTimings,
  withDefaults,
  type ClusterData,
  type DB,
  type KeeperInfo,
  type KeeperInit,
  type PostgresBinaryVersion,
  type PostgresState,
} from "../cluster/index.ts";
import type { Clock } from "../lib/clock.ts";
import { ClusterDataError, ConfigError, describeError, StolonError } from "../lib/errors.ts";
import { UnsafePathError } from "../lib/files.ts";
import { loopsLive, type Check, type Component, type HealthReport } from "../lib/health.ts";
import { newUid } from "../lib/ids.ts";
import type { Logger } from "../lib/log.ts";
import { Loop, SayOnce, type TickObserver } from "../lib/run-loop.ts";
import { Trigger } from "../lib/trigger.ts";
import { BunCommandRunner, lookupUserByName, MANAGED_CONF_HEADER, PgManager, type ControlData, type LocalPgState, type OsUser } from "../postgres/index.ts";
import type { Store } from "../store/store.ts";
import type { KeeperConfig } from "./config.ts";
import type { KeeperFigures } from "./metrics.ts";
import type { KeeperStatus } from "./status.ts";
import { prepareDataDir, prepareSocketDir, removeLeftovers } from "./data-dir.ts";
import {
  loadDbState,
  loadKeeperState,
  loadPitrFailure,
  lockDataDir,
  removePitrFailure,
  resolveKeeperUid,
  saveDbState,
  saveKeeperState,
  savePitrFailure,
  type DbState,
} from "./local-state.ts";
import { isStolonSlot, slotName } from "../cluster/slot-names.ts";
import { runPitrInit } from "./pitr.ts";
import { nextKeeperInfo, type PublishedInfo } from "./report-info.ts";
import { confirmWipeCommand, planKeeper, type DesiredConfig, type KeeperAction, type KeeperPlan, type KeeperSettings, type LocalObservation } from "./plan.ts";

/** Programs the keeper runs; all must be present in the bin dir. */
const PG_PROGRAMS = ["postgres", "initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "pg_controldata"];
const MIN_PG_MAJOR = 13;
/** A last known PostgreSQL state older than this is reported as unhealthy. */
const STATE_STALE_MS = 2000;
/** A pg_rewind that failed for a former master (no full copy allowed) is tried again after this. */
const REWIND_RETRY_MS = 30_000;
/**
 * /health turns 503 when the report loop has not finished a pass for this long: it runs every
 * KEEPER_REPORT_MS and each pass is bounded (KEEPER_STATE_WAIT_MS, the store's timeout). The
 * reconcile loop is not judged: a pass can rightly take hours (a pg_basebackup).
 */
const REPORT_STUCK_MS = Math.max(3000, 3 * KEEPER_REPORT_MS);
/** Actions after which the pass goes on as planned: any other changes the instance's shape. */
const NON_STRUCTURAL: ReadonlySet<KeeperAction["kind"]> = new Set(["sync-slots", "save-generation", "write-config", "reload", "set-internal-only", "forget-was-master"]);
/**
 * The report interval of the switchover's target from the master's stop until the promotion
 * (phases stopping and catching-up): the sentinel promotes once the target reports a position past
 * the old master's shutdown checkpoint, so every report saved here shortens the write gap. A few
 * cheap queries more per second on one standby, for a few seconds.
 */
const SWITCHOVER_REPORT_MS = 100;

/** Finds the PostgreSQL bin dir: the flag, else PATH, else the newest /usr/lib/postgresql/<v>/bin. */
export function findPgBinDir(flag: string | undefined, pathEnv = process.env.PATH ?? ""): string {
  const hasAll = (dir: string) => PG_PROGRAMS.every((p) => isExecutable(join(dir, p)));
  if (flag !== undefined) {
    const missing = PG_PROGRAMS.filter((p) => !isExecutable(join(flag, p)));
    if (missing.length > 0) throw new ConfigError(`--pg-bin-path ${flag}: missing PostgreSQL programs: ${missing.join(", ")}`);
    return flag;
  }
  for (const dir of pathEnv.split(":")) if (dir && hasAll(dir)) return dir;
  let versions: string[] = [];
  try {
    versions = readdirSync("/usr/lib/postgresql").filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch {
    // not a Debian layout
  }
  for (const v of versions) if (hasAll(`/usr/lib/postgresql/${v}/bin`)) return `/usr/lib/postgresql/${v}/bin`;
  throw new ConfigError(
    `PostgreSQL programs (${PG_PROGRAMS.join(", ")}) not found in PATH or /usr/lib/postgresql/*/bin: install PostgreSQL (apt-get install postgresql-15) or set --pg-bin-path`,
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * What the Keeper uses of PgManager: a unit test gives the Keeper a fake of exactly this, and
 * PgManager is checked to satisfy it wherever a KeeperRuntime is built.
 */
export type KeeperPg = Pick<
  PgManager,
  | "socketDir"
  | "dataDir"
  | "newDataDir"
  | "oldDataDir"
  | "isInitialized"
  | "isRunning"
  | "hasStandbySignal"
  | "hasRecoverySignal"
  | "systemId"
  | "controlData"
  | "neutraliseAutoConf"
  | "readText"
  | "writeOwned"
  | "writeConfig"
  | "writeReplicationPassfile"
  | "wipe"
  | "initdb"
  | "start"
  | "stop"
  | "restart"
  | "reload"
  | "waitReady"
  | "promote"
  | "setupRoles"
  | "setupRolesAfterRestore"
  | "recoveryProgress"
  | "dataRestore"
  | "closeSql"
  | "logTail"
  | "fileParameters"
  | "pendingRestart"
  | "inSyncStandbys"
  | "physicalSlots"
  | "createSlot"
  | "dropSlot"
  | "fence"
  | "setWatchdog"
  | "state"
  | "rewind"
  | "basebackup"
  | "swapInNewDataDir"
  | "removeNewDataDir"
  | "removeOldDataDir"
>;

export interface KeeperRuntime {
  uid: string;
  dataDir: string;
  pg: KeeperPg;
  binaryVersion: PostgresBinaryVersion;
  release(): void;
}

/**
 * Start-up: everything that can be wrong with the flags, the data dir or the machine is found
 * here and reported as a ConfigError or LocalStateError before any loop runs.
 */
export async function prepareKeeper(cfg: KeeperConfig, log: Logger): Promise<KeeperRuntime> {
  let osUser: OsUser | null = null;
  if (cfg.pgOsUser !== null) {
    osUser = lookupUserByName(cfg.pgOsUser);
    if (!osUser) throw new ConfigError(`--pg-os-user: OS user "${cfg.pgOsUser}" does not exist (create it, e.g. with the postgresql package, or name another)`);
    if (osUser.uid === 0) throw new ConfigError(`--pg-os-user: "${cfg.pgOsUser}" is root; PostgreSQL refuses to run as root`);
  }
  const binDir = findPgBinDir(cfg.pgBinPath);
  const runner = new BunCommandRunner(osUser);

  // The layout and who owns what: see data-dir.ts.
  const dataDir = prepareDataDir(cfg.dataDir, osUser);
  if (osUser) {
    try {
      await runner.run(["/usr/bin/test", "-x", dataDir, "-a", "-w", join(dataDir, "run")], { timeoutMs: 10_000 });
    } catch {
      throw new ConfigError(
        `--data-dir ${dataDir}: the PostgreSQL OS user ${osUser.name} cannot reach it; every parent directory must be searchable by that user (chmod o+x)`,
      );
    }
  }

  const lock = cfg.disableDataDirLocking ? { release() {} } : lockDataDir(dataDir);
  try {
    removeLeftovers(dataDir);
    const saved = loadKeeperState(dataDir);
    const uid = resolveKeeperUid(saved, cfg.uid, newUid);
    if (!saved) saveKeeperState(dataDir, { UID: uid, ClusterUID: "" });

    const socketDir = prepareSocketDir(dataDir, uid, osUser, tmpdir());
    const pg = new PgManager({
      binDir,
      stateDir: dataDir,
      socketDir,
      port: cfg.pgPort,
      runner,
      su: { username: cfg.su.username, password: cfg.su.password },
      repl: { username: cfg.repl.username, password: cfg.repl.password },
      log,
    });
    const binaryVersion = await pg.binaryVersion();
    if (binaryVersion.Maj < MIN_PG_MAJOR)
      throw new ConfigError(`PostgreSQL ${binaryVersion.Maj} in ${binDir} is not supported: PostgreSQL ${MIN_PG_MAJOR} or newer is required`);
    log.info(`keeper ${uid}: data dir ${dataDir}, PostgreSQL ${binaryVersion.Maj}.${binaryVersion.Min} in ${binDir}${osUser ? `, run as OS user ${osUser.name}` : ""}`);
    return { uid, dataDir, pg, binaryVersion, release: () => lock.release() };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** What the last planned cluster data said about this keeper (kept for status(); a reference, not a copy). */
interface View {
  cd: ClusterData;
  /** The db the view assigns to this keeper. */
  db: DB | null;
}

/** The last PostgreSQL state the report loop obtained, with the standby's replay figures. */
interface Observed {
  st: PostgresState;
  /** A standby's last replayed position (bytes); null on a primary or when unknown. */
  replayLsn: number | null;
  /** A standby's replay delay (s); null on a primary or when unknown. */
  replayLagSeconds: number | null;
}

export class Keeper implements Component {
  private readonly bootUUID = randomUUID();
  private readonly settings: KeeperSettings;
  private readonly reconcileTrigger: Trigger;
  private readonly reportTrigger: Trigger;
  private readonly loops: { reconcile: Loop; report: Loop; fence: Loop };
  private readonly say: SayOnce;
  private dbState: DbState | null;
  private clusterUID: string;
  // Until a spec is read, the default spec's timings.
  private sleepIntervalMs = DEFAULT_SPEC_TIMINGS.sleepIntervalMs;
  private requestTimeoutMs = DEFAULT_SPEC_TIMINGS.requestTimeoutMs;
  private dbWaitReadyTimeoutMs = DEFAULT_SPEC_TIMINGS.dbWaitReadyTimeoutMs;
  private initTimeoutMs = DEFAULT_SPEC_TIMINGS.initTimeoutMs;
  private syncTimeoutMs = DEFAULT_SPEC_TIMINGS.syncTimeoutMs;
  private failIntervalMs = DEFAULT_SPEC_TIMINGS.failIntervalMs;
  private maxStandbyLagBytes: number = SPEC_DEFAULTS.maxStandbyLag;
  /**
   * Clock time when the last lease renewal that etcd acknowledged was sent: the lease cannot
   * expire, nor can the sentinel read it as silent, before this (the fence counts from it).
   */
  private lastRenewalSent = 0;
  /** The info last handed to the store; null before the first successful publish. */
  private published: PublishedInfo | null = null;
  private fenced = false;
  private internalOnly = false;
  private fencing: Promise<void> | null = null;
  /** What the last plan said to report as PostgresState.stoppedForSwitchover. */
  private stoppedForSwitchover: { id: string; lsn: number } | null = null;
  /** This keeper's db is the target of a switchover whose master is stopping or stopped: report often. */
  private switchoverTarget = false;
  private stateInFlight: Promise<Observed> | null = null;
  /** `at` is clock time. */
  private lastState: (Observed & { at: number }) | null = null;
  /** The last pg_rewind that failed for a db the plan would not let a full copy replace (`at`: clock time). */
  private rewindFailure: { dbUid: string; at: number } | null = null;
  /** The pitr init of this db uid failed: not run again for it (kept in the pitrfailure file). */
  private pitrFailedFor: string | null = null;
  /** KeeperInfo.init: the pitr init under way or failed; null when none. */
  private init: KeeperInit | null = null;
  private view: View | null = null;
  /** Wall-clock ms of the last cluster data read that could be used, 0 before. */
  private clusterDataValidAt = 0;
  /** The last plan had a reload to do / a restart to do or parameters waiting for one. */
  private needs = { reload: false, restart: false };
  /** Wall-clock ms of the end of the last reconcile pass that succeeded, 0 before. */
  private lastSyncAt = 0;
  /** Wall-clock ms when the termination signal came, 0 before. */
  private shutdownAt = 0;
  /** run() has started its loops (before: stopping a leftover postmaster, recovering the data dir). */
  private started = false;

  constructor(
    private readonly cfg: KeeperConfig,
    private readonly rt: KeeperRuntime,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly clock: Clock,
    observe?: TickObserver,
  ) {
    this.dbState = loadDbState(rt.dataDir);
    this.clusterUID = loadKeeperState(rt.dataDir)?.ClusterUID ?? "";
    const failure = loadPitrFailure(rt.dataDir);
    this.pitrFailedFor = failure?.dbUid ?? null;
    this.init = failure;
    this.settings = {
      uid: rt.uid,
      bootUUID: this.bootUUID,
      pgListenAddress: cfg.pgListenAddress,
      pgPort: cfg.pgPort,
      socketDir: rt.pg.socketDir,
      su: { username: cfg.su.username, authMethod: cfg.su.authMethod, hasPassword: cfg.su.password !== undefined },
      repl: { username: cfg.repl.username, authMethod: cfg.repl.authMethod },
      trustOnNetwork: cfg.trustOnNetwork,
      replPassfile: join(rt.dataDir, "pgpass"),
    };
    this.say = new SayOnce(log);
    this.reconcileTrigger = new Trigger(clock);
    this.reportTrigger = new Trigger(clock);
    this.loops = {
      reconcile: new Loop({
        name: "reconcile",
        intervalMs: () => this.sleepIntervalMs,
        trigger: this.reconcileTrigger,
        tick: async (signal) => {
          const again = await this.reconcile(signal);
          this.lastSyncAt = Date.now();
          return again;
        },
        errorLevel: "error",
        clock,
        log,
        observe,
      }),
      report: new Loop({
        name: "report",
        intervalMs: () => (this.switchoverTarget ? SWITCHOVER_REPORT_MS : KEEPER_REPORT_MS),
        // A fixed cadence: the fence counts from the start of the last report that landed, so a
        // slow one (etcd's disk, a saturated node) must not push the next one a whole period back.
        fromStart: true,
        trigger: this.reportTrigger,
        tick: () => this.report(),
        describe: (err) => `cannot publish the keeper info: ${describeError(err)}`,
        clock,
        log,
        observe,
      }),
      fence: new Loop({ name: "fence", intervalMs: () => FENCE_CHECK_MS, tick: () => this.fenceIfCut(), clock, log, observe }),
    };
  }

  /** Runs until the signal aborts, then stops PostgreSQL. */
  async run(signal: AbortSignal): Promise<void> {
    const onAbort = () => {
      if (this.shutdownAt === 0) this.shutdownAt = Date.now();
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    const pg = this.rt.pg;
    const { reconcile, report, fence } = this.loops;
    // Reports (and the fence that goes with them) start first: stopping a PostgreSQL left running
    // below can take seconds, and meanwhile its standbys lose their connection; a keeper the
    // sentinel could not see then would look like a dead master.
    const stopEarly = new AbortController();
    const early = AbortSignal.any([signal, stopEarly.signal]);
    const reporting = Promise.all([report.run(early), fence.run(early)]);
    let unwatch = () => {};
    try {
      if (pg.isRunning() && (await this.pausedAtStart())) {
        // Paused (issue 17): nothing fails over, so the instance keeps serving as it is; the plan
        // does not stop it while the sentinel learns this keeper process, and its watchdog is
        // armed when the pause ends (Postmaster.setWatchdog).
        this.log.info("the cluster is paused: the PostgreSQL instance left running by an earlier keeper process keeps running");
      } else if (pg.isRunning()) {
        // A postmaster this process did not start: left by an earlier keeper process of ours, or by
        // stolon's keeper when it was SIGKILLed (on SIGTERM it stops PostgreSQL itself). It is
        // stopped (fast) and started again by the plan as our child, under our configuration: a
        // process we did not start has no watchdog and no exit status for us. stolon's keeper does
        // the same when it starts. For a standby taken over from stolon this is the one restart
        // that applying our configuration (socket dir, primary_conninfo's passfile) needs anyway.
        this.log.info("stopping the PostgreSQL instance left running by an earlier keeper process (ours or stolon's): the plan starts it again as this keeper's child");
        await pg.stop();
      }
      await this.recoverDataDir();
      unwatch = this.store.watchClusterData(
        () => this.reconcileTrigger.fire(),
        (err) => this.log.debug(`watch: ${describeError(err)}`),
      );
      this.started = true;
      await reconcile.run(signal);
    } finally {
      stopEarly.abort();
      await reporting;
      await this.fencing;
      unwatch();
      this.log.info("stopping PostgreSQL");
      try {
        await pg.stop();
      } catch (err) {
        this.log.error(`cannot stop PostgreSQL: ${describeError(err)}`);
      }
      // Gone at once for the sentinel, rather than when the lease expires.
      await this.store.deleteKeeperInfo(this.rt.uid).catch((err) => this.log.debug(`cannot delete the keeper info: ${describeError(err)}`));
      this.rt.release();
    }
  }

  /** The cluster data says paused (one read, bounded by the store's own timeout; unreadable: not paused). */
  private async pausedAtStart(): Promise<boolean> {
    try {
      const v = await this.store.getClusterData();
      return v !== null && activePause(v.clusterData, new Date()) !== null;
    } catch (err) {
      this.log.warn(`cannot read the cluster data to see whether the cluster is paused (taken as not paused): ${describeError(err)}`);
      return false;
    }
  }

  /** One pass. Returns true when it did something that calls for another pass right away. */
  private async reconcile(signal: AbortSignal): Promise<boolean> {
    let cd: ClusterData;
    try {
      const v = await this.store.getClusterData();
      if (!v) {
        this.say.say("notes", "info", ["no cluster data in the store yet (stolonctl init): waiting"]);
        return false;
      }
      cd = v.clusterData;
      this.clusterDataValidAt = Date.now();
    } catch (err) {
      if (err instanceof ClusterDataError) throw new StolonError("ECLUSTERDATA", `ignoring the cluster data: ${err.message}`, { cause: err });
      throw err;
    }
    if (cd.cluster.uid !== this.clusterUID) {
      this.clusterUID = cd.cluster.uid;
      saveKeeperState(this.rt.dataDir, { UID: this.rt.uid, ClusterUID: this.clusterUID });
      this.reportTrigger.fire();
    }
    const t = specTimings(cd.cluster.spec);
    this.sleepIntervalMs = t.sleepIntervalMs;
    this.requestTimeoutMs = t.requestTimeoutMs;
    this.dbWaitReadyTimeoutMs = t.dbWaitReadyTimeoutMs;
    this.initTimeoutMs = t.initTimeoutMs;
    this.syncTimeoutMs = t.syncTimeoutMs;
    this.failIntervalMs = t.failIntervalMs;
    this.maxStandbyLagBytes = withDefaults(cd.cluster.spec).maxStandbyLag;

    const local = await this.observe(cd);
    const plan = planKeeper({ cd, settings: this.settings, local });
    this.view = { cd, db: plan.db };
    this.forgetPitrFailure(cd);
    this.followSwitchover(cd, plan);
    this.needs = {
      reload: plan.actions.some((a) => a.kind === "reload"),
      restart: local.pendingRestart.length > 0 || plan.actions.some((a) => a.kind === "restart"),
    };
    this.say.say("notes", "info", plan.notes, "the plan changed:");
    this.say.say("warnings", "warn", plan.warnings);

    let structural = false;
    for (const action of plan.actions) {
      if (signal.aborted) return false;
      await this.execute(action, signal);
      if (!NON_STRUCTURAL.has(action.kind)) structural = true;
    }
    if (structural) this.reportTrigger.fire();
    // Paused: PostgreSQL may outlive this keeper (nothing fails over); else the watchdog stops it.
    this.rt.pg.setWatchdog(!local.paused);
    return structural;
  }

  /**
   * What the reports carry for a switchover: the stop position the plan found (published at once
   * when it changes), and whether this db is the target the sentinel waits for (reported every
   * SWITCHOVER_REPORT_MS, starting now).
   */
  private followSwitchover(cd: ClusterData, plan: KeeperPlan): void {
    const stop = plan.stoppedForSwitchover;
    const before = this.stoppedForSwitchover;
    this.stoppedForSwitchover = stop;
    const sw = cd.switchover;
    const target = !!sw && !!plan.db && sw.toDb === plan.db.uid && (sw.phase === "stopping" || sw.phase === "catching-up");
    const becameTarget = target && !this.switchoverTarget;
    this.switchoverTarget = target;
    if (becameTarget || before?.id !== stop?.id || before?.lsn !== stop?.lsn) this.reportTrigger.fire();
  }

  private async observe(cd: ClusterData): Promise<LocalObservation> {
    const pg = this.rt.pg;
    const initialized = pg.isInitialized();
    const running = pg.isRunning();
    const standbySignal = initialized && pg.hasStandbySignal();
    if (initialized) {
      const dropped = pg.neutraliseAutoConf();
      if (dropped) this.log.warn(`postgresql.auto.conf (ALTER SYSTEM) is not supported; dropped: ${dropped}`);
    }
    let pendingRestart: string[] = [];
    let inSyncStandbys: string[] = [];
    if (running) {
      try {
        pendingRestart = await pg.pendingRestart(this.requestTimeoutMs);
        if (this.internalOnly) inSyncStandbys = await pg.inSyncStandbys(this.requestTimeoutMs);
      } catch (err) {
        this.log.debug(`cannot read pending_restart or pg_stat_replication: ${describeError(err)}`);
      }
    }
    return {
      dbState: this.dbState,
      initialized,
      running,
      standbySignal,
      systemID: initialized ? await pg.systemId().catch(() => null) : null,
      postgresqlConf: initialized ? this.readConf("postgresql.conf") : null,
      hba: initialized ? this.readConf("pg_hba.conf") : null,
      pendingRestart,
      fenced: this.fenced,
      internalOnly: this.internalOnly,
      inSyncStandbys,
      // Not tried again for a while: a failure that repeats (no wal_log_hints, say) costs a
      // CHECKPOINT on the master each time; a passing one (the master restarting) is retried.
      rewindFailedFor: this.rewindFailure && this.clock.now() - this.rewindFailure.at < REWIND_RETRY_MS ? this.rewindFailure.dbUid : undefined,
      // A stopped primary only: a switchover's stop, or its old master about to follow the new one.
      control: initialized && !running && !standbySignal ? await this.readControlData() : null,
      paused: activePause(cd, new Date()) !== null,
      ...(this.pitrFailedFor !== null ? { pitrFailedFor: this.pitrFailedFor } : {}),
    };
  }

  private async readControlData(): Promise<ControlData | null> {
    try {
      return await this.rt.pg.controlData();
    } catch (err) {
      this.log.warn(`cannot read pg_control: ${describeError(err)}`);
      return null;
    }
  }

  /**
   * A configuration file to compare with the wanted one; one that is not a plain file of
   * PostgreSQL's user (a link, a FIFO: planted) reads as absent, so the plan writes ours over it.
   */
  private readConf(name: string): string | null {
    try {
      return this.rt.pg.readText(name);
    } catch (err) {
      if (!(err instanceof UnsafePathError)) throw err;
      this.log.warn(`${err.message}: it will be replaced`);
      return null;
    }
  }

  /** What dbstate records about the local data: its cluster, its system identifier, whether it was a master's. */
  private async dataIdentity(wasMaster: boolean): Promise<Pick<DbState, "ClusterUID" | "SystemID" | "WasMaster">> {
    return { ClusterUID: this.clusterUID, SystemID: (await this.rt.pg.systemId()) ?? "", WasMaster: wasMaster };
  }

  private saveDbState(s: DbState): void {
    saveDbState(this.rt.dataDir, s);
    this.dbState = s;
  }

  private async execute(a: KeeperAction, signal: AbortSignal): Promise<void> {
    const pg = this.rt.pg;
    this.log.debug(`action ${a.kind}`);
    switch (a.kind) {
      case "stop":
        this.log.info(`stopping postgres: ${a.why}`);
        await pg.stop();
        return;
      case "stop-for-switchover":
        // pg_ctl stop -m fast: the checkpointer writes the shutdown checkpoint and the WAL senders
        // send everything up to it before they exit, so the standbys have this master's last record.
        // (If fast fails, stop() falls back to immediate: not clean, and the plan reports nothing.)
        this.log.info(`switchover ${a.id}: stopping postgres (fast shutdown); it stays down while the switchover needs it`);
        await pg.stop();
        return;
      case "forget-was-master":
        if (this.dbState?.WasMaster) this.saveDbState({ ...this.dbState, WasMaster: false });
        this.log.info(`this data no longer holds anything only it has: ${a.why}`);
        return;
      case "wipe":
        await pg.stop();
        this.log.warn(`removing the data dir: ${a.why}`);
        await pg.wipe();
        this.saveDbState({ UID: "", Generation: 0, Initializing: false, InitPGParameters: null });
        return;
      case "init-new":
        await this.initNew(a, signal);
        return;
      case "init-existing":
        await this.initExisting(a, signal);
        return;
      case "init-pitr":
        await this.initPitr(a, signal);
        return;
      case "resync":
        await this.resync(a, signal);
        return;
      case "write-config":
        if (a.config.standby) pg.writeReplicationPassfile();
        pg.writeConfig(a.config);
        return;
      case "start":
        // Recorded before the start: from then on this data may hold writes no other node has.
        if (!pg.hasStandbySignal()) this.markMaster();
        this.log.info("starting postgres");
        await pg.start(signal);
        await pg.waitReady(this.dbWaitReadyTimeoutMs, signal);
        return;
      case "reload":
        this.log.info(`reloading the configuration: ${a.why}`);
        await pg.reload();
        return;
      case "restart":
        this.log.info(`restarting postgres: ${a.why}`);
        await pg.restart(signal);
        await pg.waitReady(this.dbWaitReadyTimeoutMs, signal);
        return;
      case "promote":
        this.markMaster();
        this.log.info("promoting postgres to primary");
        await pg.promote(this.dbWaitReadyTimeoutMs);
        this.reportTrigger.fire();
        return;
      case "sync-slots":
        await this.syncSlots(a.slots);
        return;
      case "set-internal-only":
        this.internalOnly = a.on;
        return;
      case "save-generation":
        this.saveGeneration(a);
        return;
    }
  }

  /** initdb of a new db, its first start (roles created) and its dbstate. */
  private async initNew(a: KeeperAction & { kind: "init-new" }, signal: AbortSignal): Promise<void> {
    const pg = this.rt.pg;
    // Initializing first: from here on the data dir is half made, and an interrupted init is
    // wiped at the next start (planKeeper's first rule).
    this.saveDbState({ UID: a.db.uid, Generation: 0, Initializing: true, InitPGParameters: null, WasMaster: true });
    await pg.stop();
    this.log.warn(`removing the data dir for the initdb of db ${a.db.uid}`);
    await pg.wipe();
    const nc = a.db.spec.newConfig ?? {};
    await pg.initdb({ locale: nc.locale, encoding: nc.encoding, dataChecksums: nc.dataChecksums }, signal);
    const initParams = await this.firstStart(a.config, true, this.initTimeoutMs, signal);
    this.saveDbState({
      UID: a.db.uid,
      Generation: 0,
      Initializing: false,
      InitPGParameters: a.db.spec.includePreviousConfig ? initParams : null,
      ...(await this.dataIdentity(true)),
    });
    this.log.info(`db ${a.db.uid} initialized`);
  }

  /**
   * The pitr init (see pitr.ts). dbstate says Initializing until it is done, so an interrupted one
   * is wiped and redone; a failed one is wiped too but not run again for this db (pitrFailedFor).
   */
  private async initPitr(a: KeeperAction & { kind: "init-pitr" }, signal: AbortSignal): Promise<void> {
    const master = !a.config.standby;
    this.saveDbState({ UID: a.db.uid, Generation: 0, Initializing: true, InitPGParameters: null, WasMaster: master });
    const ctx = {
      pg: this.rt.pg,
      log: this.log,
      clock: this.clock,
      syncTimeoutMs: this.syncTimeoutMs,
      requestTimeoutMs: this.requestTimeoutMs,
      setInit: (init: KeeperInit) => {
        this.init = init;
        if (init.phase !== "recovering") this.reportTrigger.fire();
      },
    };
    if (!(await runPitrInit(ctx, a, signal))) {
      this.pitrFailedFor = a.db.uid;
      if (this.init?.phase === "failed") savePitrFailure(this.rt.dataDir, { ...this.init, phase: "failed" });
      return;
    }
    this.saveDbState({ UID: a.db.uid, Generation: 0, Initializing: false, InitPGParameters: null, ...(await this.dataIdentity(master)) });
    this.init = null;
  }

  /** A failed pitr init is reported, and not run again, while the view assigns that db to this keeper. */
  private forgetPitrFailure(cd: ClusterData): void {
    const uid = this.init?.dbUid ?? this.pitrFailedFor;
    if (uid === undefined || uid === null) return;
    const db = Object.hasOwn(cd.dbs, uid) ? cd.dbs[uid] : undefined;
    if (db?.spec.keeperUID === this.rt.uid) return;
    this.init = null;
    this.pitrFailedFor = null;
    removePitrFailure(this.rt.dataDir);
    this.reportTrigger.fire();
  }

  /** Takes over the data dir as it is (initMode existing): its first start under our configuration. */
  private async initExisting(a: KeeperAction & { kind: "init-existing" }, signal: AbortSignal): Promise<void> {
    const pg = this.rt.pg;
    // A data dir without standby.signal starts as a primary: from then on it is a master's data.
    const wasMaster = this.dbState?.WasMaster === true || !a.config.standby || !pg.hasStandbySignal();
    const ids = await this.dataIdentity(wasMaster);
    this.saveDbState({ UID: a.db.uid, Generation: 0, Initializing: false, InitPGParameters: null, ...ids });
    await pg.stop();
    const initParams = await this.firstStart(a.config, false, this.dbWaitReadyTimeoutMs, signal);
    this.saveDbState({ UID: a.db.uid, Generation: 0, Initializing: false, InitPGParameters: a.db.spec.includePreviousConfig ? initParams : null, ...ids });
  }

  /** Records the generation the local db converged to (and which cluster and system the data belongs to). */
  private saveGeneration(a: KeeperAction & { kind: "save-generation" }): void {
    const s = this.dbState;
    if (!s) return;
    // The converged data belongs to this cluster: recorded (also into a dbstate written before
    // these fields existed) so that a later initdb can tell this cluster's data from another's.
    const next: DbState = { ...s, UID: a.db.uid, Generation: a.db.generation, ClusterUID: a.clusterUID, SystemID: a.systemID ?? s.SystemID };
    const converged = s.Generation !== next.Generation || s.UID !== next.UID;
    if (converged || s.ClusterUID !== next.ClusterUID || s.SystemID !== next.SystemID) this.saveDbState(next);
    // Converged: the sentinel is waiting for exactly this (e.g. to route to a new master).
    if (converged) this.reportTrigger.fire();
  }

  /**
   * Starts a just created or taken-over instance once with its own postgresql.conf included
   * (renamed postgresql.base.conf) under ours, creates the roles when asked, captures the
   * parameters that file set, and stops it. The next pass writes the final configuration.
   */
  private async firstStart(config: DesiredConfig, setupRoles: boolean, readyTimeoutMs: number, signal: AbortSignal): Promise<Record<string, string>> {
    const pg = this.rt.pg;
    const base = "postgresql.base.conf";
    const current = pg.readText("postgresql.conf");
    const hasBase = current !== null && !current.startsWith(MANAGED_CONF_HEADER);
    if (hasBase) pg.writeOwned(join(pg.dataDir, base), current);
    pg.writeConfig({ ...config, postgresqlConf: (hasBase ? `include '${base}'\n` : "") + config.postgresqlConf });
    await pg.start(signal);
    try {
      await pg.waitReady(readyTimeoutMs, signal);
      if (setupRoles) await pg.setupRoles(this.requestTimeoutMs);
      return hasBase ? await pg.fileParameters(this.requestTimeoutMs, base) : {};
    } finally {
      await pg.stop();
      pg.writeConfig(config);
      rmSync(join(pg.dataDir, base), { force: true });
    }
  }

  /** Records in dbstate that this data runs (or is about to run) as a primary. */
  private markMaster(): void {
    if (this.dbState && this.dbState.WasMaster !== true) this.saveDbState({ ...this.dbState, WasMaster: true });
  }

  /**
   * At start, before any pass: a swap that was recorded (dbstate Swap) is finished; a copy that
   * was not (postgres.new without Swap: pg_basebackup failed or was interrupted) is removed, and
   * so is a postgres.old left by a finished swap. The data dir itself is never touched here.
   */
  private async recoverDataDir(): Promise<void> {
    const pg = this.rt.pg;
    if (this.dbState?.Swap) {
      this.log.warn(`finishing an interrupted swap: the complete copy for db ${this.dbState.Swap.UID} replaces the data dir`);
      await this.finishSwap();
      return;
    }
    if (existsSync(pg.newDataDir)) {
      this.log.warn(`removing ${pg.newDataDir}: an incomplete copy left by an interrupted resync (the data dir was not touched)`);
      await pg.removeNewDataDir();
    }
    if (existsSync(pg.oldDataDir)) {
      this.log.info(`removing ${pg.oldDataDir}, the data a finished swap replaced`);
      await pg.removeOldDataDir();
    }
  }

  /** Swaps the complete copy in, records it, then removes the data it replaced. */
  private async finishSwap(): Promise<void> {
    const pg = this.rt.pg;
    const w = this.dbState?.Swap;
    if (!w) return;
    await pg.swapInNewDataDir();
    this.saveDbState({ UID: w.UID, Generation: 0, Initializing: false, InitPGParameters: null, ClusterUID: w.ClusterUID, SystemID: w.SystemID, WasMaster: false });
    await pg.removeOldDataDir();
  }

  /**
   * Resync: pg_rewind of the local data when the plan allows it, else (or when it fails, if the
   * plan allows a copy) pg_basebackup into postgres.new, swapped in only once complete, so an
   * unreachable or wrong source leaves the local data where it was. pg_rewind works in place and
   * keeps what both sides share; it does not mark the data dir half made (Initializing), so a
   * failed or interrupted rewind never lets the next pass wipe a former master's data.
   */
  private async resync(a: KeeperAction & { kind: "resync" }, signal: AbortSignal): Promise<void> {
    const pg = this.rt.pg;
    await pg.stop();
    if (a.rewind && a.rewindSource) {
      try {
        this.log.info(`pg_rewind from ${a.rewindSource.host}:${a.rewindSource.port}`);
        await pg.rewind(a.rewindSource, signal);
        // pg_rewind copied the source's configuration: ours goes back before the first start.
        pg.writeReplicationPassfile();
        pg.writeConfig(a.config);
        await pg.start(signal);
        await pg.waitReady(this.dbWaitReadyTimeoutMs, signal);
        // Now a standby of the new master: what only this node had is gone with the rewind.
        this.saveDbState({ UID: a.db.uid, Generation: 0, Initializing: false, InitPGParameters: null, ...(await this.dataIdentity(false)) });
        this.log.info(`db ${a.db.uid} resynced from ${a.rewindSource.host}:${a.rewindSource.port} with pg_rewind`);
        return;
      } catch (err) {
        if (signal.aborted) throw err;
        await pg.stop().catch(() => {});
        if (!a.copy) {
          this.rewindFailure = { dbUid: a.db.uid, at: this.clock.now() };
          this.log.error(
            `pg_rewind did not work (${describeError(err)}); a full copy would replace this data dir, which was a master's: the data stays (pg_rewind is tried again in ${REWIND_RETRY_MS / 1000} s); to allow a full copy, run: ${confirmWipeCommand(this.rt.uid)}`,
          );
          return;
        }
        this.log.warn(`pg_rewind did not work, copying the data with pg_basebackup instead: ${describeError(err)}`);
      }
    }
    if (!a.copy) return;
    this.log.info(`pg_basebackup from ${a.source.host}:${a.source.port} (slot ${a.slot}) into ${pg.newDataDir}`);
    try {
      await pg.basebackup({ host: a.source.host, port: a.source.port, slot: a.slot, applicationName: slotName(a.db.uid) }, signal);
    } catch (err) {
      await pg.removeNewDataDir().catch(() => {});
      throw new StolonError("ERESYNC", `the copy for db ${a.db.uid} failed; the data dir was left as it was: ${describeError(err)}`, { cause: err });
    }
    const systemID = await pg.systemId(pg.newDataDir);
    // Complete: recorded before the swap, so that an interrupted swap is finished at the next start.
    this.saveDbState({ ...(this.dbState ?? { UID: "", Generation: 0, Initializing: false, InitPGParameters: null }), Swap: { UID: a.db.uid, ClusterUID: this.clusterUID, SystemID: systemID ?? "" } });
    await this.finishSwap();
    pg.neutraliseAutoConf();
    pg.writeReplicationPassfile();
    pg.writeConfig(a.config);
    this.log.info(`db ${a.db.uid} resynced from ${a.source.host}:${a.source.port} with pg_basebackup`);
  }

  /** Keeps exactly the wanted stolon slots; slots without the stolon prefix are not ours and stay. */
  private async syncSlots(wanted: string[]): Promise<void> {
    const pg = this.rt.pg;
    const have = await pg.physicalSlots(this.requestTimeoutMs);
    for (const s of have) {
      if (!isStolonSlot(s) || wanted.includes(s)) continue;
      try {
        await pg.dropSlot(s, this.requestTimeoutMs);
        this.log.info(`dropped replication slot ${s}`);
      } catch (err) {
        this.log.warn(`cannot drop replication slot ${s}: ${describeError(err)}`);
      }
    }
    for (const s of wanted) {
      if (have.includes(s)) continue;
      await pg.createSlot(s, this.requestTimeoutMs);
      this.log.info(`created replication slot ${s}`);
    }
  }

  /**
   * Fencing: a master whose keeper could not renew its info for keeperFenceAfterMs (cut from etcd)
   * stops taking writes before the sentinel can elect another master: pg_hba.conf keeps only
   * replication and the keeper's local superuser, and every client session is terminated.
   * Lifted when a report succeeds again; the next pass then writes the normal pg_hba.conf, or
   * whatever the cluster view asks by then.
   */
  private async fenceIfCut(): Promise<void> {
    if (this.fenced || this.fencing || this.lastRenewalSent === 0) return;
    // Paused in the last view read: the sentinel fails nothing over, so there is nothing to fence
    // against (a pause whose `until` passes meanwhile ends here too).
    if (this.view && activePause(this.view.cd, new Date()) !== null) return;
    const bound = keeperFenceAfterMs(this.failIntervalMs);
    const silentMs = this.clock.now() - this.lastRenewalSent;
    const pg = this.rt.pg;
    if (silentMs <= bound || !pg.isRunning() || pg.hasStandbySignal()) return;
    this.fencing = (async () => {
      this.fenced = true;
      this.log.warn(`no lease renewal acknowledged by etcd for ${Math.round(silentMs)} ms: fencing the master (no client can write until etcd answers again)`);
      try {
        await pg.fence(this.settings.su.username, this.settings.su.authMethod, this.settings.repl.username, this.settings.repl.authMethod, this.requestTimeoutMs);
      } catch (err) {
        // Cannot fence by configuration: stop it, which fences for sure.
        this.log.error(`fencing by pg_hba.conf failed (${describeError(err)}): stopping PostgreSQL`);
        await pg.stop().catch((e) => this.log.error(`cannot stop PostgreSQL: ${describeError(e)}`));
      }
    })().finally(() => {
      this.fencing = null;
    });
    await this.fencing;
  }

  /** The PostgreSQL state for a report, without letting a slow PostgreSQL delay the report. */
  private async currentState(): Promise<PostgresState> {
    this.stateInFlight ??= this.postgresState()
      .then((o) => {
        this.lastState = { ...o, at: this.clock.now() };
        return o;
      })
      .finally(() => {
        this.stateInFlight = null;
      });
    const stopWaiting = new AbortController();
    const waited = this.clock.sleep(KEEPER_STATE_WAIT_MS, stopWaiting.signal).then(
      () => null,
      () => null,
    );
    const quick = await Promise.race([this.stateInFlight, waited]);
    stopWaiting.abort();
    if (quick) return quick.st;
    const last = this.lastState;
    if (last && this.clock.now() - last.at < STATE_STALE_MS) return last.st;
    return { ...(last?.st ?? this.baseState()), healthy: false };
  }

  /**
   * Renews the lease and publishes KeeperInfo when it changed (report-info.ts); only once the
   * cluster is known (its uid goes into the info). The renewal is sent first, beside the state
   * query, so the fence counts from a moment a slow PostgreSQL does not push back.
   */
  private async report(): Promise<void> {
    if (this.clusterUID === "") return;
    const ttlMs = keeperLeaseMs(this.failIntervalMs);
    const prev = this.published;
    const renewStart = this.clock.now();
    const renewed = prev ? this.store.setKeeperInfo(prev.info, ttlMs).then(() => this.renewed(renewStart)) : null;
    const [, state] = await Promise.all([renewed, this.currentState()]);
    const next = nextKeeperInfo(
      prev,
      {
        uid: this.rt.uid,
        clusterUID: this.clusterUID,
        bootUUID: this.bootUUID,
        postgresBinaryVersion: this.rt.binaryVersion,
        postgresState: this.stoppedForSwitchover ? { ...state, stoppedForSwitchover: this.stoppedForSwitchover } : state,
        canBeMaster: this.cfg.canBeMaster,
        canBeSynchronousReplica: this.cfg.canBeSynchronousReplica,
        priority: this.cfg.priority,
        ...(this.cfg.trustOnNetwork ? { trustOnNetwork: true } : {}),
        ...(this.init ? { init: this.init } : {}),
      },
      this.clock.now(),
      // The switchover's target publishes every position: the sentinel promotes on it.
      this.switchoverTarget ? 0 : KEEPER_POSITION_MS,
      newUid,
    );
    if (next === prev) return;
    const writeStart = this.clock.now();
    // The lease is failInterval: a keeper that stops reporting is gone from etcd after it.
    await this.store.setKeeperInfo(next.info, ttlMs);
    this.published = next;
    this.renewed(writeStart);
  }

  /** etcd acknowledged a renewal sent at `start`. */
  private renewed(start: number): void {
    this.lastRenewalSent = Math.max(this.lastRenewalSent, start);
    if (this.fenced && !this.fencing) {
      this.fenced = false;
      this.log.info("etcd answers again: the fence is lifted at the next pass");
      this.reconcileTrigger.fire();
    }
  }

  private baseState(): PostgresState {
    const db = this.dbState;
    return {
      ...POSTGRES_STATE_ZEROS,
      uid: db?.UID ?? "",
      generation: db?.Generation ?? 0,
      listenAddress: this.cfg.pgAdvertiseAddress,
      port: String(this.cfg.pgAdvertisePort),
      synchronousStandbys: null,
    };
  }

  private async postgresState(): Promise<Observed> {
    const db = this.dbState;
    const st = this.baseState();
    const none = { st, replayLsn: null, replayLagSeconds: null };
    // A half-made instance (init or resync running) is not healthy, whatever it answers.
    if (!db || db.Initializing || db.UID === "" || !this.rt.pg.isRunning()) return none;
    let s: LocalPgState;
    try {
      s = await this.rt.pg.state(this.requestTimeoutMs);
    } catch (err) {
      this.log.debug(`postgres state: ${describeError(err)}`);
      return none;
    }
    return {
      st: {
        ...st,
        healthy: true,
        systemID: s.systemID,
        timelineID: s.timelineID,
        xLogPos: s.xLogPos,
        timelinesHistory: s.timelinesHistory,
        pgParameters: s.pgParameters,
        synchronousStandbys: s.synchronousStandbys,
        olderWalFile: s.olderWalFile,
        receivingWal: s.receivingWal,
        // The proxy's read-only port measures a standby's lag with it (issue 18).
        ...(typeof s.replayLsn === "number" ? { replayedXLogPos: s.replayLsn } : {}),
      },
      replayLsn: s.replayLsn ?? null,
      replayLagSeconds: s.replayLagSeconds ?? null,
    };
  }

  /**
   * What this keeper knows now, from what it last observed: no I/O but two cheap looks at the
   * data dir (postmaster.pid, standby.signal), so it can answer every health check and scrape.
   */
  status(): KeeperStatus {
    const pg = this.rt.pg;
    const running = pg.isRunning();
    const localRole = running ? (pg.hasStandbySignal() ? "standby" : "master") : null;
    const view = this.view;
    const db = view?.db ?? null;
    const master = view ? (masterDb(view.cd) ?? null) : null;
    const last = this.lastState;
    const healthy = running && last !== null && last.st.healthy && this.clock.now() - last.at < STATE_STALE_MS;
    // Figures from the last state that was read, even a little old: better than none for a graph.
    const known = last?.st.healthy ? last : null;
    const s = this.dbState;
    const isStandby = localRole === "standby";
    const masterPos = master && master.uid !== db?.uid ? master.status.xLogPos : undefined;
    let lagBytes: number | null = null;
    let lagSeconds: number | null = null;
    if (localRole === "master") {
      lagBytes = 0;
      lagSeconds = 0;
    } else if (isStandby && known) {
      // The master's position is the one the sentinel last copied from its report: a little behind
      // the master, so a standby that is caught up may look ahead of it (counted as 0).
      lagBytes = known.replayLsn !== null && typeof masterPos === "number" ? Math.max(0, masterPos - known.replayLsn) : null;
      lagSeconds = known.replayLagSeconds;
    }
    return {
      uid: this.rt.uid,
      clusterName: this.cfg.common.clusterName,
      clusterUID: this.clusterUID,
      dbUid: s?.UID ?? "",
      targetRole: db?.spec.role ?? null,
      localRole,
      elected: db !== null && master?.uid === db.uid,
      postgresRunning: running,
      postgresHealthy: healthy,
      converged: db !== null && s !== null && !s.Initializing && s.UID === db.uid && s.Generation === db.generation,
      holdsDb: db !== null && s !== null && !s.Initializing && s.UID === db.uid,
      fenced: this.fenced,
      shuttingDown: this.shutdownAt !== 0,
      stoppedForSwitchover: this.stoppedForSwitchover?.id ?? null,
      timeline: known?.st.timelineID ?? 0,
      walPosition: known ? (isStandby ? (known.replayLsn ?? known.st.xLogPos) : known.st.xLogPos) : 0,
      replicationLagBytes: lagBytes,
      replicationLagSeconds: lagSeconds,
      streaming: isStandby && known?.st.receivingWal === true,
      synchronous:
        db !== null &&
        master !== null &&
        master.uid !== db.uid &&
        (master.spec.synchronousStandbys ?? []).includes(db.uid) &&
        (master.status.synchronousStandbys ?? []).includes(db.uid),
      maxStandbyLagBytes: this.maxStandbyLagBytes,
      clusterDataValidAt: this.clusterDataValidAt,
    };
  }

  /** /health: the report loop works; /ready: PostgreSQL runs, answers, is converged and not fenced. */
  health(): HealthReport {
    const status = this.status();
    const loops = [this.loops.reconcile.snapshot(), this.loops.report.snapshot(), this.loops.fence.snapshot()];
    const report = loops[1]!;
    const live: Check = this.started
      ? loopsLive([report], this.clock.now(), REPORT_STUCK_MS)
      : { ok: true, reason: "starting: preparing the data dir before the loops run" };
    return { component: "keeper", uid: this.rt.uid, live, ready: readiness(status), loops, details: { ...status } };
  }

  /** What the metrics need beyond status() (src/keeper/metrics.ts). */
  figures(): KeeperFigures {
    return {
      sleepIntervalMs: this.sleepIntervalMs,
      needsReload: this.needs.reload,
      needsRestart: this.needs.restart,
      lastSyncSuccessAt: this.lastSyncAt,
      shutdownAt: this.shutdownAt,
    };
  }
}

/** Ready: doing its job, i.e. PostgreSQL runs, answers, is converged to the view and not fenced. */
export function readiness(s: KeeperStatus): Check {
  if (s.shuttingDown) return { ok: false, reason: "the keeper is shutting down" };
  if (s.stoppedForSwitchover !== null) return { ok: false, reason: `PostgreSQL is stopped for switchover ${s.stoppedForSwitchover}` };
  if (!s.postgresRunning) return { ok: false, reason: "PostgreSQL is not running" };
  if (!s.postgresHealthy) return { ok: false, reason: "PostgreSQL does not answer the state query" };
  if (s.targetRole === null) return { ok: false, reason: "the cluster view assigns no db to this keeper" };
  if (!s.converged) return { ok: false, reason: `db ${s.dbUid || "(none)"} has not converged to the cluster view yet` };
  if (s.fenced) return { ok: false, reason: "fenced: cut from etcd as a master, no client may write" };
  return { ok: true, reason: `PostgreSQL runs as ${s.localRole ?? "?"}, answers and is converged` };
}
