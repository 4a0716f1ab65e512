/**
 * PgManager: one local PostgreSQL instance. It builds argv and env for PostgreSQL's programs and
 * runs them through a CommandRunner; the postmaster is a child process the keeper owns.
 *
 * Secrets: passwords reach PostgreSQL's programs only through 0600 passfiles owned by the
 * PostgreSQL OS user (deleted after use), and the SQL client gets them in memory.
 *
 * Files: when the keeper runs as root, PGDATA, the socket dir and the log belong to the
 * PostgreSQL OS user, who may have put a link, a FIFO or a hard link at any name in them. Root
 * touches them only through src/lib/files.ts: files written under random temp names with O_EXCL
 * and renamed into place, owner set on the descriptor, existing files opened with O_NOFOLLOW and
 * O_NONBLOCK and checked; the log is opened by a shell running as that user; a wipe runs as that
 * user. The layout is described in src/keeper/data-dir.ts.
 */
import { closeSync, existsSync, readdirSync, readlinkSync, renameSync, rmdirSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { dbUidOfSlot } from "../cluster/slot-names.ts";
import { newUid } from "../lib/ids.ts";
import { StolonError } from "../lib/errors.ts";
import { ensureDir, fsyncDir, fileKind, lstatOrNull, openOrCreateFile, readFileNoFollow, UnsafePathError, writeFileAtomic } from "../lib/files.ts";
import type { Logger } from "../lib/log.ts";
import { renderConninfo, renderPgpassLine, type Conninfo } from "./conninfo.ts";
import { MANAGED_PARAMETERS, renderHba, type AuthMethod } from "./config.ts";
import { oldestWalFile, parseLsn, parsePostgresVersion, parseTimelineHistory, type TimelineHistoryEntry } from "./lsn.ts";
import { PgCommandError, tailLines, type CommandRunner, type SpawnedProcess } from "./runner.ts";
import { randomBytes } from "node:crypto";
import { SCRAM_SALT_BYTES, scramSha256Verifier } from "./scram.ts";

export interface Credentials {
  username: string;
  /** Undefined with the trust auth method. */
  password?: string;
}

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

/** A PostgreSQL connection or query that failed. */
export class PgQueryError extends StolonError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("EPGQUERY", message, options);
  }
}

const POSTMASTER_START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_S = 60;
/** How often readiness is polled. */
const READY_POLL_MS = 100;
const LOG_ROTATE_BYTES = 16 * 1024 * 1024;
/** Far more than postgresql.conf, pg_hba.conf or postgresql.auto.conf ever hold. */
const MAX_CONF_BYTES = 16 * 1024 * 1024;

type Sql = ReturnType<typeof postgres>;

interface ClientOptions {
  database: string;
  max: number;
  connectTimeoutS: number;
  replication?: boolean;
}

export class PgManager {
  readonly dataDir: string;
  /** Where pg_basebackup writes a new copy; it replaces dataDir only once complete. */
  readonly newDataDir: string;
  /** Where the replaced data waits for its removal during a swap. */
  readonly oldDataDir: string;
  readonly logPath: string;
  private child: SpawnedProcess | null = null;
  /** Keeps the watchdog (and so the write end of its stdin pipe) referenced while PostgreSQL runs. */
  private watchdog: SpawnedProcess | null = null;
  private sqlPool: Sql | null = null;
  private replPool: Sql | null = null;

  constructor(private readonly o: PgManagerOptions) {
    this.dataDir = join(o.stateDir, "postgres");
    this.newDataDir = join(o.stateDir, "postgres.new");
    this.oldDataDir = join(o.stateDir, "postgres.old");
    this.logPath = join(o.stateDir, "postgres.log");
  }

  get socketDir(): string {
    return this.o.socketDir;
  }

  private bin(name: string): string {
    return join(this.o.binDir, name);
  }

  private get owner() {
    return this.o.runner.asUser;
  }

  /** Who may own what root reads under PGDATA: the PostgreSQL user, or the keeper (it made it). */
  private get pgOwners(): number[] {
    const me = process.getuid?.() ?? 0;
    return this.owner ? [this.owner.uid, me] : [me];
  }

  /** An unsafe file met where a warning is all that can be done, said once until it changes. */
  private lastUnsafe = "";
  private warnUnsafe(err: UnsafePathError): void {
    if (err.message !== this.lastUnsafe) this.o.log.warn(err.message);
    this.lastUnsafe = err.message;
  }

