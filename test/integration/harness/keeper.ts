/**
 * Test harness for keepers: a temp root for their data dirs, keeper processes (bun cmd/keeper.ts)
 * whose output is kept for assertions, and the PostgreSQL instances they start, all torn down
 * after the test file even when a test fails half way.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import postgres from "postgres";
import type { ClusterData, DB, DBSpec } from "../../../src/cluster/index.ts";
import { withDefaults, type ClusterSpec } from "../../../src/cluster/index.ts";
import { atEnd, disown, findBinary, own, waitFor } from "./etcd.ts";

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
    rmSync(root, { recursive: true, force: true });
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

export class KeeperProcess {
  private out = "";
  readonly exited: Promise<number>;

  private constructor(
    readonly opts: KeeperOptions,
    private readonly proc: Subprocess<"ignore", "pipe", "pipe">,
  ) {
    const drain = async (s: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const chunk of s) {
        this.out += dec.decode(chunk);
        if (process.env.STOLON_TEST_VERBOSE) process.stderr.write(`[${opts.uid}] ${dec.decode(chunk)}`);
      }
    };
    const drained = Promise.all([drain(proc.stdout), drain(proc.stderr)]);
    this.exited = proc.exited.then(async (code) => {
      await drained;
      disown(proc);
      return code;
    });
  }

  static start(opts: KeeperOptions, root: string): KeeperProcess {
    const args = [
      "--cluster-name", opts.cluster,
      "--store-backend", "etcdv3",
      "--store-endpoints", opts.etcd,
      "--uid", opts.uid,
      "--data-dir", opts.dataDir,
      "--pg-listen-address", "127.0.0.1",
      "--pg-port", String(opts.pgPort),
      "--pg-bin-path", PG_BIN,
      ...(opts.authArgs ?? passwordArgs(root)),
      "--log-level", "debug",
      ...(opts.extraArgs ?? []),
    ];
    const proc = Bun.spawn([process.execPath, join(import.meta.dir, "../../../cmd/keeper.ts"), ...args], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" },
    });
    own(proc);
    return new KeeperProcess(opts, proc);
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

/** A DB with the spec fields a sentinel would copy from the cluster spec. */
export function makeDb(
  spec: ClusterSpec,
  d: Pick<DBSpec, "keeperUID" | "role" | "initMode"> & Partial<DBSpec> & { uid: string; generation?: number },
): DB {
  const s = withDefaults(spec);
  const { uid, generation, ...rest } = d;
  return {
    uid,
    generation: generation ?? 1,
    changeTime: new Date().toISOString(),
    spec: {
      requestTimeout: s.requestTimeout,
      maxStandbys: s.maxStandbys,
      synchronousReplication: s.synchronousReplication,
      usePgrewind: s.usePgrewind,
      additionalWalSenders: s.additionalWalSenders,
      additionalReplicationSlots: s.additionalMasterReplicationSlots,
      pgParameters: s.pgParameters,
      pgHBA: s.pgHBA,
      followers: [],
      ...rest,
    },
    status: {},
  };
}

export function makeClusterData(uid: string, spec: ClusterSpec): ClusterData {
  const now = new Date().toISOString();
  return {
    formatVersion: 1,
    changeTime: now,
    cluster: { uid, generation: 1, changeTime: now, spec, status: { phase: "normal" } },
    keepers: {},
    dbs: {},
    proxy: { generation: 1, changeTime: now, spec: {}, status: {} },
  };
}

/** A SQL client on a keeper's PostgreSQL over TCP, as the superuser. */
export function sqlTo(port: number) {
  return postgres({
    host: "127.0.0.1",
    port,
    database: "postgres",
    username: "stolon",
    password: SU_PASSWORD,
    max: 1,
    connect_timeout: 5,
    idle_timeout: 5,
    fetch_types: false,
    onnotice: () => {},
  });
}

/** Runs one query on a fresh connection (the instance may have restarted since the last one). */
export async function query<T = Record<string, unknown>>(port: number, text: string): Promise<T[]> {
  const sql = sqlTo(port);
  try {
    return (await sql.unsafe(text)) as unknown as T[];
  } finally {
    await sql.end({ timeout: 1 });
  }
}

export { waitFor };
