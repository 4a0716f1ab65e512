/**
 * The postmaster as the keeper's child process: start (and wait for postmaster.pid), the watchdog
 * that stops it when the keeper dies, readiness, stop, reload, promote, and its log.
 */
import { closeSync, renameSync } from "node:fs";
import { join } from "node:path";
import { describeError, StolonError } from "../lib/errors.ts";
import { lstatOrNull, openOrCreateFile, readFileNoFollow, UnsafePathError } from "../lib/files.ts";
import type { Logger } from "../lib/log.ts";
import type { PgData } from "./pgdata.ts";
import { PgCommandError, tailLines, type CommandRunner, type SpawnedProcess } from "./runner.ts";

const POSTMASTER_START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_S = 60;
/** How often readiness is polled. */
const READY_POLL_MS = 100;
const LOG_ROTATE_BYTES = 16 * 1024 * 1024;

export interface PostmasterOptions {
  data: PgData;
  socketDir: string;
  runner: CommandRunner;
  log: Logger;
}

export class Postmaster {
  private child: SpawnedProcess | null = null;
  /** Keeps the watchdog (and so the write end of its stdin pipe) referenced while PostgreSQL runs. */
  private watchdog: SpawnedProcess | null = null;
  /** The pid the watchdog guards: our child's, or that of a postmaster found running (adopted). */
  private guarded: number | null = null;

  constructor(private readonly o: PostmasterOptions) {}

  private get d(): PgData {
    return this.o.data;
  }