  /** The server's version from `postgres --version`. */
  async binaryVersion(): Promise<{ Maj: number; Min: number }> {
    const r = await this.o.runner.run([this.bin("postgres"), "--version"], { timeoutMs: 10_000 });
    return parsePostgresVersion(r.stdout);
  }

  /** True when the data dir holds an initialized cluster. */
  isInitialized(): boolean {
    return existsSync(join(this.dataDir, "PG_VERSION")) && existsSync(join(this.dataDir, "global", "pg_control"));
  }

  /** True when the data dir is set up to start as a standby. */
  hasStandbySignal(): boolean {
    return existsSync(join(this.dataDir, "standby.signal"));
  }

  /** The database system identifier from pg_control (works while stopped). */
  async systemId(dir = this.dataDir): Promise<string | null> {
    if (!existsSync(join(dir, "global", "pg_control"))) return null;
    const r = await this.o.runner.run([this.bin("pg_controldata"), "-D", dir], { timeoutMs: 10_000, env: { LC_ALL: "C" } });
    const m = /^Database system identifier:\s+(\d+)$/m.exec(r.stdout);
    return m ? m[1]! : null;
  }

  /** The pid of a live postmaster on our data dir (ours or left behind by an earlier keeper), or null. */
  runningPid(): number | null {
    let text: string | null;
    try {
      text = readFileNoFollow(join(this.dataDir, "postmaster.pid"), { owners: this.pgOwners, maxBytes: 64 * 1024 });
    } catch (err) {
      // A link or a FIFO is not PostgreSQL's lock file: no postmaster of ours wrote it.
      if (err instanceof UnsafePathError) this.warnUnsafe(err);
      return null;
    }
    if (text === null) return null;
    const pid = Number(text.split("\n")[0]);
    if (!Number.isInteger(pid) || pid <= 0) return null;
    try {
      process.kill(pid, 0);
      return pid;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM" ? pid : null;
    }
  }

  isRunning(): boolean {
    return this.runningPid() !== null;
  }

  /**
   * Empties the data dir, leaving it owned by the PostgreSQL user. The deleting runs as that user
   * (`find -delete`): root walking a tree that user can change could be led out of it by a link
   * swapped in half way.
   */
  async wipe(): Promise<void> {
    if (lstatOrNull(this.dataDir)) await this.emptyDir(this.dataDir);
    // As a new dir would be: PostgreSQL refuses a data dir open to others, and pg_basebackup
    // does not change the mode of the dir it fills.
    this.ensureDir(this.dataDir, true);
  }

  /**
   * Puts the complete copy in postgres.new in the place of postgres; the replaced data goes to
   * postgres.old, for removeOldDataDir() once the caller has recorded the swap. Each step is one
   * rename, and calling it again after an interruption finishes the job: with postgres.new gone
   * the swap is done; with postgres gone the old data was set aside already. Returns false when
   * there is no postgres.new to swap in.
   */
  async swapInNewDataDir(): Promise<boolean> {
    if (!existsSync(this.newDataDir)) return existsSync(this.dataDir);
    if (existsSync(this.dataDir)) {
      // A postgres.old here is what a finished swap left when its removal was interrupted.
      await this.removeTree(this.oldDataDir);
      renameSync(this.dataDir, this.oldDataDir);
    }
    renameSync(this.newDataDir, this.dataDir);
    fsyncDir(this.o.stateDir);
    return true;
  }

  async removeOldDataDir(): Promise<void> {
    await this.removeTree(this.oldDataDir);
  }

  /** Removes an incomplete copy (pg_basebackup failed or was interrupted). */
  async removeNewDataDir(): Promise<void> {
    await this.removeTree(this.newDataDir);
  }

  /**
   * Removes a dir of the PostgreSQL user's beside PGDATA (postgres.new, postgres.old). Its content
   * is deleted by that user (as in wipe: root walking a tree that user can change could be led out
   * of it by a link swapped in half way); the emptied dir, whose name is in the keeper's own
   * root-owned dir, is removed by the keeper. Anything else at the name is unlinked, not followed.
   */
  private async removeTree(dir: string): Promise<void> {
    const st = lstatOrNull(dir);
    if (!st) return;
    if (!st.isDirectory()) {
      rmSync(dir, { force: true });
      return;
    }
    await this.emptyDir(dir);
    rmdirSync(dir);
  }

