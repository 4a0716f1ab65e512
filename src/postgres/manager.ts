/**
 * PgManager: one local PostgreSQL instance, as the keeper sees it. A thin facade: each method
 * hands on to the module that does that job, and only the steps that span modules (start, stop,
 * rewind, fence, state) are composed here.
 *
 *   pgdata.ts       PGDATA and the files beside it: paths, safe reads and writes, wipe, swap, passfiles
 *   conf-files.ts   postgresql.conf, pg_hba.conf, signal files, the ALTER SYSTEM guard
 *   postmaster.ts   the postmaster process: start, watchdog, readiness, stop, reload, promote, log
 *   tools.ts        postgres --version, pg_controldata, initdb, pg_basebackup, pg_rewind
 *   restore.ts      the pitr init's dataRestoreCommand
 *   connections.ts  the SQL and replication connections, query with a timeout, PgQueryError
 *   sql.ts          roles, slots, the fence's session cut, state queries
 *   replication.ts  IDENTIFY_SYSTEM, timeline history, WAL receiver and replay figures
 *
 * Secrets: passwords reach PostgreSQL's programs only through 0600 passfiles owned by the
 * PostgreSQL OS user (deleted after use), and the SQL client gets them in memory. Files: see
 * pgdata.ts for how root touches what the PostgreSQL user can change.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describeError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { renderFencedHba, type AuthMethod } from "./config.ts";
import { neutraliseAutoConf, removeAutoConf, writeConfig, writeHba } from "./conf-files.ts";
import { PgConnections, PgQueryError, type Sql } from "./connections.ts";
import { oldestWalFile, type TimelineHistoryEntry } from "./lsn.ts";
import type { ControlData } from "./control-data.ts";
import { PgData, type Credentials } from "./pgdata.ts";
import { Postmaster } from "./postmaster.ts";
import { identify, walReceiverState } from "./replication.ts";
import type { CommandRunner } from "./runner.ts";
import * as q from "./sql.ts";
import { PgTools } from "./tools.ts";
import { runDataRestore, type RestoreResult } from "./restore.ts";

export { PgQueryError } from "./connections.ts";
export type { Credentials } from "./pgdata.ts";

export interface PgManagerOptions {
  binDir: string;
  /** The keeper's data dir; PGDATA is <stateDir>/postgres. */
  stateDir: string;
  socketDir: string;
  port: number;
  runner: CommandRunner;
  su: Credentials;
  repl: Credentials;
  log: Logger;
}

export interface LocalPgState {
  systemID: string;
  timelineID: number;
  xLogPos: number;
  timelinesHistory: TimelineHistoryEntry[];
  pgParameters: Record<string, string>;
  synchronousStandbys: string[];
  olderWalFile: string;
  inRecovery: boolean;
  /** A standby's WAL receiver is streaming from its primary (undefined on a primary). */
  receivingWal?: boolean;
  /** A standby's last replayed WAL position in bytes (undefined on a primary, null when unknown). */
  replayLsn?: number | null;
  /**
   * A standby's replay delay in seconds: the age of the last replayed transaction while replay is
   * behind what was received, 0 when it has replayed all it received (undefined on a primary,
   * null when unknown: nothing streamed or no transaction replayed since the start).
   */
  replayLagSeconds?: number | null;
}

export class PgManager {
  private readonly data: PgData;
  private readonly postmaster: Postmaster;
  private readonly tools: PgTools;
  private readonly conns: PgConnections;

  constructor(private readonly o: PgManagerOptions) {
    this.data = new PgData(o);
    this.postmaster = new Postmaster({ data: this.data, socketDir: o.socketDir, runner: o.runner, log: o.log });
    this.tools = new PgTools({ data: this.data, runner: o.runner, su: o.su, repl: o.repl });
    this.conns = new PgConnections(o);
  }

  // --- PGDATA and its files (pgdata.ts, conf-files.ts)

