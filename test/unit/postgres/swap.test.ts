/**
 * The swap of a complete pg_basebackup copy (postgres.new) into the data dir: each step is one
 * rename, and swapInNewDataDir() called again after an interruption at any step finishes the job
 * with the new data in place and the old data set aside (never lost before the swap is done).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../../src/lib/log.ts";
import { PgManager } from "../../../src/postgres/manager.ts";
import { BunCommandRunner, type CommandRunner } from "../../../src/postgres/runner.ts";

const root = mkdtempSync(join(tmpdir(), "stolon-test-swap-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Removing postgres.new or postgres.old runs `find -delete` (as the PostgreSQL user in root mode). */
const runner: CommandRunner = new BunCommandRunner(null);

function manager(name: string): PgManager {
  const stateDir = join(root, name);
  mkdirSync(stateDir);
  return new PgManager({ binDir: "/nonexistent", stateDir, socketDir: join(stateDir, "run"), port: 5432, runner, su: { username: "su" }, repl: { username: "repl" }, log: createLogger("error") });
}

function dataDirWith(dir: string, content: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "PG_VERSION"), content);
}

const content = (dir: string) => (existsSync(join(dir, "PG_VERSION")) ? readFileSync(join(dir, "PG_VERSION"), "utf8") : null);

describe("swapInNewDataDir", () => {
  test.each([
    ["not started", (_: PgManager) => {}],
    ["interrupted after the old data was set aside", (pg: PgManager) => renameSync(pg.dataDir, pg.oldDataDir)],
    ["interrupted after the new data was put in place", (pg: PgManager) => (renameSync(pg.dataDir, pg.oldDataDir), renameSync(pg.newDataDir, pg.dataDir))],
  ] as const)("%s: (again) swapped, the old data set aside until removeOldDataDir()", async (name, interrupted) => {
    const pg = manager(name.replace(/\W+/g, "-"));
    dataDirWith(pg.dataDir, "old");
    dataDirWith(pg.newDataDir, "new");
    interrupted(pg);
    expect(await pg.swapInNewDataDir()).toBe(true);
    expect(content(pg.dataDir)).toBe("new");
    expect(existsSync(pg.newDataDir)).toBe(false);
    expect(content(pg.oldDataDir)).toBe("old");
    // Calling it once more changes nothing.
    await pg.swapInNewDataDir();
    expect(content(pg.dataDir)).toBe("new");
    expect(content(pg.oldDataDir)).toBe("old");
    await pg.removeOldDataDir();
    expect(existsSync(pg.oldDataDir)).toBe(false);
  });

  test("a postgres.old left by an earlier finished swap makes way; an empty data dir is swapped too", async () => {
    const pg = manager("leftover");
    dataDirWith(pg.oldDataDir, "older");
    mkdirSync(pg.dataDir);
    dataDirWith(pg.newDataDir, "new");
    await pg.swapInNewDataDir();
    expect(content(pg.dataDir)).toBe("new");
    expect(existsSync(pg.oldDataDir)).toBe(true);
    expect(content(pg.oldDataDir)).toBeNull();
  });

  test("no copy: nothing moves", async () => {
    const pg = manager("nocopy");
    dataDirWith(pg.dataDir, "old");
    await pg.swapInNewDataDir();
    expect(content(pg.dataDir)).toBe("old");
    expect(existsSync(pg.oldDataDir)).toBe(false);
  });
});