  /**
   * Deletes everything in a dir of the PostgreSQL user's, as that user (`find -delete` follows no
   * link): root walking a tree that user can change could be led out of it by a link swapped in
   * half way. The dir is checked (not a link, the right owner) first.
   */
  private async emptyDir(dir: string): Promise<void> {
    this.ensureDir(dir);
    await this.o.runner.run(["find", dir, "-mindepth", "1", "-delete"], { timeoutMs: 10 * 60_000 });
  }

  /** Creates a dir of the PostgreSQL user (0700), or checks and re-owns the one there; never through a link. */
  ensureDir(dir: string, forceMode = false): void {
    ensureDir(dir, { mode: 0o700, forceMode, owner: this.owner, owners: this.pgOwners });
  }

  /**
   * Writes a file for PostgreSQL's programs, owned by the PostgreSQL user: a new file under a random
   * name (owner set on the descriptor), renamed over `path`. Root never reads these back.
   */
  writeOwned(path: string, content: string, mode = 0o600): void {
    writeFileAtomic(path, content, { mode, owner: this.owner });
  }

  /**
   * A file of PGDATA; null when absent. Opened without following a link and without blocking.
   * @throws UnsafePathError when it is a link, a FIFO, a directory, a hard link or another user's
   */
  readText(name: string): string | null {
    return readFileNoFollow(join(this.dataDir, name), { owners: this.pgOwners, maxBytes: MAX_CONF_BYTES });
  }

  /** Writes postgresql.conf, pg_hba.conf and standby.signal (present for a standby). */
  writeConfig(c: { postgresqlConf: string; hba: string; standby: boolean }): void {
    this.writeOwned(join(this.dataDir, "postgresql.conf"), c.postgresqlConf);
    this.writeOwned(join(this.dataDir, "pg_hba.conf"), c.hba);
    const signal = join(this.dataDir, "standby.signal");
    if (c.standby) this.writeOwned(signal, "");
    else rmSync(signal, { force: true });
    rmSync(join(this.dataDir, "recovery.signal"), { force: true });
  }

