/**
 * A disaster-recovery drill (`npm run drill`): a source cluster under write load, archiving to a
 * pgBackRest repository; a standby cluster fed by it through the source's proxy; then the source
 * is destroyed (every process SIGKILLed, etcd included, and its data dirs removed) and
 *  1. the standby cluster is promoted (`stolonctl promote`);
 *  2. a new cluster is restored from the repository (`initMode: pitr`, `pgbackrest restore`, WAL
 *     from `archive-get`, no target: as far as the archive goes).
 * Figures for each: the recovery time (the destruction, or for the restore the `stolonctl init`
 * that starts it, to the first write accepted through the recovered cluster's proxy) and the
 * data lost (writes the source acknowledged that the recovered cluster does not have).
 *
 *   npm run drill -- [--load-seconds 10] [--keep]
 *
 * Everything on 127.0.0.1, in a temp dir removed at the end (--keep leaves it, logs included).
 * Figures, never assertions: see the README's "Backups and disaster recovery".
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BackrestRepo, localClusterPgs } from "../scripts/backrest.ts";
import { freeBasePort, LocalCluster, REPL_PASSWORD, SU_PASSWORD } from "../scripts/local-cluster.ts";
import { connectTo, presentIds, ROW_TABLE_DDL, RowWriter } from "../scripts/row-writers.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const LOAD_SECONDS = opt("load-seconds", 10);
const KEEP = args.includes("--keep");
const root = mkdtempSync(join(tmpdir(), "stolon-drill-"));
// Searchable, so that the PostgreSQL OS user (as root) reaches the keepers' dirs and the repository.
chmodSync(root, 0o755);
const log = (name: string) => (m: string) => console.log(`  [${name}] ${m}`);

/** Every cluster the drill started, stopped at the end whatever happened. */
const clusters: LocalCluster[] = [];

function cluster(name: string, spec: object, lo: number): LocalCluster {
  const lc = new LocalCluster({ dir: join(root, name), basePort: freeBasePort(lo, lo + 2000), spec, log: log(name) });
  clusters.push(lc);
  return lc;
}

async function run(port: number, text: string): Promise<void> {
  const sql = connectTo({ port, password: SU_PASSWORD });
  try {
    await sql.unsafe(text);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Tries a write through `port` every 50 ms until one is accepted; the time it was (performance.now()). */
async function firstWrite(port: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (let id = -1; performance.now() < deadline; id--) {
    const sql = connectTo({ port, password: SU_PASSWORD });
    try {
      await sql.unsafe(`insert into t values (${id}, 'drill')`);
      return performance.now();
    } catch {
      await Bun.sleep(50);
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  }
  throw new Error(`no write accepted on port ${port} within ${timeoutMs / 1000} s`);
}

interface Outcome {
  name: string;
  recoveryMs: number;
  lost: number;
  acked: number;
}

async function lostOn(port: number, acked: number[]): Promise<number> {
  const present = await presentIds({ port, password: SU_PASSWORD });
  return acked.filter((id) => !present.has(id)).length;
}

async function main(): Promise<Outcome[]> {
  const repo = new BackrestRepo(join(root, "backrest"), "source");
  // archive_timeout bounds what a restore from the archive can lose: the WAL of the last 10 s.
  const source = cluster("source", { initMode: "new", pgParameters: { ...repo.archivingParameters, archive_timeout: "10s" } }, 21000);
  repo.writeConfig(localClusterPgs(source));
  await source.start();
  await source.waitSettled(180_000);
  await repo.ok(["stanza-create"]);
  await repo.ok(["--type=full", "backup"]);
  const sourceProxy = source.ports.proxy;
  await run(sourceProxy, ROW_TABLE_DDL);

  // The standby cluster: its first db copied from the source through the source's proxy, then
  // streaming from it; its own standbys follow its standby leader.
  const conninfo = `host=127.0.0.1 port=${sourceProxy} user=repl password=${REPL_PASSWORD} sslmode=disable`;
  const standby = cluster(
    "standby",
    {
      initMode: "pitr",
      role: "standby",
      pitrConfig: { dataRestoreCommand: `PGPASSWORD=${REPL_PASSWORD} pg_basebackup -D %d -h 127.0.0.1 -p ${sourceProxy} -U repl -X stream` },
      standbyConfig: { standbySettings: { primaryConninfo: conninfo } },
    },
    23000,
  );
  await standby.start();
  await standby.waitSettled(300_000);

  const writer = new RowWriter("drill", "pooled", { port: sourceProxy, password: SU_PASSWORD }, 2);
  writer.start();
  await Bun.sleep(LOAD_SECONDS * 1000);
  // The moment of the disaster: what was acknowledged before it is what must not be lost.
  const acked = writer.acks.map((a) => a.id);
  const t0 = performance.now();
  await source.destroy();
  await writer.stop().catch(() => {});
  console.log(`source destroyed after ${acked.length} acknowledged writes`);

  const promote = Bun.spawnSync([...standby.cmd("stolonctl", []), "promote", "-y"], { stdout: "pipe", stderr: "pipe" });
  if (promote.exitCode !== 0) throw new Error(`stolonctl promote failed: ${promote.stderr.toString()}`);
  const t1 = await firstWrite(standby.ports.proxy, 120_000);
  const outcomes: Outcome[] = [{ name: "standby cluster, promoted", recoveryMs: t1 - t0, lost: await lostOn(standby.ports.proxy, acked), acked: acked.length }];
  await standby.stop();

  // A new cluster restored from the repository, as far as the archive goes.
  const restored = cluster(
    "restored",
    {
      initMode: "pitr",
      pitrConfig: { dataRestoreCommand: repo.dataRestoreCommand(), archiveRecoverySettings: { restoreCommand: repo.restoreCommand } },
    },
    25000,
  );
  const t2 = performance.now();
  await restored.start();
  const t3 = await firstWrite(restored.ports.proxy, 600_000);
  outcomes.push({ name: "pitr restore from pgBackRest", recoveryMs: t3 - t2, lost: await lostOn(restored.ports.proxy, acked), acked: acked.length });
  await restored.stop();
  return outcomes;
}

try {
  const outcomes = await main();
  console.log("\n| recovery | recovery time | acknowledged writes | lost |\n|---|---|---|---|");
  for (const o of outcomes) console.log(`| ${o.name} | ${(o.recoveryMs / 1000).toFixed(1)} s | ${o.acked} | ${o.lost} |`);
  console.log(`\ncommand: npm run drill -- --load-seconds ${LOAD_SECONDS}`);
} finally {
  for (const lc of clusters) await lc.stop().catch(() => {});
  if (KEEP) console.log(`drill dir kept: ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