  /** The pid of a live postmaster on our data dir (ours or left behind by an earlier keeper), or null. */
  runningPid(): number | null {
    let text: string | null;
    try {
      text = readFileNoFollow(join(this.d.dataDir, "postmaster.pid"), { owners: this.d.pgOwners, maxBytes: 64 * 1024 });
    } catch (err) {
      // A link or a FIFO is not PostgreSQL's lock file: no postmaster of ours wrote it.
      if (err instanceof UnsafePathError) this.d.warnUnsafe(err);
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
   * Starts the postmaster as our child and waits until it has written postmaster.pid (or exited).
   * Readiness to accept connections is waitReady's job. The caller has put the configuration
   * (and the ALTER SYSTEM guard) in place.
   */
  async start(signal?: AbortSignal): Promise<void> {
    this.d.ensureDir(this.o.socketDir, true);
    this.rotateLog();
    // The log file is made (or checked) here, the PostgreSQL user's, in the keeper's dir where
    // that user cannot put a link; it is opened by a shell running as that user, never by root.
    closeSync(openOrCreateFile(this.d.logPath, { mode: 0o640, owner: this.d.owner, owners: this.d.pgOwners }));
    // exec: the postmaster keeps the shell's pid, so the child we watch is the postmaster.
    const child = this.o.runner.spawn(
      ["/bin/sh", "-c", 'log=$1; shift; exec "$@" >>"$log" 2>&1', "stolon-pg-start", this.d.logPath, this.d.bin("postgres"), "-D", this.d.dataDir],
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
        this.armWatchdog(child.pid, child.exited);
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
  private armWatchdog(pid: number, exited: Promise<number> | null): void {
    // A postmaster that is not our child has no exit promise: its watchdog is dropped when the
    // keeper sees it gone (setWatchdog, stop), and until then it signals the pid only while
    // postmaster.pid still names it, so a reused pid is never hit.
    const script = exited ? 'read -r _; kill -INT "$1" 2>/dev/null' : 'read -r _; [ "$(head -n 1 "$2/postmaster.pid" 2>/dev/null)" = "$1" ] && kill -INT "$1" 2>/dev/null';
    let dog: SpawnedProcess;
    try {
      dog = this.o.runner.spawn(["/bin/sh", "-c", script, "stolon-pg-watchdog", String(pid), this.d.dataDir], { tied: true });
    } catch (err) {
      this.o.log.warn(`PostgreSQL (pid ${pid}) has no watchdog and will outlive a dead keeper: ${describeError(err)}`);
      return;
    }
    this.watchdog = dog;
    this.guarded = pid;
    void exited?.then(() => {
      if (this.watchdog === dog) this.dropWatchdog();
      else dog.kill("SIGKILL");
    });
  }

  private dropWatchdog(): void {
    this.watchdog?.kill("SIGKILL");
    this.watchdog = null;
    this.guarded = null;
  }

  /**
   * Arms or disarms the watchdog of the running postmaster (see armWatchdog). Off while the
   * cluster is paused: nothing fails over then, so PostgreSQL may outlive a dead keeper and the
   * keeper that starts again finds it serving (issue 17). On again when the pause ends, also for
   * a postmaster this keeper process did not start (found running while paused). Cheap when
   * nothing changes: one read of postmaster.pid.
   */
  setWatchdog(on: boolean): void {
    const pid = this.runningPid();
    if (this.watchdog && (!on || this.guarded !== pid)) {
      if (!on && pid !== null) this.o.log.info(`watchdog disarmed: PostgreSQL (pid ${pid}) outlives a dead keeper until it is armed again`);
      this.dropWatchdog();
    }
    if (!on || pid === null || this.watchdog) return;
    const child = this.child?.pid === pid ? this.child : null;
    this.armWatchdog(pid, child ? child.exited : null);
    if (!child) this.o.log.info(`watchdog armed for the postmaster (pid ${pid}) this keeper process did not start`);
  }

  private rotateLog(): void {
    // rename works on names in the keeper's dir and follows nothing.
    const st = lstatOrNull(this.d.logPath);
    if (st?.isFile() && st.size > LOG_ROTATE_BYTES) renameSync(this.d.logPath, `${this.d.logPath}.1`);
  }

  /** The last lines of the postmaster's log, for error messages. */
  logTail(lines = 8): string {
    try {
      const text = readFileNoFollow(this.d.logPath, { owners: this.d.pgOwners, maxBytes: 16_384, tail: true }) ?? "";
      return tailLines(text, lines);
    } catch (err) {
      return `(cannot read ${this.d.logPath}: ${describeError(err)})`;
    }
  }

  /**
   * Waits until PostgreSQL accepts connections (a standby: once it is consistent): `ping` runs a
   * trivial query bounded by the time it is given; `reset` drops the connections after a failure.
   */
  async waitReady(timeoutMs: number, ping: (timeoutMs: number) => Promise<unknown>, reset: () => Promise<void>, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (!signal?.aborted) {
      if (!this.isRunning()) throw new PgCommandError("postgres", null, this.logTail(), "is not running");
      try {
        await ping(Math.max(1000, Math.min(5000, deadline - Date.now())));
        return;
      } catch (err) {
        last = err;
        await reset();
      }
      if (Date.now() >= deadline) break;
      await Bun.sleep(READY_POLL_MS);
    }
    throw new StolonError("EPGNOTREADY", `postgres did not accept connections within ${timeoutMs} ms: ${last === undefined ? "cancelled" : describeError(last)}`, { cause: last });
  }

  /** Fast shutdown (waits for it); immediate shutdown when fast does not finish in time. The caller closes its connections first. */
  async stop(): Promise<void> {
    if (!this.isRunning()) {
      this.child = null;
      this.dropWatchdog();
      return;
    }
    try {
      if (!(await this.signalChildStop())) await this.pgCtlStop("fast", STOP_TIMEOUT_S);
    } catch (err) {
      if (!this.isRunning()) return;
      this.o.log.warn(`fast shutdown failed, using immediate shutdown: ${describeError(err)}`);
      await this.pgCtlStop("immediate", 30);
    }
    const child = this.child;
    this.child = null;
    if (child) await child.exited;
    if (this.guarded !== null && !this.isRunning()) this.dropWatchdog();
  }

  /**
   * Fast shutdown of our own child: SIGINT (what `pg_ctl stop -m fast` sends) and its exit awaited,
   * which is seen at once, where pg_ctl polls postmaster.pid every 100 ms (a switchover's write
   * gap waits on this stop). Returns false when the postmaster is not our child (pg_ctl then).
   * @throws when it has not exited within STOP_TIMEOUT_S (the caller shuts it down immediately).
   */
  private async signalChildStop(): Promise<boolean> {
    const child = this.child;
    if (!child || this.runningPid() !== child.pid) return false;
    child.kill("SIGINT");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_TIMEOUT_S * 1000)));
    try {
      if (await Promise.race([child.exited.then(() => false), timedOut]))
        throw new PgCommandError("postgres", null, this.logTail(), `did not finish its fast shutdown within ${STOP_TIMEOUT_S} s`);
    } finally {
      clearTimeout(timer);
    }
    return true;
  }

  async reload(): Promise<void> {
    await this.o.runner.run([this.d.bin("pg_ctl"), "reload", "-D", this.d.dataDir], { timeoutMs: 30_000 });
  }

  async promote(timeoutMs: number): Promise<void> {
    const t = Math.max(1, Math.ceil(timeoutMs / 1000));
    await this.o.runner.run([this.d.bin("pg_ctl"), "promote", "-w", "-t", String(t), "-D", this.d.dataDir], { timeoutMs: timeoutMs + 5000 });
  }

  /** `pg_ctl stop` in `mode`, waiting up to `waitS` seconds; the command itself gets 5 s more. */
  private async pgCtlStop(mode: "fast" | "immediate", waitS: number): Promise<void> {
    await this.o.runner.run([this.d.bin("pg_ctl"), "stop", "-D", this.d.dataDir, "-m", mode, "-w", "-t", String(waitS)], { timeoutMs: (waitS + 5) * 1000 });
  }
}
