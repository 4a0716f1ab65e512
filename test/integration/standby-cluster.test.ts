/**
 * A standby cluster end to end: a source cluster of ours (2 keepers) and a standby cluster (2
 * keepers) initialized by pg_basebackup through the source's proxy and streaming from it. Rows
 * written on the source arrive on every node of the standby cluster, across a failover of the
 * source and across a failover of the standby cluster's own leader; a probe every 100 ms on each
 * of the standby cluster's PostgreSQL servers and on its proxy checks that none is ever writable
 * until `stolonctl promote`, after which the cluster takes writes and its other keeper follows.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type postgres from "postgres";
import type { ClusterData } from "../../src/cluster/index.ts";
import { freeBasePort, LocalCluster, REPL_PASSWORD, SU_PASSWORD } from "../../scripts/local-cluster.ts";
import { waitFor } from "../harness/util.ts";
import { clusterForFile } from "./harness/cluster.ts";
import { makeTestRoot } from "./harness/keeper.ts";
import { queryOnce, superuserSql } from "./harness/sql.ts";

const source = clusterForFile("standby-source", { ports: [50000, 53000], keepers: 2, spec: { initMode: "new", failInterval: "5s" } });
const sourceProxy = source.lc.ports.proxy;
const conninfo = `host=127.0.0.1 port=${sourceProxy} user=repl password=${REPL_PASSWORD} sslmode=disable`;
const standby = new LocalCluster({
  dir: join(makeTestRoot("standby-cluster"), "cluster"),
  basePort: freeBasePort(53000, 56000),
  keepers: 2,
  spec: {
    initMode: "pitr",
    role: "standby",
    failInterval: "5s",
    pitrConfig: { dataRestoreCommand: `PGPASSWORD=${REPL_PASSWORD} pg_basebackup -D %d -h 127.0.0.1 -p ${sourceProxy} -U repl -X stream` },
    standbyConfig: { standbySettings: { primaryConninfo: conninfo } },
  },
});
let standbyStarted = false;
afterAll(async () => {
  if (standbyStarted) await standby.stop();
});

const q = <T = Record<string, unknown>>(port: number, text: string): Promise<T[]> =>
  queryOnce<T>(superuserSql(port, SU_PASSWORD, { connect_timeout: 5 }), text);

/** The keeper of a cluster's master (or standby leader) db. */
function masterKeeper(cd: ClusterData): string {
  return cd.dbs[cd.cluster.status.master!]!.spec.keeperUID;
}

/** The standby cluster's targets: its proxy and each keeper's PostgreSQL. */
function standbyTargets(): { name: string; port: number }[] {
  return [{ name: "proxy", port: standby.ports.proxy }, ...standby.keeperNames.map((k, i) => ({ name: k, port: standby.ports.pg[i]! }))];
}

/**
 * Every 100 ms, `select pg_is_in_recovery()` on each target: a false answer is a writable node,
 * recorded with its time and name. Unreachable targets (a crashed keeper) are counted apart.
 */
class WritableProbe {
  readonly writable: string[] = [];
  answers = 0;
  unreachable = 0;
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(targets: { name: string; port: number }[]) {
    this.loops = targets.map((t) => this.loop(t.name, t.port));
  }

  private async loop(name: string, port: number): Promise<void> {
    const sql: postgres.Sql = superuserSql(port, SU_PASSWORD, { connect_timeout: 2, max: 1, idle_timeout: 5 });
    while (this.running) {
      await this.probeOnce(sql, name);
      await Bun.sleep(100);
    }
    await sql.end({ timeout: 1 }).catch(() => {});
  }

