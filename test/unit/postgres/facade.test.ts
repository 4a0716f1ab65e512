/**
 * PgManager as a facade over its modules: what each tool method runs (argv, in order), where the
 * passwords go (0600 files of the PostgreSQL user's, removed after use, never argv), and the
 * ALTER SYSTEM guard kept around pg_rewind and start. No PostgreSQL runs: a runner records argv.
 * These held before the split of manager.ts and must hold after it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../../src/lib/log.ts";
import { PgManager, type CommandRunner, type RunResult, type SpawnedProcess } from "../../../src/postgres/index.ts";

const root = mkdtempSync(join(tmpdir(), "stolon-test-pgfacade-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Records argv, and what the named files held while the command ran (a passfile is gone after). */
class RecordingRunner implements CommandRunner {
  readonly asUser = null;
  readonly runs: string[][] = [];
  readonly filesSeen: Record<string, string> = {};
  constructor(private readonly stdout: Record<string, string> = {}) {}
  async run(argv: string[]): Promise<RunResult> {
    this.runs.push(argv);
    for (const a of argv) {
      const m = /(?:--pwfile=|passfile=')([^' ]+)/.exec(a);
      if (m) this.filesSeen[m[1]!] = readFileSync(m[1]!, "utf8");
    }
    const prog = argv[0]!.split("/").pop()!;
    return { exitCode: 0, stdout: this.stdout[prog] ?? "", stderrTail: "" };
  }
  spawn(): SpawnedProcess {
    throw new Error("not in these tests");
  }
}

let n = 0;
function setup(stdout?: Record<string, string>) {
  const stateDir = join(root, `k${n++}`);
  mkdirSync(stateDir, { mode: 0o700 });
  const runner = new RecordingRunner(stdout);
  const warnings: string[] = [];
  const pg = new PgManager({
    binDir: "/pg/bin",
    stateDir,
    socketDir: join(stateDir, "run"),
    port: 5432,
    runner,
    su: { username: "stolon", password: "su-secret" },
    repl: { username: "repl", password: "repl-secret" },
    log: createLogger("warn", [{ log: (l) => void (l.type === "warn" && warnings.push(l.args.join(" "))) }]),
  });
  return { pg, runner, stateDir, warnings, runs: () => runner.runs.map((a) => generic(a, stateDir)) };
}

/** argv with the state dir and the random part of temp file names replaced, to compare. */
function generic(argv: string[], stateDir: string): string[] {
  return argv.map((a) => a.replaceAll(stateDir, "<state>").replace(/(\.(?:pgpass|pwfile)-)[A-Za-z0-9-]+/, "$1<uid>"));
}

function passfilesLeft(stateDir: string): string[] {
  return Bun.spawnSync(["ls", "-A", stateDir]).stdout.toString().split("\n").filter((f) => f.startsWith(".pgpass-") || f.startsWith(".pwfile-"));
}

