/**
 * A point-in-time restore from pgBackRest into a new cluster, as the README's recipe says: a
 * source cluster of ours archives to a repository through its spec, a full backup is taken, rows
 * are written before and after a target time read from the server; the source is stopped, and a
 * new cluster (its own etcd) is initialized with initMode pitr: `pgbackrest restore --type=time`
 * as the dataRestoreCommand, `pgbackrest archive-get` as the restore command and the same time as
 * recoveryTargetTime. The rows before the target are there, the rows after are not; the restored
 * cluster takes writes through its proxy and its second keeper follows as a standby.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { freeBasePort, LocalCluster } from "../../scripts/local-cluster.ts";
import { clusterForFile } from "./harness/cluster.ts";
import { localClusterPgs, switchWalAndWaitArchived, testBackrestRepo } from "./harness/backrest.ts";
import { makeTestRoot } from "./harness/keeper.ts";
import { waitFor } from "../harness/util.ts";

const repo = testBackrestRepo("backrest-pitr", "pitr");
const source = clusterForFile("backrest-pitr-source", {
  ports: [30000, 31000],
  keepers: 2,
  spec: { initMode: "new", sleepInterval: "1s", failInterval: "5s", pgParameters: repo.archivingParameters },
});
const { query } = source;
repo.writeConfig(localClusterPgs(source.lc));
let restored: LocalCluster | undefined;
afterAll(async () => {
  await restored?.stop();
});

/** Closes the master's current WAL segment and waits until its archiver has pushed it. */
const switchAndWaitArchived = (port: number): Promise<string> => switchWalAndWaitArchived(query, port);

/** The PostgreSQL port of the cluster's master. */
async function masterPort(lc: LocalCluster): Promise<number> {
  const cd = (await lc.store.getClusterData())!.clusterData;
  return lc.ports.pg[lc.keeperNames.indexOf(cd.dbs[cd.cluster.status.master!]!.spec.keeperUID)]!;
}

let target = "";

/** The end of each component's log, for a failure's message. */
function logTails(lc: LocalCluster): string {
  const dir = join(lc.o.dir, "logs");
  return readdirSync(dir).map((f) => `--- ${f}:\n${readFileSync(join(dir, f), "utf8").slice(-2500)}`).join("\n");
}

describe("pgBackRest: a pitr restore of a cluster of ours into a new cluster, to a target time", () => {
  test("the source archives, is backed up, and has rows on both sides of a target time", async () => {
    await source.lc.waitSettled(90_000);
    await repo.ok(["stanza-create"]);
    await query(source.lc.ports.proxy, "create table t (id int primary key, at text)");
    await repo.ok(["backup", "--type=full"], { timeoutMs: 120_000 });
    // pgBackRest picks the backup for --type=time by its stop time, recorded in whole seconds and
    // compared against the target: a target in the backup's last second finds no backup set.
    await Bun.sleep(2000);
    await query(source.lc.ports.proxy, "insert into t select g, 'before' from generate_series(1, 100) g");
    // The server's clock, in UTC, after the commit: both pgBackRest and PostgreSQL parse this form.
    const [now] = await query<{ t: string }>(source.lc.ports.proxy, "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as t");
    target = now!.t;
    await Bun.sleep(1500);
    await query(source.lc.ports.proxy, "insert into t select g, 'after' from generate_series(101, 200) g");
    await switchAndWaitArchived(await masterPort(source.lc));
    const info = await repo.info();
    expect(info.backup.map((b) => b.type)).toEqual(["full"]);
    console.log(`target ${target}; archive ${info.archive[0]!.min}..${info.archive[0]!.max}`);
    await source.lc.stop();
  }, 150_000);

  test("a new cluster restored to the target has the rows before it only, takes writes, and gets a standby", async () => {
    restored = new LocalCluster({
      dir: join(makeTestRoot("backrest-pitr-restored"), "cluster"),
      basePort: freeBasePort(31000, 32000),
      keepers: 2,
      spec: {
        initMode: "pitr",
        sleepInterval: "1s",
        failInterval: "5s",
        pitrConfig: {
          dataRestoreCommand: repo.dataRestoreCommand({ targetTime: target }),
          archiveRecoverySettings: { restoreCommand: repo.restoreCommand },
          recoveryTargetSettings: { recoveryTargetTime: target },
        },
      },
    });
    await restored.start();
    await restored.waitSettled(90_000).catch((err) => {
      throw new Error(`${String(err)}\n${logTails(restored!)}`);
    });
    const proxy = restored.ports.proxy;
    const rows = await query<{ at: string; n: number }>(proxy, "select at, count(*)::int as n from t group by at order by at");
    expect(rows).toEqual([{ at: "before", n: 100 }]);
    await query(proxy, "insert into t values (1000, 'restored')");
    const master = await masterPort(restored);
    const standbyPort = restored.ports.pg.find((p) => p !== master)!;
    await waitFor("the second keeper, a standby, has the restored cluster's write", async () => {
      const r = await query<{ n: number }>(standbyPort, "select count(*)::int as n from t").catch(() => []);
      return r[0]?.n === 101;
    }, 30_000, 200);
    const [rec] = await query<{ r: boolean }>(standbyPort, "select pg_is_in_recovery() as r");
    expect(rec!.r).toBe(true);
  }, 150_000);
});