  get dataDir(): string {
    return this.data.dataDir;
  }
  /** Where pg_basebackup writes a new copy; it replaces dataDir only once complete. */
  get newDataDir(): string {
    return this.data.newDataDir;
  }
  /** Where the replaced data waits for its removal during a swap. */
  get oldDataDir(): string {
    return this.data.oldDataDir;
  }
  get logPath(): string {
    return this.data.logPath;
  }
  get socketDir(): string {
    return this.o.socketDir;
  }
  isInitialized(): boolean {
    return this.data.isInitialized();
  }
  hasStandbySignal(): boolean {
    return this.data.hasStandbySignal();
  }
  hasRecoverySignal(): boolean {
    return this.data.hasRecoverySignal();
  }
  wipe(): Promise<void> {
    return this.data.wipe();
  }
  swapInNewDataDir(): Promise<boolean> {
    return this.data.swapInNewDataDir();
  }
  removeOldDataDir(): Promise<void> {
    return this.data.removeOldDataDir();
  }
  removeNewDataDir(): Promise<void> {
    return this.data.removeNewDataDir();
  }
  ensureDir(dir: string, forceMode = false): void {
    this.data.ensureDir(dir, forceMode);
  }
  writeOwned(path: string, content: string, mode = 0o600): void {
    this.data.writeOwned(path, content, mode);
  }
  readText(name: string): string | null {
    return this.data.readText(name);
  }
  writeReplicationPassfile(): string {
    return this.data.writeReplicationPassfile(this.o.repl);
  }
  writeConfig(c: { postgresqlConf: string; hba: string; standby: boolean; recovery?: boolean }): void {
    writeConfig(this.data, c);
  }
  neutraliseAutoConf(): string | null {
    return neutraliseAutoConf(this.data);
  }

  // --- the postmaster (postmaster.ts)

