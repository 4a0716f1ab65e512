/**
 * PgManager's file handling under PGDATA against what the PostgreSQL user can plant there (no
 * PostgreSQL runs: a runner that records argv stands in for the programs). The keeper-level story
 * with a real PostgreSQL is test/integration/root-files.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConsolaReporter } from "consola";
import { createLogger } from "../../../src/lib/log.ts";
import { UnsafePathError } from "../../../src/lib/files.ts";
import { PgManager, type CommandRunner, type RunResult, type SpawnedProcess } from "../../../src/postgres/index.ts";
import { attacker, mkfifo, snapshot } from "../../attacker.ts";

const root = mkdtempSync(join(tmpdir(), "stolon-test-pgfiles-"));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));

class RecordingRunner implements CommandRunner {
  readonly runs: string[][] = [];
  constructor(readonly asUser: CommandRunner["asUser"]) {}
  async run(argv: string[]): Promise<RunResult> {
    this.runs.push(argv);
    return { exitCode: 0, stdout: "", stderrTail: "" };
  }
  spawn(): SpawnedProcess {
    throw new Error("not in these tests");
  }
}

let n = 0;
function setup() {
  const stateDir = join(root, `k${n++}`);
  mkdirSync(stateDir, { mode: 0o750 });
  const warnings: string[] = [];
  const reporter: ConsolaReporter = { log: (l) => void (l.type === "warn" && warnings.push(l.args.join(" "))) };
  const runner = new RecordingRunner(attacker);
  const pg = new PgManager({
    binDir: "/nonexistent",
    stateDir,
    socketDir: join(stateDir, "run"),
    port: 5432,
    runner,
    su: { username: "stolon", password: "x" },
    repl: { username: "repl", password: "y" },
    log: createLogger("warn", [reporter]),
  });
  pg.ensureDir(pg.dataDir);
  const victim = join(root, `victim-${n}`);
  writeFileSync(victim, "12345\nprecious\n", { mode: 0o644 });
  return { pg, runner, warnings, victim, before: snapshot(victim) };
}

describe("PgManager under PGDATA", () => {
  test("postmaster.pid as a FIFO or a link: not running, a warning, no hang, the victim unread and unchanged", () => {
    const s = setup();
    const pid = join(s.pg.dataDir, "postmaster.pid");
    mkfifo(pid);
    expect(s.pg.runningPid()).toBeNull();
    rmSync(pid);
    // A link to a file whose first line is a live pid (ours) must not count as a running postmaster.
    writeFileSync(s.victim, `${process.pid}\n`);
    const before = snapshot(s.victim);
    symlinkSync(s.victim, pid);
    expect(s.pg.runningPid()).toBeNull();
    expect(s.warnings.join("\n")).toMatch(/postmaster\.pid is a FIFO[\s\S]*postmaster\.pid is a symbolic link/);
    expect(snapshot(s.victim)).toEqual(before);
  });

  test("readText refuses a link, a FIFO and a hard link by name", () => {
    const s = setup();
    symlinkSync(s.victim, join(s.pg.dataDir, "postgresql.conf"));
    mkfifo(join(s.pg.dataDir, "pg_hba.conf"));
    expect(() => s.pg.readText("postgresql.conf")).toThrow(UnsafePathError);
    expect(() => s.pg.readText("pg_hba.conf")).toThrow(/pg_hba\.conf is a FIFO/);
    expect(s.pg.readText("absent.conf")).toBeNull();
    expect(snapshot(s.victim)).toEqual(s.before);
  });

  test.each([
    ["a link to a victim", (p: string, v: string) => symlinkSync(v, p), /a symbolic link to .*victim.*, not read/],
    ["a FIFO", (p: string) => mkfifo(p), /\(a FIFO, not read\)/],
    ["a file with settings", (p: string) => writeFileSync(p, "work_mem = '9MB'\n"), /^work_mem = '9MB'$/],
  ] as const)("postgresql.auto.conf as %s is replaced by the link to /dev/null, saying what was dropped", (_, plant, dropped) => {
    const s = setup();
    const p = join(s.pg.dataDir, "postgresql.auto.conf");
    plant(p, s.victim);
    expect(s.pg.neutraliseAutoConf()).toMatch(dropped);
    expect(readlinkSync(p)).toBe("/dev/null");
    expect(s.pg.neutraliseAutoConf()).toBeNull();
    expect(snapshot(s.victim)).toEqual(s.before);
  });

  test("writeConfig over links at the targets replaces them; the victim is unchanged", () => {
    const s = setup();
    for (const f of ["postgresql.conf", "pg_hba.conf", "standby.signal"]) symlinkSync(s.victim, join(s.pg.dataDir, f));
    s.pg.writeConfig({ postgresqlConf: "port = 5432\n", hba: "local all all trust\n", standby: true });
    for (const f of ["postgresql.conf", "pg_hba.conf", "standby.signal"]) {
      const st = lstatSync(join(s.pg.dataDir, f));
      expect(st.isFile()).toBe(true);
      if (attacker) expect(st.uid).toBe(attacker.uid);
    }
    expect(snapshot(s.victim)).toEqual(s.before);
  });

  test("wipe deletes as the PostgreSQL user (find -delete through the runner) and leaves the dir 0700", async () => {
    const s = setup();
    chmodSync(s.pg.dataDir, 0o755);
    await s.pg.wipe();
    expect(s.runner.runs).toEqual([["find", s.pg.dataDir, "-mindepth", "1", "-delete"]]);
    expect(statSync(s.pg.dataDir).mode & 0o777).toBe(0o700);
  });

  test("the log tail of a log that became a link is an explanation, not the victim's content", () => {
    const s = setup();
    symlinkSync(s.victim, s.pg.logPath);
    expect(s.pg.logTail()).toMatch(/cannot read .*postgres\.log: .*symbolic link/);
    expect(s.pg.logTail()).not.toContain("precious");
  });
});
