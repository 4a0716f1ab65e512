/**
 * Runs PostgreSQL's programs through Bun.spawn. The environment is built from scratch (PG* and
 * the rest of the keeper's environment are not inherited), so libpq sees only what we pass.
 * When the keeper runs as root, every program runs as the unprivileged PostgreSQL OS user.
 */
import { describeError, StolonError } from "../lib/errors.ts";
import type { OsUser } from "./os-user.ts";

export interface RunOptions {
  env?: Record<string, string>;
  /** Kill the program (SIGKILL) after this long. */
  timeoutMs?: number;
  signal?: AbortSignal;
  stdin?: string;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  /** The last lines of stderr. */
  stderrTail: string;
}

/** A program that exited non-zero, was killed, or could not be started. */
export class PgCommandError extends StolonError {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderrTail: string,
    why?: string,
    options?: { cause?: unknown },
  ) {
    const what = why ?? (exitCode === null ? "was killed" : `exited with code ${exitCode}`);
    super("EPGCOMMAND", `${command} ${what}${stderrTail ? `: ${stderrTail}` : ""}`, options);
  }
}

export interface SpawnedProcess {
  readonly pid: number;
  readonly exited: Promise<number>;
  kill(signal?: NodeJS.Signals | number): void;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  logFd?: number;
  tied?: boolean;
}

export interface CommandRunner {
  /** Runs a program to completion. @throws PgCommandError on a non-zero exit, a timeout or an abort. */
  run(argv: string[], opts?: RunOptions): Promise<RunResult>;
  /**
   * Starts a long-running program (the postmaster) with stdout and stderr going to `logFd` (or
   * nowhere). With `tied`, its stdin is a pipe whose only writer is this process and that is never
   * written: it reads end-of-file when this process dies, however it dies.
   */
  spawn(argv: string[], opts: SpawnOptions): SpawnedProcess;
  /** The OS user programs run as, when different from the keeper's own. */
  readonly asUser: OsUser | null;
}

const STDERR_TAIL_LINES = 12;
const STDERR_TAIL_CHARS = 2000;

export function tailLines(text: string, lines = STDERR_TAIL_LINES, chars = STDERR_TAIL_CHARS): string {
  const tail = text.trimEnd().split("\n").slice(-lines).join("\n");
  return tail.length > chars ? tail.slice(tail.length - chars) : tail;
}

/** Base environment for PostgreSQL programs: nothing inherited but the locale. */
export function baseEnv(asUser: OsUser | null): Record<string, string> {
  const env: Record<string, string> = {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    // libpq would otherwise read ~/.pgpass of whoever runs it; every tool gets its own passfile.
    PGPASSFILE: "/dev/null",
  };
  if (asUser) env.HOME = asUser.home;
  else if (process.env.HOME) env.HOME = process.env.HOME;
  for (const k of ["LANG", "LC_ALL", "LC_CTYPE", "LC_COLLATE", "LC_MESSAGES", "TZ"])
    if (process.env[k]) env[k] = process.env[k]!;
  return env;
}

export class BunCommandRunner implements CommandRunner {
  constructor(readonly asUser: OsUser | null) {}

  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const command = argv.join(" ");
    if (opts.signal?.aborted) throw new PgCommandError(command, null, "", "was not started: the keeper is stopping");
    let proc: ReturnType<typeof Bun.spawn>;
    try {
      proc = Bun.spawn(argv, {
        env: { ...baseEnv(this.asUser), ...opts.env },
        stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
        stdout: "pipe",
        stderr: "pipe",
        ...(this.asUser ? { uid: this.asUser.uid, gid: this.asUser.gid } : {}),
      });
    } catch (err) {
      throw new PgCommandError(command, null, "", `could not be started: ${describeError(err)}`, { cause: err });
    }
    let why: string | undefined;
    const kill = (reason: string) => {
      why ??= reason;
      proc.kill("SIGKILL");
    };
    const timer = opts.timeoutMs !== undefined ? setTimeout(() => kill(`timed out after ${opts.timeoutMs} ms`), opts.timeoutMs) : undefined;
    const onAbort = () => kill("was cancelled: the keeper is stopping");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const [stdout, stderr, exitCode] = await Promise.all([
        new Response(proc.stdout as ReadableStream).text(),
        new Response(proc.stderr as ReadableStream).text(),
        proc.exited,
      ]);
      const stderrTail = tailLines(stderr);
      if (why !== undefined || exitCode !== 0) throw new PgCommandError(command, why ? null : exitCode, stderrTail, why);
      return { exitCode, stdout, stderrTail };
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  spawn(argv: string[], opts: SpawnOptions): SpawnedProcess {
    try {
      const proc = Bun.spawn(argv, {
        env: { ...baseEnv(this.asUser), ...opts.env },
        stdin: opts.tied ? "pipe" : "ignore",
        stdout: opts.logFd ?? "ignore",
        stderr: opts.logFd ?? "ignore",
        ...(this.asUser ? { uid: this.asUser.uid, gid: this.asUser.gid } : {}),
      });
      return proc;
    } catch (err) {
      throw new PgCommandError(argv.join(" "), null, "", `could not be started: ${describeError(err)}`, { cause: err });
    }
  }
}