  private async probeOnce(sql: postgres.Sql, name: string): Promise<void> {
    try {
      const [row] = await sql<{ r: boolean }[]>`select pg_is_in_recovery() as r`;
      this.answers++;
      if (row?.r !== true) this.writable.push(`${new Date().toISOString()} ${name} answered pg_is_in_recovery() = ${row?.r}`);
    } catch {
      this.unreachable++;
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

let nextId = 1;
/** Writes a row through the source's proxy (retried while a failover is under way); its id. */
async function writeOnSource(): Promise<number> {
  const id = nextId++;
  await waitFor(`a write of row ${id} through the source's proxy`, async () => {
    await q(sourceProxy, `insert into t values (${id}) on conflict do nothing`);
    return true;
  }, 60_000, 200);
  return id;
}

/** Waits for row `id` to be readable on a port. */
async function arrives(port: number, id: number, what: string): Promise<void> {
  await waitFor(`row ${id} on ${what} (port ${port})`, async () => (await q<{ n: number }>(port, `select count(*)::int as n from t where id = ${id}`))[0]?.n === 1, 60_000, 200);
}

/** Waits for row `id` on the standby cluster's proxy and on each of the given keepers. */
async function arrivesOnStandby(id: number, keepers: string[]): Promise<void> {
  await arrives(standby.ports.proxy, id, "the standby cluster's proxy");
  for (const k of keepers) await arrives(standby.ports.pg[standby.keeperNames.indexOf(k)]!, id, `the standby cluster's ${k}`);
}

describe("a standby cluster fed through a source cluster's proxy", () => {
  let probe: WritableProbe;

  test("is built from the source and receives its rows on every node", async () => {
    await source.lc.waitSettled(90_000);
    await q(sourceProxy, "create table t (id int primary key)");
    const before = await writeOnSource();
    await standby.start();
    standbyStarted = true;
    probe = new WritableProbe(standbyTargets());
    await standby.waitSettled(90_000);
    await arrivesOnStandby(before, standby.keeperNames);
    await arrivesOnStandby(await writeOnSource(), standby.keeperNames);
  }, 150_000);

  test("keeps following across a failover of the source", async () => {
    const old = masterKeeper(await source.lc.waitSettled(30_000));
    await source.lc.crashKeeper(old);
    const cd = await waitFor("a new source master", async () => {
      const d = (await source.lc.store.getClusterData())?.clusterData;
      return d && masterKeeper(d) !== old && d.proxy.spec.masterDbUid === d.cluster.status.master ? d : undefined;
    }, 60_000, 200);
    expect(masterKeeper(cd)).not.toBe(old);
    await arrivesOnStandby(await writeOnSource(), standby.keeperNames);
  }, 90_000);

  test("elects a new standby leader when its own leader crashes, still following the source", async () => {
    const old = masterKeeper(await standby.waitSettled(30_000));
    await standby.crashKeeper(old);
    const survivor = standby.keeperNames.find((k) => k !== old)!;
    await waitFor("a new standby leader", async () => {
      const d = (await standby.store.getClusterData())?.clusterData;
      return d && masterKeeper(d) === survivor && d.proxy.spec.masterDbUid === d.cluster.status.master;
    }, 60_000, 200);
    await arrivesOnStandby(await writeOnSource(), [survivor]);
    // The crashed keeper comes back and follows the new standby leader.
    standby.restart(old);
    await standby.waitSettled(60_000);
    await arrivesOnStandby(await writeOnSource(), standby.keeperNames);
  }, 120_000);

  test("no node of the standby cluster was ever writable before the promote", async () => {
    await probe.stop();
    console.log(`probe: ${probe.answers} answers, ${probe.unreachable} unreachable, ${probe.writable.length} writable`);
    expect(probe.writable).toEqual([]);
    // At least ten rounds over the nodes: the probe really ran (a fast run takes about 15 s).
    expect(probe.answers).toBeGreaterThan(30);
  });

  test("after stolonctl promote takes writes through its proxy, its other keeper following", async () => {
    const promote = Bun.spawnSync([...standby.cmd("stolonctl", []), "promote", "-y"], { stdout: "pipe", stderr: "pipe" });
    expect(promote.stderr.toString()).toBe("");
    expect(promote.exitCode).toBe(0);
    await waitFor("a write through the promoted cluster's proxy", async () => {
      await q(standby.ports.proxy, "insert into t values (-1)");
      return true;
    }, 60_000, 200);
    const cd = await standby.waitSettled(60_000);
    const other = standby.keeperNames.find((k) => k !== masterKeeper(cd))!;
    await arrives(standby.ports.pg[standby.keeperNames.indexOf(other)]!, -1, `the promoted cluster's standby ${other}`);
    expect((await q<{ r: boolean }>(standby.ports.proxy, "select pg_is_in_recovery() as r"))[0]?.r).toBe(false);
  }, 90_000);
});