describe("PgManager's tools", () => {
  test("postgres --version and pg_controldata are read as before", async () => {
    const s = setup({ postgres: "postgres (PostgreSQL) 15.8 (Debian 15.8-1)\n", pg_controldata: "pg_control version number:  1300\nDatabase system identifier:           7312345678901234567\n" });
    expect(await s.pg.binaryVersion()).toEqual({ Maj: 15, Min: 8 });
    expect(await s.pg.systemId()).toBeNull(); // no pg_control: nothing is run
    mkdirSync(join(s.pg.dataDir, "global"), { recursive: true });
    writeFileSync(join(s.pg.dataDir, "global", "pg_control"), "");
    expect(await s.pg.systemId()).toBe("7312345678901234567");
    expect(s.runs()).toEqual([["/pg/bin/postgres", "--version"], ["/pg/bin/pg_controldata", "-D", "<state>/postgres"]]);
  });

  test("initdb gets a SCRAM verifier in a pwfile that is gone afterwards, never the password", async () => {
    const s = setup();
    await s.pg.initdb({ locale: "C", encoding: "UTF8", dataChecksums: true });
    expect(s.runs()).toEqual([
      ["/pg/bin/initdb", "-D", "<state>/postgres", "-U", "stolon", "--auth-local=trust", "--auth-host=reject", "--pwfile=<state>/.pwfile-<uid>", "--locale=C", "--encoding=UTF8", "--data-checksums"],
    ]);
    const seen = Object.values(s.runner.filesSeen);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^SCRAM-SHA-256\$4096:[^\n]+\n$/);
    expect(seen[0]).not.toContain("su-secret");
    expect(passfilesLeft(s.stateDir)).toEqual([]);
  });

  test("pg_basebackup copies into postgres.new from the slot, the replication password in a passfile removed after", async () => {
    const s = setup();
    await s.pg.basebackup({ host: "10.0.0.1", port: "5433", slot: "stolon_abc", applicationName: "stolon_def" });
    const runs = s.runs();
    expect(runs.at(-1)).toEqual([
      "/pg/bin/pg_basebackup", "-D", "<state>/postgres.new", "-X", "stream", "--checkpoint=fast", "--no-password", "--slot=stolon_abc", "-d",
      "host='10.0.0.1' port='5433' user='repl' application_name='stolon_def' sslmode='prefer' passfile='<state>/.pgpass-<uid>' options='-c synchronous_commit=off' connect_timeout='10'",
    ]);
    expect(Object.values(s.runner.filesSeen)).toEqual(["*:*:*:repl:repl-secret\n"]);
    expect(existsSync(s.pg.newDataDir)).toBe(true);
    expect(passfilesLeft(s.stateDir)).toEqual([]);
  });

  test("pg_rewind as the superuser, with the ALTER SYSTEM link out of the way while it runs and back after", async () => {
    const s = setup();
    mkdirSync(s.pg.dataDir, { recursive: true });
    s.pg.neutraliseAutoConf();
    let linkDuringRun = null as boolean | null;
    const run = s.runner.run.bind(s.runner);
    s.runner.run = async (argv: string[]) => {
      linkDuringRun = existsSync(join(s.pg.dataDir, "postgresql.auto.conf")) || isLink(join(s.pg.dataDir, "postgresql.auto.conf"));
      return run(argv);
    };
    // Port 1 on loopback: the CHECKPOINT on the source fails at once and is only a warning.
    await s.pg.rewind({ host: "127.0.0.1", port: "1" });
    expect(s.runs()).toEqual([
      ["/pg/bin/pg_rewind", "-D", "<state>/postgres", "--source-server=host='127.0.0.1' port='1' user='stolon' dbname='postgres' sslmode='prefer' passfile='<state>/.pgpass-<uid>' options='-c synchronous_commit=off' connect_timeout='10'"],
    ]);
    expect(linkDuringRun).toBe(false);
    expect(readlinkSync(join(s.pg.dataDir, "postgresql.auto.conf"))).toBe("/dev/null");
    expect(Object.values(s.runner.filesSeen)).toEqual(["*:*:*:stolon:su-secret\n"]);
    expect(s.warnings.some((w) => w.startsWith("CHECKPOINT on the rewind source 127.0.0.1:1 failed:"))).toBe(true);
    expect(passfilesLeft(s.stateDir)).toEqual([]);
  });

  test("the guard is put back even when pg_rewind fails", async () => {
    const s = setup();
    mkdirSync(s.pg.dataDir, { recursive: true });
    s.runner.run = async () => {
      throw new Error("pg_rewind failed");
    };
    await expect(s.pg.rewind({ host: "127.0.0.1", port: "1" })).rejects.toThrow("pg_rewind failed");
    expect(readlinkSync(join(s.pg.dataDir, "postgresql.auto.conf"))).toBe("/dev/null");
    expect(passfilesLeft(s.stateDir)).toEqual([]);
  });

  test("reload, promote, and a stop with nothing running", async () => {
    const s = setup();
    await s.pg.reload();
    await s.pg.promote(2500);
    await s.pg.stop();
    expect(s.runs()).toEqual([
      ["/pg/bin/pg_ctl", "reload", "-D", "<state>/postgres"],
      ["/pg/bin/pg_ctl", "promote", "-w", "-t", "3", "-D", "<state>/postgres"],
    ]);
  });

  test("the replication passfile for primary_conninfo stays, with the replication user's line", () => {
    const s = setup();
    const path = s.pg.writeReplicationPassfile();
    expect(path).toBe(join(s.stateDir, "pgpass"));
    expect(readFileSync(path, "utf8")).toBe("*:*:*:repl:repl-secret\n");
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
  });
});

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