  /**
   * ALTER SYSTEM is neutralised as stolon does: postgresql.auto.conf is a symlink to /dev/null, so
   * nothing written there survives. ALTER SYSTEM can still replace the link with a file; this puts
   * the link back and says what was dropped. Returns the dropped content, if any.
   */
  neutraliseAutoConf(): string | null {
    const p = join(this.dataDir, "postgresql.auto.conf");
    let dropped: string | null = null;
    const st = lstatOrNull(p);
    if (st?.isSymbolicLink() && readlinkSync(p) === "/dev/null") return null;
    if (st) {
      if (st.isDirectory()) throw new UnsafePathError(p, `${p} is a directory; remove it (ALTER SYSTEM is neutralised with a link to /dev/null there)`);
      if (st.isFile()) {
        try {
          const text = readFileNoFollow(p, { owners: this.pgOwners, maxBytes: MAX_CONF_BYTES }) ?? "";
          const settings = text.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
          if (settings.length > 0) dropped = settings.join("; ");
        } catch (err) {
          if (!(err instanceof UnsafePathError)) throw err;
          dropped = `(unread: ${err.message})`;
        }
      } else {
        // A link elsewhere or a FIFO is not read: it is only removed.
        dropped = `(${fileKind(st)}${st.isSymbolicLink() ? ` to ${readlinkSync(p)}` : ""}, not read)`;
      }
      // unlink removes the name and follows nothing.
      try {
        unlinkSync(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    // The link stays root's when the keeper is root: PostgreSQL does not care who owns it, and a
    // chown by path could be made to land on something else.
    symlinkSync("/dev/null", p);
    return dropped;
  }

  /** A 0600 passfile owned by the PostgreSQL user; removed by the returned function. */
  private tempPassfile(lines: string[]): { path: string; remove: () => void } {
    const path = join(this.o.stateDir, `.pgpass-${newUid()}`);
    this.writeOwned(path, lines.join("\n") + "\n");
    return { path, remove: () => rmSync(path, { force: true }) };
  }

  /** Writes the persistent passfile the standby's walreceiver uses (primary_conninfo passfile=). */
  writeReplicationPassfile(): string {
    const path = join(this.o.stateDir, "pgpass");
    const { username, password } = this.o.repl;
    this.writeOwned(path, password !== undefined ? renderPgpassLine({ host: "*", port: "*", database: "*", user: username, password }) + "\n" : "");
    return path;
  }

  private passLine(c: Credentials): string[] {
    return c.password !== undefined ? [renderPgpassLine({ host: "*", port: "*", database: "*", user: c.username, password: c.password })] : [];
  }

  async initdb(opts: { locale?: string; encoding?: string; dataChecksums?: boolean }, signal?: AbortSignal): Promise<void> {
    this.ensureDir(this.dataDir);
    const argv = [this.bin("initdb"), "-D", this.dataDir, "-U", this.o.su.username, "--auth-local=trust", "--auth-host=reject"];
    let pw: { path: string; remove: () => void } | null = null;
    if (this.o.su.password !== undefined) {
      pw = { path: join(this.o.stateDir, `.pwfile-${newUid()}`), remove: () => {} };
      const path = pw.path;
      // A SCRAM verifier, not the password: initdb stores it as it is, so the plain password never
      // reaches even the bootstrap backend (checked by hand against PostgreSQL 15; setupRoles sets
      // a fresh verifier afterwards anyway).
      this.writeOwned(path, scramSha256Verifier(this.o.su.password, randomBytes(SCRAM_SALT_BYTES)) + "\n");
      pw.remove = () => rmSync(path, { force: true });
      argv.push(`--pwfile=${path}`);
    }
    if (opts.locale) argv.push(`--locale=${opts.locale}`);
    if (opts.encoding) argv.push(`--encoding=${opts.encoding}`);
    if (opts.dataChecksums) argv.push("--data-checksums");
    try {
      await this.o.runner.run(argv, { timeoutMs: 10 * 60_000, signal });
    } finally {
      pw?.remove();
    }
  }

  /**
   * Starts the postmaster as our child and waits until it has written postmaster.pid (or exited).
   * Readiness to accept connections is waitReady's job.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.isRunning()) return;
    this.neutraliseAutoConf();
    this.ensureDir(this.o.socketDir, true);
    this.rotateLog();
    // The log file is made (or checked) here, the PostgreSQL user's, in the keeper's dir where
    // that user cannot put a link; it is opened by a shell running as that user, never by root.
    closeSync(openOrCreateFile(this.logPath, { mode: 0o640, owner: this.owner, owners: this.pgOwners }));
    // exec: the postmaster keeps the shell's pid, so the child we watch is the postmaster.
    const child = this.o.runner.spawn(
      ["/bin/sh", "-c", 'log=$1; shift; exec "$@" >>"$log" 2>&1', "stolon-pg-start", this.logPath, this.bin("postgres"), "-D", this.dataDir],
      {},
    );
    this.child = child;
    let exited: number | null = null;
    void child.exited.then((code) => {
      exited = code;
      if (this.child === child) this.child = null;
    });
    const deadline = Date.now() + POSTMASTER_START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exited !== null) throw new PgCommandError("postgres", exited, this.logTail(), `exited at start with code ${exited}`);
      if (this.runningPid() === child.pid) {
        this.armWatchdog(child);
        return;
      }
      if (signal?.aborted) break;
      await Bun.sleep(20);
    }
    child.kill("SIGQUIT");
    throw new PgCommandError("postgres", null, this.logTail(), signal?.aborted ? "start was cancelled" : "did not write postmaster.pid within 60 s");
  }

  /**
   * PostgreSQL does not outlive its keeper: a `sh` tied to this process (see CommandRunner.spawn)
   * waits for end-of-file on its stdin, which comes when the keeper dies in any way (SIGKILL, OOM,
   * a crash), and then asks the postmaster for a fast shutdown. Without it a master whose keeper
   * died would go on taking writes from clients connected directly while the sentinel, once the
   * keeper's lease expired, elected another master. A keeper that starts again finds PostgreSQL
   * stopped and starts it as the cluster view says. The watchdog goes when the postmaster exits.
   */
  private armWatchdog(child: SpawnedProcess): void {
    let dog: SpawnedProcess;
    try {
      dog = this.o.runner.spawn(["/bin/sh", "-c", 'read -r _; kill -INT "$1" 2>/dev/null', "stolon-pg-watchdog", String(child.pid)], { tied: true });
    } catch (err) {
      this.o.log.warn(`PostgreSQL (pid ${child.pid}) has no watchdog and will outlive a dead keeper: ${(err as Error).message}`);
      return;
    }
    this.watchdog = dog;
    void child.exited.then(() => {
      dog.kill("SIGKILL");
      if (this.watchdog === dog) this.watchdog = null;
    });
  }

  private rotateLog(): void {
    // rename works on names in the keeper's dir and follows nothing.
    const st = lstatOrNull(this.logPath);
    if (st?.isFile() && st.size > LOG_ROTATE_BYTES) renameSync(this.logPath, `${this.logPath}.1`);
  }

  /** The last lines of the postmaster's log, for error messages. */
  logTail(lines = 8): string {
    try {
      const text = readFileNoFollow(this.logPath, { owners: this.pgOwners, maxBytes: 16_384, tail: true }) ?? "";
      return tailLines(text, lines);
    } catch (err) {
      return `(cannot read ${this.logPath}: ${(err as Error).message})`;
    }
  }

  /** Fast shutdown (waits for it); immediate shutdown when fast does not finish in time. */
  async stop(): Promise<void> {
    await this.closeSql();
    if (!this.isRunning()) {
      this.child = null;
      return;
    }
    try {
      await this.o.runner.run([this.bin("pg_ctl"), "stop", "-D", this.dataDir, "-m", "fast", "-w", "-t", String(STOP_TIMEOUT_S)], {
        timeoutMs: (STOP_TIMEOUT_S + 5) * 1000,
      });
    } catch (err) {
      if (!this.isRunning()) return;
      this.o.log.warn(`fast shutdown failed, using immediate shutdown: ${(err as Error).message}`);
      await this.o.runner.run([this.bin("pg_ctl"), "stop", "-D", this.dataDir, "-m", "immediate", "-w", "-t", "30"], { timeoutMs: 35_000 });
    }
    const child = this.child;
    this.child = null;
    if (child) await child.exited;
  }

  async restart(signal?: AbortSignal): Promise<void> {
    await this.stop();
    await this.start(signal);
  }

  async reload(): Promise<void> {
    await this.o.runner.run([this.bin("pg_ctl"), "reload", "-D", this.dataDir], { timeoutMs: 30_000 });
  }

  async promote(timeoutMs: number): Promise<void> {
    const t = Math.max(1, Math.ceil(timeoutMs / 1000));
    await this.o.runner.run([this.bin("pg_ctl"), "promote", "-w", "-t", String(t), "-D", this.dataDir], { timeoutMs: timeoutMs + 5000 });
  }

  /**
   * pg_basebackup of the followed instance into postgres.new (emptied first), streaming WAL, from
   * the followed DB's slot. The data dir is not touched: an unreachable or wrong source leaves it
   * as it was. The caller swaps the copy in (swapInNewDataDir) and writes the configuration.
   */
  async basebackup(source: { host: string; port: string; slot: string; applicationName: string }, signal?: AbortSignal): Promise<void> {
    await this.removeNewDataDir();
    this.ensureDir(this.newDataDir, true);
    const pass = this.tempPassfile(this.passLine(this.o.repl));
    const conninfo: Conninfo = {
      host: source.host,
      port: source.port,
      user: this.o.repl.username,
      application_name: source.applicationName,
      sslmode: "prefer",
      passfile: pass.path,
      connect_timeout: "10",
      options: "-c synchronous_commit=off",
    };
    try {
      await this.o.runner.run(
        [this.bin("pg_basebackup"), "-D", this.newDataDir, "-X", "stream", "--checkpoint=fast", "--no-password", `--slot=${source.slot}`, "-d", renderConninfo(conninfo)],
        { signal },
      );
    } finally {
      pass.remove();
    }
  }

  /** pg_rewind against the current master, as the superuser. The data dir must be stopped. */
  async rewind(source: { host: string; port: string }, signal?: AbortSignal): Promise<void> {
    const pass = this.tempPassfile(this.passLine(this.o.su));
    const conninfo: Conninfo = {
      host: source.host,
      port: source.port,
      user: this.o.su.username,
      dbname: "postgres",
      sslmode: "prefer",
      passfile: pass.path,
      connect_timeout: "10",
      options: "-c synchronous_commit=off",
    };
    await this.checkpointSource(source);
    // pg_rewind copies the source's files; the link must not be followed into /dev/null.
    rmSync(join(this.dataDir, "postgresql.auto.conf"), { force: true });
    try {
      // pg_rewind has no --no-password; the passfile in the conninfo is the only password source.
      await this.o.runner.run([this.bin("pg_rewind"), "-D", this.dataDir, `--source-server=${renderConninfo(conninfo)}`], { signal });
    } finally {
      pass.remove();
      this.neutraliseAutoConf();
    }
  }

  /**
   * CHECKPOINT on the rewind source. A standby promoted moments ago has not written a checkpoint
   * yet, so its control file still names the old timeline; pg_rewind reads that, sees no
   * divergence and does nothing ("no rewind required"), and the standby then cannot follow (seen
   * in the fault-injection runs, which ended in a full copy). PostgreSQL's pg_rewind page says to
   * checkpoint a recently promoted source first. A failure here is left to pg_rewind to report.
   */
  private async checkpointSource(source: { host: string; port: string }): Promise<void> {
    const sql = this.client(this.o.su, { host: source.host, port: Number(source.port) }, { database: "postgres", max: 1, connectTimeoutS: 10 });
    try {
      await sql`checkpoint`;
    } catch (err) {
      this.o.log.warn(`CHECKPOINT on the rewind source ${source.host}:${source.port} failed: ${(err as Error).message}`);
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  }

  /** A client on the local unix socket. */
  private localClient(c: Credentials, o: ClientOptions): Sql {
    return this.client(c, { path: join(this.o.socketDir, `.s.PGSQL.${this.o.port}`), port: this.o.port }, o);
  }

  /** A client of the keeper's, on a unix socket or over TCP; every setting explicit, so no PG* variable applies. */
  private client(c: Credentials, where: { path: string; port: number } | { host: string; port: number }, o: ClientOptions): Sql {
    return postgres({
      ...where,
      database: o.database,
      username: c.username,
      password: c.password ?? "",
      max: o.max,
      idle_timeout: 30,
      connect_timeout: o.connectTimeoutS,
      fetch_types: false,
      prepare: false,
      onnotice: () => {},
      connection: { application_name: "stolon-keeper", ...(o.replication ? { replication: "true" } : {}) },
    });
  }

  /** The SQL client on the unix socket, as the superuser. */
  sql(): Sql {
    this.sqlPool ??= this.localClient(this.o.su, { database: "postgres", max: 2, connectTimeoutS: 5 });
    return this.sqlPool;
  }

  async closeSql(): Promise<void> {
    const pools = [this.sqlPool, this.replPool];
    this.sqlPool = null;
    this.replPool = null;
    await Promise.all(pools.map((p) => p?.end({ timeout: 1 }).catch(() => {})));
  }

  private async query<T>(what: string, f: (sql: Sql) => Promise<T>, timeoutMs: number): Promise<T> {
    try {
      return await withTimeout(f(this.sql()), timeoutMs, what);
    } catch (err) {
      if (err instanceof PgQueryError) {
        // A timed-out connection may be wedged: start from a fresh pool.
        await this.closeSql();
        throw err;
      }
      throw new PgQueryError(`${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Waits until PostgreSQL accepts connections (a standby: once it is consistent). */
  async waitReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (!signal?.aborted) {
      if (!this.isRunning()) throw new PgCommandError("postgres", null, this.logTail(), "is not running");
      try {
        await this.query("readiness check", (sql) => sql`select 1`, Math.max(1000, Math.min(5000, deadline - Date.now())));
        return;
      } catch (err) {
        last = err;
        await this.closeSql();
      }
      if (Date.now() >= deadline) break;
      await Bun.sleep(READY_POLL_MS);
    }
    throw new StolonError("EPGNOTREADY", `postgres did not accept connections within ${timeoutMs} ms: ${(last as Error)?.message ?? "cancelled"}`, { cause: last });
  }

  /**
   * Stops a primary from taking writes without stopping it: pg_hba.conf keeps only replication and
   * the local superuser (the keeper), the configuration is reloaded, and every client session is
   * terminated but the one running this query, chosen by backend PID: application_name is the
   * client's to choose (PGAPPNAME=stolon-keeper would escape a fence that spared it). A walsender
   * connected to a database (logical replication) can run SQL too and goes as well; physical WAL
   * senders stay, so the standbys receive all the master wrote. The keeper's other pooled
   * connections go too; the pool opens new ones on the local socket, which the fence allows.
   */
  async fence(suUsername: string, suAuth: AuthMethod, replUsername: string, replAuth: AuthMethod, timeoutMs: number): Promise<number> {
    const hba = renderHba({
      suUsername,
      suAuthMethod: suAuth,
      replUsername,
      replAuthMethod: replAuth,
      accessMode: "all",
      standbyAddresses: [],
      isMaster: true,
      pgHBA: [],
      internalOnly: true,
      fenced: true,
    });
    this.writeOwned(join(this.dataDir, "pg_hba.conf"), hba.text);
    await this.reload();
    const rows = await this.query(
      "terminating client sessions",
      (sql) =>
        sql`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
            where pid <> pg_backend_pid()
              and (backend_type = 'client backend' or (backend_type = 'walsender' and datname is not null))`,
      timeoutMs,
    );
    return Number(rows[0]?.n ?? 0);
  }

  async isInRecovery(timeoutMs: number): Promise<boolean> {
    const rows = await this.query("pg_is_in_recovery", (sql) => sql`select pg_is_in_recovery() as r`, timeoutMs);
    return rows[0]!.r === true;
  }

  /**
   * Creates the superuser's password and the replication role (the same role when names match).
   * The statements carry a SCRAM verifier computed here, never the password: PostgreSQL stores a
   * verifier as it is, and no server setting (log_transaction_sample_rate, log_min_error_statement,
   * an audit extension, pg_stat_activity) can then show the password.
   */
  async setupRoles(timeoutMs: number): Promise<void> {
    const su = this.o.su;
    const repl = this.o.repl;
    const ident = (n: string) => `"${n.replace(/"/g, '""')}"`;
    // A verifier is base64 and `$:`, nothing to escape; the quoting is for the form's sake.
    const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
    const pw = (c: Credentials) =>
      c.password !== undefined ? ` PASSWORD ${lit(scramSha256Verifier(c.password, randomBytes(SCRAM_SALT_BYTES)))}` : "";
    await this.query(
      "setting up roles",
      (sql) =>
        sql.begin(async (tx) => {
          // Not needed for the password any more; keeps the verifier (an offline guessing target)
          // out of the log when the logging settings allow it.
          await tx.unsafe("SET LOCAL log_statement = 'none'");
          await tx.unsafe("SET LOCAL log_min_duration_statement = -1");
          if (su.username === repl.username) {
            await tx.unsafe(`ALTER ROLE ${ident(su.username)} WITH LOGIN REPLICATION${pw(su)}`);
          } else {
            if (su.password !== undefined) await tx.unsafe(`ALTER ROLE ${ident(su.username)} WITH${pw(su)}`);
            await tx.unsafe(`CREATE ROLE ${ident(repl.username)} WITH LOGIN REPLICATION${pw(repl)}`);
          }
        }),
      timeoutMs,
    );
  }

  /** Parameters set in the configuration files, managed ones excluded (what the keeper reports). */
  async fileParameters(timeoutMs: number, sourceFile?: string): Promise<Record<string, string>> {
    const rows = await this.query(
      "reading pg_file_settings",
      (sql) => sql`select name, setting, sourcefile from pg_file_settings where error is null order by seqno`,
      timeoutMs,
    );
    const out: Record<string, string> = {};
    for (const r of rows) {
      if (sourceFile !== undefined && !String(r.sourcefile).endsWith(sourceFile)) continue;
      const name = String(r.name);
      if (!MANAGED_PARAMETERS.has(name)) out[name] = String(r.setting);
    }
    return out;
  }

  /** DB uids of the standbys pg_stat_replication reports in sync (application names with the stolon slot prefix). */
  async inSyncStandbys(timeoutMs: number): Promise<string[]> {
    const rows = await this.query(
      "reading pg_stat_replication",
      (sql) => sql`select application_name from pg_stat_replication where sync_state = 'sync'`,
      timeoutMs,
    );
    return rows
      .map((r) => String(r.application_name))
      .map((n) => dbUidOfSlot(n))
      .filter((uid): uid is string => uid !== null)
      .sort();
  }

  async pendingRestart(timeoutMs: number): Promise<string[]> {
    const rows = await this.query("reading pg_settings", (sql) => sql`select name from pg_settings where pending_restart`, timeoutMs);
    return rows.map((r) => String(r.name));
  }

  async physicalSlots(timeoutMs: number): Promise<string[]> {
    const rows = await this.query(
      "listing replication slots",
      (sql) => sql`select slot_name from pg_replication_slots where slot_type = 'physical'`,
      timeoutMs,
    );
    return rows.map((r) => String(r.slot_name));
  }

  async createSlot(name: string, timeoutMs: number): Promise<void> {
    await this.query(`creating replication slot ${name}`, (sql) => sql`select pg_create_physical_replication_slot(${name})`, timeoutMs);
  }

  async dropSlot(name: string, timeoutMs: number): Promise<void> {
    await this.query(`dropping replication slot ${name}`, (sql) => sql`select pg_drop_replication_slot(${name})`, timeoutMs);
  }

  /**
   * The state the keeper reports: identity and position through a replication connection
   * (IDENTIFY_SYSTEM, TIMELINE_HISTORY, as stolon does), parameters, in-sync standbys, oldest WAL.
   */
  async state(timeoutMs: number): Promise<LocalPgState> {
    const inRecovery = await this.isInRecovery(timeoutMs);
    const ident = await this.identify(timeoutMs);
    const pgParameters = await this.fileParameters(timeoutMs);
    const synchronousStandbys = await this.inSyncStandbys(timeoutMs);
    let walNames: string[] = [];
    try {
      walNames = readdirSync(join(this.dataDir, "pg_wal"));
    } catch (err) {
      throw new PgQueryError(`cannot list pg_wal: ${(err as Error).message}`, { cause: err });
    }
    const older = oldestWalFile(walNames);
    if (older === null) throw new PgQueryError("no WAL file found in pg_wal");
    if (!inRecovery) return { ...ident, pgParameters, synchronousStandbys, olderWalFile: older, inRecovery };
    // One row whatever the receiver does (pg_stat_wal_receiver has none when it is not running),
    // and the replay figures in the same round trip: the report path gets no extra query.
    // pg_last_xact_replay_timestamp() is when the master committed the last replayed transaction:
    // its age is the delay only while replay is behind; caught up, an idle master would make it grow.
    const wr = await this.query(
      "reading pg_stat_wal_receiver",
      (sql) => sql`select (select status from pg_stat_wal_receiver) as status,
                          pg_last_wal_replay_lsn()::text as replay,
                          case when pg_last_wal_receive_lsn() is null or pg_last_wal_replay_lsn() is null then null
                               when pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()
                                 then extract(epoch from now() - pg_last_xact_replay_timestamp())::float8
                               else 0 end as lag_s`,
      timeoutMs,
    );
    const row = wr[0];
    return {
      ...ident,
      pgParameters,
      synchronousStandbys,
      olderWalFile: older,
      inRecovery,
      receivingWal: row?.status === "streaming",
      replayLsn: typeof row?.replay === "string" ? parseLsn(row.replay) : null,
      replayLagSeconds: replayLag(row?.lag_s),
    };
  }

  private async identify(timeoutMs: number): Promise<{ systemID: string; timelineID: number; xLogPos: number; timelinesHistory: TimelineHistoryEntry[] }> {
    // Kept open between reports: a new walsender per report would cost a backend start each time.
    this.replPool ??= this.localClient(this.o.repl, {
      database: "replication",
      max: 1,
      connectTimeoutS: Math.max(1, Math.ceil(timeoutMs / 1000)),
      replication: true,
    });
    const repl = this.replPool;
    const work = async () => {
      const rows = await repl.unsafe("IDENTIFY_SYSTEM").simple();
      const r = rows[0];
      if (!r) throw new PgQueryError("IDENTIFY_SYSTEM returned no row");
      const timelineID = Number(r.timeline);
      let timelinesHistory: TimelineHistoryEntry[] = [];
      if (timelineID > 1) {
        const h = await repl.unsafe(`TIMELINE_HISTORY ${timelineID}`).simple();
        const content = h[0]?.content;
        const text = typeof content === "string" ? content : content instanceof Uint8Array ? new TextDecoder().decode(content) : "";
        timelinesHistory = parseTimelineHistory(text).slice(-2);
      }
      return { systemID: String(r.systemid), timelineID, xLogPos: parseLsn(String(r.xlogpos)), timelinesHistory };
    };
    try {
      return await withTimeout(work(), timeoutMs, "IDENTIFY_SYSTEM");
    } catch (err) {
      if (this.replPool === repl) this.replPool = null;
      await repl.end({ timeout: 1 }).catch(() => {});
      if (err instanceof StolonError) throw err;
      throw new PgQueryError(`IDENTIFY_SYSTEM: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** The replay delay column: seconds, never negative (clocks of master and standby differ); null when unknown. */
function replayLag(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? Math.max(0, n) : null;
}

/** Rejects with a PgQueryError naming `what` when `p` takes longer than `ms`. */
async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PgQueryError(`${what}: timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