  runningPid(): number | null {
    return this.postmaster.runningPid();
  }
  isRunning(): boolean {
    return this.postmaster.isRunning();
  }
  logTail(lines = 8): string {
    return this.postmaster.logTail(lines);
  }
  /** Puts the ALTER SYSTEM guard back, then starts the postmaster (nothing when one runs already). */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.isRunning()) return;
    this.neutraliseAutoConf();
    await this.postmaster.start(signal);
  }
  /**
   * Closes the keeper's connections and stops the postmaster (fast, else immediate). The pools are
   * dropped first (no new connection is made from them); their end is not waited for before the
   * shutdown starts: a query in flight would hold it back, and the shutdown ends it anyway.
   */
  async stop(): Promise<void> {
    const closed = this.closeSql();
    try {
      await this.postmaster.stop();
    } finally {
      await closed;
    }
  }
  async restart(signal?: AbortSignal): Promise<void> {
    await this.stop();
    await this.start(signal);
  }
  /** See Postmaster.setWatchdog. */
  setWatchdog(on: boolean): void {
    this.postmaster.setWatchdog(on);
  }
  reload(): Promise<void> {
    return this.postmaster.reload();
  }
  promote(timeoutMs: number): Promise<void> {
    return this.postmaster.promote(timeoutMs);
  }
  /** Waits until PostgreSQL accepts connections (a standby: once it is consistent). */
  waitReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const ping = (t: number) => this.conns.query("readiness check", (sql) => sql`select 1`, t);
    return this.postmaster.waitReady(timeoutMs, ping, () => this.closeSql(), signal);
  }

  // --- the tools (tools.ts)

  binaryVersion(): Promise<{ Maj: number; Min: number }> {
    return this.tools.binaryVersion();
  }
  systemId(dir = this.data.dataDir): Promise<string | null> {
    return this.tools.systemId(dir);
  }

  /** pg_control's state and latest checkpoint (see PgTools.controlData). */
  controlData(): Promise<ControlData | null> {
    return this.tools.controlData();
  }
  initdb(opts: { locale?: string; encoding?: string; dataChecksums?: boolean }, signal?: AbortSignal): Promise<void> {
    return this.tools.initdb(opts, signal);
  }
  /** The pitr init's dataRestoreCommand (already expanded) into the emptied data dir; see restore.ts. */
  dataRestore(command: string, signal?: AbortSignal): Promise<RestoreResult> {
    return runDataRestore(this.data, this.o.runner, command, signal);
  }
  basebackup(source: { host: string; port: string; slot: string; applicationName: string }, signal?: AbortSignal): Promise<void> {
    return this.tools.basebackup(source, signal);
  }
  /**
   * pg_rewind against the current master, as the superuser. The data dir must be stopped. The
   * source is checkpointed first (see checkpointSource), and the ALTER SYSTEM link is out of the
   * way while pg_rewind copies the source's files (it must not be followed into /dev/null).
   */
  async rewind(source: { host: string; port: string }, signal?: AbortSignal): Promise<void> {
    await q.checkpointSource(this.o.su, source, this.o.log);
    removeAutoConf(this.data);
    try {
      await this.tools.rewind(source, signal);
    } finally {
      this.neutraliseAutoConf();
    }
  }

  // --- SQL (connections.ts, sql.ts, replication.ts)

  /** The SQL client on the unix socket, as the superuser. */
  sql(): Sql {
    return this.conns.sql();
  }
  closeSql(): Promise<void> {
    return this.conns.close();
  }

  /**
   * Stops a primary from taking writes without stopping it: pg_hba.conf keeps only replication and
   * the local superuser (the keeper), the configuration is reloaded, and every client session is
   * terminated but the keeper's (see terminateClientSessions); physical WAL senders stay, so the
   * standbys receive all the master wrote. The keeper's other pooled connections go too; the pool
   * opens new ones on the local socket, which the fence allows.
   */
  async fence(suUsername: string, suAuth: AuthMethod, replUsername: string, replAuth: AuthMethod, timeoutMs: number): Promise<number> {
    writeHba(this.data, renderFencedHba({ suUsername, suAuthMethod: suAuth, replUsername, replAuthMethod: replAuth }));
    await this.reload();
    return q.terminateClientSessions(this.conns, timeoutMs);
  }
  isInRecovery(timeoutMs: number): Promise<boolean> {
    return q.isInRecovery(this.conns, timeoutMs);
  }
  setupRoles(timeoutMs: number): Promise<void> {
    return q.setupRoles(this.conns, this.o.su, this.o.repl, timeoutMs);
  }
  /** See setupRolesAfterRestore in sql.ts: the roles of a restored database (pitr). */
  setupRolesAfterRestore(timeoutMs: number): Promise<void> {
    return q.setupRolesAfterRestore(this.conns, this.o.su, this.o.repl, timeoutMs);
  }
  recoveryProgress(timeoutMs: number): Promise<q.RecoveryProgress> {
    return q.recoveryProgress(this.conns, timeoutMs);
  }
  fileParameters(timeoutMs: number, sourceFile?: string): Promise<Record<string, string>> {
    return q.fileParameters(this.conns, timeoutMs, sourceFile);
  }
  inSyncStandbys(timeoutMs: number): Promise<string[]> {
    return q.inSyncStandbys(this.conns, timeoutMs);
  }
  pendingRestart(timeoutMs: number): Promise<string[]> {
    return q.pendingRestart(this.conns, timeoutMs);
  }
  physicalSlots(timeoutMs: number): Promise<string[]> {
    return q.physicalSlots(this.conns, timeoutMs);
  }
  createSlot(name: string, timeoutMs: number): Promise<void> {
    return q.createSlot(this.conns, name, timeoutMs);
  }
  dropSlot(name: string, timeoutMs: number): Promise<void> {
    return q.dropSlot(this.conns, name, timeoutMs);
  }

  /**
   * The state the keeper reports: identity and position through a replication connection
   * (IDENTIFY_SYSTEM, TIMELINE_HISTORY, as stolon does), parameters, in-sync standbys, oldest WAL,
   * and on a standby its WAL receiver and replay figures.
   */
  async state(timeoutMs: number): Promise<LocalPgState> {
    const inRecovery = await this.isInRecovery(timeoutMs);
    const ident = await identify(this.conns, timeoutMs);
    const pgParameters = await this.fileParameters(timeoutMs);
    const synchronousStandbys = await this.inSyncStandbys(timeoutMs);
    const olderWalFile = this.oldestWalFile();
    const base = { ...ident, pgParameters, synchronousStandbys, olderWalFile, inRecovery };
    if (!inRecovery) return base;
    return { ...base, ...(await walReceiverState(this.conns, timeoutMs)) };
  }

  /** The oldest WAL file in pg_wal. */
  private oldestWalFile(): string {
    let walNames: string[] = [];
    try {
      walNames = readdirSync(join(this.data.dataDir, "pg_wal"));
    } catch (err) {
      throw new PgQueryError(`cannot list pg_wal: ${describeError(err)}`, { cause: err });
    }
    const older = oldestWalFile(walNames);
    if (older === null) throw new PgQueryError("no WAL file found in pg_wal");
    return older;
  }
}
