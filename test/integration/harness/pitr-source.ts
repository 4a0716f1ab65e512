/**
 * The source of the pitr tests: a standalone PostgreSQL that archives its WAL with `cp`, a base
 * backup of it taken with pg_basebackup -Ft, and rows written before and after a target time:
 *
 *   id 1  before the backup          (in the backup)
 *   id 2  after the backup           (before the target: replayed from the archive)
 *   id 3  after the target time      (in the archive, but past the target)
 *
 * and the dataRestoreCommand and restore_command that restore it (`tar -xf`, `cp`).
 */
import { chownSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { PitrConfig } from "../../../src/cluster/index.ts";
import { lookupUserByName } from "../../../src/postgres/index.ts";
import { freePort, waitFor } from "../../harness/util.ts";
import { PG_BIN, startStandalonePostgres } from "./keeper.ts";
import { queryOnce, superuserSql } from "./sql.ts";

export interface PitrSource {
  port: number;
  /** The archived WAL, the base backup (base.tar), and a dir the PostgreSQL OS user may write. */
  archive: string;
  backup: string;
  scratch: string;
  /** The recovery target: after row 2, before row 3 ("YYYY-MM-DD HH:MM:SS.US+00"). */
  targetTime: string;
  /** `tar -xf <backup>/base.tar -C %d`. */
  restoreData: string;
  /** The pitrConfig that restores the backup to the target time. */
  pitrConfig: PitrConfig;
  /** One statement on the source, as its superuser (trust). */
  query(text: string): Promise<Record<string, unknown>[]>;
}

const pgUser = () => (process.getuid?.() === 0 ? lookupUserByName("postgres") : null);

/** A dir the PostgreSQL OS user may write (keepers run restores as that user). */
export function pgDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const u = pgUser();
  if (u) chownSync(path, u.uid, u.gid);
  return path;
}

/** Runs a program as the PostgreSQL OS user; throws with its output on a non-zero exit. */
function runAsPg(argv: string[]): void {
  const u = pgUser();
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", ...(u ? { uid: u.uid, gid: u.gid } : {}), env: { PATH: "/usr/bin:/bin" } });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} exited with ${r.exitCode}: ${r.stderr.toString()}`);
}

/** Starts the source under `root` (stopped after the test file), backs it up, writes the rows. */
export async function makePitrSource(root: string): Promise<PitrSource> {
  const archive = pgDir(join(root, "archive"));
  const backup = pgDir(join(root, "backup"));
  const scratch = pgDir(join(root, "scratch"));
  const port = freePort();
  const pg = await startStandalonePostgres(root, "source", port);
  pg.writeConfig({
    postgresqlConf: `${readFileSync(join(pg.dataDir, "postgresql.conf"), "utf8")}archive_mode = 'on'\narchive_command = 'cp %p ${archive}/%f'\n`,
    hba: "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n",
    standby: false,
  });
  await pg.restart();
  await pg.waitReady(30_000);
  const query = (text: string) => queryOnce(superuserSql(port, undefined), text);

  await query("create table t (id int primary key, note text)");
  await query("insert into t values (1, 'before the backup')");
  runAsPg([join(PG_BIN, "pg_basebackup"), "-D", backup, "-Ft", "-X", "fetch", "--checkpoint=fast", "-h", "127.0.0.1", "-p", String(port), "-U", "stolon", "-w"]);
  await query("insert into t values (2, 'after the backup, before the target')");
  await Bun.sleep(1100);
  const [row] = await query("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as t");
  const targetTime = String(row!.t);
  await Bun.sleep(1100);
  await query("insert into t values (3, 'after the target')");
  const [sw] = await query("select pg_walfile_name(pg_switch_wal()) as f");
  await waitFor("the last segment archived", () => existsSync(join(archive, String(sw!.f))), 30_000, 100);

  const restoreData = `tar -xf ${backup}/base.tar -C %d`;
  const pitrConfig: PitrConfig = {
    dataRestoreCommand: restoreData,
    archiveRecoverySettings: { restoreCommand: `cp ${archive}/%f "%p"` },
    recoveryTargetSettings: { recoveryTargetTime: targetTime },
  };
  return { port, archive, backup, scratch, targetTime, restoreData, pitrConfig, query };
}

/**
 * The source's max_connections (the standalone server's): a hot standby, which an archive recovery
 * is, refuses to run with less ("recovery aborted because of insufficient parameter settings").
 */
export const SOURCE_PG_PARAMETERS = { max_connections: "200" };
