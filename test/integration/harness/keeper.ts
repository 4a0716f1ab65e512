/**
 * Test harness for keepers: a temp root for their data dirs, keeper processes (bun cmd/keeper.ts)
 * whose output is kept for assertions, and the PostgreSQL instances they start, all torn down
 * after the test file even when a test fails half way.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type postgres from "postgres";
import type { ClusterData, DB, DBSpec } from "../../../src/cluster/index.ts";
import { withDefaults, type ClusterSpec } from "../../../src/cluster/index.ts";
import type { PgManager } from "../../../src/postgres/index.ts";
import { startStandalonePostgres as startServer } from "../../../scripts/standalone-postgres.ts";
import { atEnd, disown, findBinary, own } from "./process.ts";
import { waitFor } from "../../harness/util.ts";
import { queryOnce, superuserSql } from "./sql.ts";

export const PG_BIN = "/usr/lib/postgresql/15/bin";

/** Fails with a clear message when PostgreSQL is not installed (CI must not skip silently). */
export function requirePostgres(): void {
  findBinary("postgres", [PG_BIN]);
}

/**
 * A temp dir for keeper data dirs. It is world-searchable, so that a keeper running as root can
 * hand its data dir to the unprivileged PostgreSQL user.
 */
export function makeTestRoot(name: string): string {
  const root = mkdtempSync(join(tmpdir(), `stolon-test-${name}-`));
  chmodSync(root, 0o755);
  atEnd(() => {
    stopLeftoverPostgres(root);
    // STOLON_TEST_KEEP=1 keeps the dir (logs, data dirs) to look at after a failure.
    if (process.env.STOLON_TEST_KEEP) console.log(`kept ${root}`);
    else rmSync(root, { recursive: true, force: true });
  });
  return root;
}

/** Immediate shutdown of any postmaster whose data dir is under `root` (a killed keeper leaves it). */
export function stopLeftoverPostgres(root: string): void {
  const r = Bun.spawnSync(["sh", "-c", `ls -d ${JSON.stringify(root)}/*/postgres 2>/dev/null`], { stdout: "pipe" });
  for (const dir of r.stdout.toString().split("\n").filter(Boolean)) {
    const pidFile = join(dir, "postmaster.pid");
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
    if (!(pid > 0)) continue;
    try {
      process.kill(pid, "SIGQUIT");
    } catch {
      continue;
    }
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      Bun.sleepSync(50);
    }
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
}

export const SU_PASSWORD = "su'pass:word";
export const REPL_PASSWORD = "repl pass\\word";

export interface KeeperOptions {
  uid: string;
  dataDir: string;
  pgPort: number;
  etcd: string;
  cluster: string;
  /** Replaces the default password flags (for error tests). */
  authArgs?: string[];
  extraArgs?: string[];
}

/** Writes the password files once per root and returns the auth flags that use them. */
export function passwordArgs(root: string): string[] {
  const su = join(root, "su.pw");
  const repl = join(root, "repl.pw");
  if (!existsSync(su)) {
    writeFileSync(su, SU_PASSWORD + "\n", { mode: 0o600 });
    writeFileSync(repl, REPL_PASSWORD + "\r\n", { mode: 0o600 });
  }
  return ["--pg-su-username", "stolon", "--pg-su-passwordfile", su, "--pg-repl-username", "repl", "--pg-repl-passwordfile", repl];
}

/** One of our daemons (bun cmd/<name>.ts) whose output is kept for assertions. */
export class DaemonProcess {
  private out = "";
  readonly exited: Promise<number>;

  constructor(
    readonly name: string,
    private readonly proc: Subprocess<"ignore", "pipe", "pipe">,
  ) {
    const drain = async (s: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const chunk of s) {
        const text = dec.decode(chunk);
        this.out += text;
        if (process.env.STOLON_TEST_VERBOSE) process.stderr.write(`[${name}] ${text}`);
      }
    };
    const drained = Promise.all([drain(proc.stdout), drain(proc.stderr)]);
    this.exited = proc.exited.then(async (code) => {
      await drained;
      disown(proc);
      return code;
    });
  }

  static start(cmd: "keeper" | "sentinel" | "proxy", name: string, args: string[]): DaemonProcess {
    return DaemonProcess.spawn(name, [process.execPath, join(import.meta.dir, `../../../cmd/${cmd}.ts`), ...args]);
  }

  /** Any program as a daemon (for example a compiled executable), with a minimal environment. */
  static spawn(name: string, argv: string[], cwd?: string): DaemonProcess {
    const proc = Bun.spawn(argv, {
      cwd,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" },
    });
    own(proc);
    return new DaemonProcess(name, proc);
  }

  get output(): string {
    return this.out;
  }

  get pid(): number {
    return this.proc.pid;
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    this.proc.kill(signal);
  }

  /** SIGTERM and wait for the exit code. */
  async stop(): Promise<number> {
    this.proc.kill("SIGTERM");
    return this.exited;
  }
}

export type KeeperProcess = DaemonProcess;
export const KeeperProcess = {
  /** Starts stolon-keeper on 127.0.0.1 with the test's passwords and debug logs. */
  start(o: KeeperOptions, root: string): KeeperProcess {
    return DaemonProcess.start("keeper", o.uid, [
      "--cluster-name", o.cluster,
      "--store-backend", "etcdv3",
      "--store-endpoints", o.etcd,
      "--uid", o.uid,
      "--data-dir", o.dataDir,
      "--pg-listen-address", "127.0.0.1",
      "--pg-port", String(o.pgPort),
      "--pg-bin-path", PG_BIN,
      ...(o.authArgs ?? passwordArgs(root)),
      "--log-level", "debug",
      ...(o.extraArgs ?? []),
    ]);
  },
};

/** The pid of the postmaster running on a keeper's data dir, if any. */
export function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]);
    return pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** A SQL client on a keeper's PostgreSQL over TCP, as the superuser. */
export function sqlTo(port: number): postgres.Sql {
  return superuserSql(port, SU_PASSWORD);
}

/** Runs one query on a fresh connection (the instance may have restarted since the last one). */
export function query<T = Record<string, unknown>>(port: number, text: string): Promise<T[]> {
  return queryOnce<T>(sqlTo(port), text);
}

/** A server without a keeper (see scripts/standalone-postgres.ts), stopped after the test file. */
export async function startStandalonePostgres(root: string, name: string, port: number): Promise<PgManager> {
  const pg = await startServer(join(root, name), port, { max_connections: "200" });
  atEnd(() => pg.stop());
  return pg;
}
