/**
 * The pitr init's dataRestoreCommand with real processes (/bin/sh, as this user: no PostgreSQL
 * needed): the output of stdout and stderr interleaved in the log and its last characters reported,
 * the exit code, PGDATA, and an abort that kills every process the command started.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_KEEPER_INIT_OUTPUT_LENGTH } from "../../../src/cluster/index.ts";
import { createLogger } from "../../../src/lib/log.ts";
import { BunCommandRunner, expandDataRestoreCommand, RESTORE_LOG, RESTORE_OUTPUT_CHARS, runDataRestore } from "../../../src/postgres/index.ts";
import { PgData } from "../../../src/postgres/pgdata.ts";

const root = mkdtempSync(join(tmpdir(), "stolon-restore-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function setUp(name: string) {
  const stateDir = join(root, name);
  mkdirSync(join(stateDir, "postgres"), { recursive: true, mode: 0o700 });
  const runner = new BunCommandRunner(null);
  const d = new PgData({ binDir: "/nonexistent", stateDir, runner, log: createLogger("error") });
  return { d, run: (cmd: string, signal?: AbortSignal) => runDataRestore(d, runner, expandDataRestoreCommand(cmd, d.dataDir), signal) };
}

describe("runDataRestore", () => {
  test("stdout and stderr in the order written, the exit code, %d and PGDATA", async () => {
    const { d, run } = setUp("ok");
    const r = await run('echo out1; echo err1 >&2; echo "$PGDATA" > %d/PG_VERSION; echo out2; exit 0');
    expect(r).toEqual({ exitCode: 0, output: "out1\nerr1\nout2\n" });
    expect(readFileSync(join(d.dataDir, "PG_VERSION"), "utf8")).toBe(`${d.dataDir}\n`);
  });

  test("a failure: its exit code, and only the last characters of a long output", async () => {
    const { d, run } = setUp("long");
    const r = await run("i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; echo the end >&2; exit 7");
    expect(r.exitCode).toBe(7);
    expect(r.output.length).toBe(RESTORE_OUTPUT_CHARS);
    expect(r.output.endsWith("line 1999\nthe end\n")).toBe(true);
    // The whole output stays in the log, for the operator.
    expect(readFileSync(join(d.stateDir, RESTORE_LOG), "utf8")).toStartWith("line 0\n");
  });

  test("the output kept is what KeeperInfo.init.output may hold", () => {
    expect(RESTORE_OUTPUT_CHARS).toBe(MAX_KEEPER_INIT_OUTPUT_LENGTH);
  });

  test("each restore starts its log afresh", async () => {
    const { run } = setUp("twice");
    await run("echo first");
    expect((await run("echo second")).output).toBe("second\n");
  });

  test("an abort kills the command and what it started", async () => {
    const { d, run } = setUp("abort");
    const ac = new AbortController();
    const marker = join(d.dataDir, "still-running");
    const p = run(`(sleep 1; touch ${marker}) & sleep 30`, ac.signal);
    await Bun.sleep(200);
    ac.abort();
    expect((await p).exitCode).toBeNull();
    await Bun.sleep(1300);
    expect(existsSync(marker)).toBe(false);
  });
});
