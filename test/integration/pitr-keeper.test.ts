/**
 * The keeper's pitr init against real etcd and real PostgreSQL, with the cluster view written by
 * the test (no sentinel), as in keeper.test.ts. A source PostgreSQL archives its WAL with `cp`; a
 * base backup is taken with pg_basebackup -Ft; rows are written before and after a target time.
 *
 * The story: a db whose dataRestoreCommand fails is reported failed with the command's output and
 * is not run again, while another keeper's data stays as it was; the next db (what the sentinel or
 * the operator would write next) restores the backup with `tar -xf` and recovers from the archive
 * with `cp` to the target time: the rows before it are there, the rows after it are not, the
 * restored db is a master on a new timeline with the keeper's roles and passwords, and another
 * keeper joins it as a standby. Last, a db that follows an external primary (the source, as a
 * standby cluster's leader would) is restored from the same backup and streams from it, read-only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ClusterData, ClusterSpec, DB, KeeperInfo } from "../../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { makeClusterData, makeDbFromSpec } from "../harness/builders.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { putView, reflectInfos } from "./harness/sentinel-part.ts";
import { KeeperProcess, makeTestRoot, query, REPL_PASSWORD, requirePostgres, SU_PASSWORD } from "./harness/keeper.ts";
import { makePitrSource, SOURCE_PG_PARAMETERS, type PitrSource } from "./harness/pitr-source.ts";

requirePostgres();

const CLUSTER = "pitr";

let etcd: EtcdProcess;
let store: KvStore;
let root: string;
let source: PitrSource;
let spec: ClusterSpec;
let cd: ClusterData;
const keepers: Record<string, KeeperProcess> = {};
const ports: Record<string, number> = {};

const src = (text: string) => source.query(text);

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new KvStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: CLUSTER });
  root = makeTestRoot("pitr");
});
afterAll(async () => {
  await Promise.all(Object.values(keepers).map((k) => k.stop()));
  await store?.close();
  await etcd?.stop();
});

function startKeeper(uid: string): KeeperProcess {
  ports[uid] ??= freePort();
  const k = KeeperProcess.start({ uid, dataDir: join(root, uid), pgPort: ports[uid]!, etcd: etcd.endpoint, cluster: CLUSTER }, root);
  keepers[uid] = k;
  return k;
}

async function infos(): Promise<Record<string, KeeperInfo>> {
  return (await store.getKeepersInfo()).items;
}

/** Writes the view; like the sentinel, copies each keeper's bootUUID and its DB's reported state. */
async function publish(): Promise<void> {
  reflectInfos(cd, await infos());
  await putView(store, cd);
}

/** Waits until keeper `uid` reports a healthy, converged `db`, refreshing the view as it goes. */
async function converged(uid: string, dbUid: string, timeoutMs = 90_000, seen?: Set<string>): Promise<KeeperInfo> {
  return waitFor(
    `keeper ${uid} converged on db ${dbUid}`,
    async () => {
      await publish();
      const info = (await infos())[uid];
      if (info?.init?.dbUid === dbUid) seen?.add(info.init.phase);
      const st = info?.postgresState;
      return st?.healthy && st.uid === dbUid && st.generation === cd.dbs[dbUid]!.generation ? info : null;
    },
    timeoutMs,
    200,
  );
}

function pitrDb(uid: string, keeperUID: string, dataRestoreCommand: string): DB {
  const pitrConfig = { ...spec.pitrConfig, dataRestoreCommand };
  return makeDbFromSpec(spec, { uid, keeperUID, role: "master", initMode: "pitr", pitrConfig });
}

describe("pitr init by the keeper", () => {
  test("the source: a base backup (pg_basebackup -Ft), rows before and after a target time, WAL archived with cp", async () => {
    source = await makePitrSource(root);
    expect(existsSync(join(source.backup, "base.tar"))).toBe(true);
    spec = { initMode: "pitr", sleepInterval: "1s", pgParameters: SOURCE_PG_PARAMETERS, pitrConfig: source.pitrConfig };
    cd = makeClusterData("c0ffee19", spec);
    cd.cluster.status.phase = "initializing";
    await store.putClusterData(cd, 0);
  });

  test("another keeper holds data of its own (k2, initMode new)", async () => {
    startKeeper("k2");
    startKeeper("k1");
    await waitFor("both keepers' info", async () => {
      const i = await infos();
      return i.k1 && i.k2 ? i : null;
    }, 20_000);
    cd.dbs.d2 = makeDbFromSpec({ ...spec, initMode: "new" }, { uid: "d2", keeperUID: "k2", role: "master", initMode: "new" });
    await converged("k2", "d2");
    await query(ports.k2!, "create table mine (v text)");
    await query(ports.k2!, "insert into mine values ('k2 data')");
  });

  test("a failing dataRestoreCommand: reported with its output and exit code, not run again, nothing else wiped", async () => {
    const failing = `echo "restoring into %d"; echo "no backup here: 100%%" >&2; echo run >> ${source.scratch}/runs; exit 3`;
    cd.dbs.d1 = pitrDb("d1", "k1", failing);
    cd.cluster.status.master = "d1";
    const info = await waitFor(
      "k1 reports the failed restore",
      async () => {
        await publish();
        const i = (await infos()).k1;
        return i?.init?.phase === "failed" ? i : null;
      },
      60_000,
      200,
    );
    const init = info.init!;
    expect(init.dbUid).toBe("d1");
    expect(init.detail).toContain(`exited with code 3`);
    expect(init.detail).toContain(`echo "restoring into ${join(root, "k1/postgres")}"`);
    expect(init.output).toContain(`restoring into ${join(root, "k1/postgres")}`);
    expect(init.output).toContain("no backup here: 100%");
    expect(Date.parse(init.since)).toBeGreaterThan(0);
    expect(info.postgresState?.healthy).toBe(false);
    // Several passes later (sleepInterval 1s) it has not run again, and says why.
    await Bun.sleep(4000);
    expect(readFileSync(join(source.scratch, "runs"), "utf8")).toBe("run\n");
    expect((await infos()).k1?.init?.phase).toBe("failed");
    expect(keepers.k1!.output).toMatch(/pitr restore of db d1 failed on this keeper: not run again/);
    // k2's data: untouched, still served.
    expect(await query(ports.k2!, "select v from mine")).toEqual([{ v: "k2 data" }]);
    // A keeper restart neither forgets the failure nor runs the restore again.
    expect(await keepers.k1!.stop()).toBe(0);
    const k1 = startKeeper("k1");
    await waitFor("the restarted k1 reports the failure", async () => {
      await publish();
      const i = (await infos()).k1;
      return i && i.bootUUID !== info.bootUUID && i.init?.phase === "failed" && i.init.detail === init.detail;
    }, 30_000, 200);
    await waitFor("the restarted k1 has planned", () => /pitr restore of db d1 failed on this keeper: not run again/.test(k1.output), 60_000, 100).catch((err) => {
      throw new Error(`${String(err)}\nthe restarted k1's output:\n${k1.output.slice(-4000)}`);
    });
    expect(readFileSync(join(source.scratch, "runs"), "utf8")).toBe("run\n");
  });

  test("the next db restores with tar and recovers with cp to the target time: rows before it present, after it absent", async () => {
    delete cd.dbs.d1;
    cd.dbs.d1b = pitrDb("d1b", "k1", source.restoreData);
    cd.cluster.status.master = "d1b";
    const seen = new Set<string>();
    const info = await converged("k1", "d1b", 120_000, seen).catch((err) => {
      throw new Error(`${String(err)}\nk1's last output:\n${keepers.k1!.output.slice(-6000)}`);
    });
    expect(info.init).toBeUndefined();
    expect(seen.has("failed")).toBe(false);
    // d1 is no longer this keeper's: its failure record went with it.
    expect(existsSync(join(root, "k1/pitrfailure"))).toBe(false);
    // Promoted at the target: a new timeline.
    expect(info.postgresState!.timelineID).toBe(2);
    const rows = await query<{ id: number }>(ports.k1!, "select id from t order by id");
    expect(rows.map((r) => r.id)).toEqual([1, 2]);
    // Writable, with the keeper's roles: the superuser's password (the source had none) and the replication role.
    await query(ports.k1!, "insert into t values (4, 'after the restore')");
    const roles = await query<{ rolname: string; rolreplication: boolean }>(ports.k1!, "select rolname, rolreplication from pg_roles where rolname in ('stolon', 'repl') order by 1");
    expect(roles).toEqual([{ rolname: "repl", rolreplication: true }, { rolname: "stolon", rolreplication: true }]);
    // The keeper's recovery settings won: nothing of them stays in the running configuration.
    const conf = readFileSync(join(root, "k1/postgres/postgresql.conf"), "utf8");
    expect(conf).not.toMatch(/restore_command|recovery_target/);
    expect(existsSync(join(root, "k1/postgres/recovery.signal"))).toBe(false);
    console.log(`phases seen while restoring: ${[...seen].join(", ") || "(none caught)"}`);
  });

  test("a third keeper joins the restored db as a standby", async () => {
    cd.cluster.status.phase = "normal";
    cd.dbs.d1b!.spec.initMode = "none";
    startKeeper("k3");
    await waitFor("k3's info", async () => (await infos()).k3, 20_000);
    cd.dbs.d3 = makeDbFromSpec(spec, { uid: "d3", keeperUID: "k3", role: "standby", initMode: "resync", followConfig: { type: "internal", dbuid: "d1b" } });
    cd.dbs.d1b!.spec.followers = ["d3"];
    cd.dbs.d1b!.generation++;
    await converged("k1", "d1b");
    await converged("k3", "d3", 120_000);
    await waitFor("the standby has the restored rows", async () => {
      const r = await query<{ n: number }>(ports.k3!, "select count(*)::int as n from t").catch(() => []);
      return r[0]?.n === 3;
    }, 30_000, 200);
  });

  test("a db that follows an external primary (a standby cluster's leader) is restored as its standby and streams from it", async () => {
    // A standby cluster shares its source's roles: the keeper connects with the passwords it was given.
    const lit = (v: string) => `'${v.replace(/'/g, "''")}'`;
    await src(`alter role stolon password ${lit(SU_PASSWORD)}`);
    await src(`create role repl login replication password ${lit(REPL_PASSWORD)}`);
    await src("insert into t values (5, 'on the source, later')");
    startKeeper("k4");
    await waitFor("k4's info", async () => (await infos()).k4, 20_000);
    cd.dbs.d4 = makeDbFromSpec(spec, {
      uid: "d4",
      keeperUID: "k4",
      role: "standby",
      initMode: "pitr",
      pitrConfig: { dataRestoreCommand: source.restoreData },
      followConfig: {
        type: "external",
        standbySettings: { primaryConninfo: `host=127.0.0.1 port=${source.port} user=stolon` },
        archiveRecoverySettings: source.pitrConfig.archiveRecoverySettings,
      },
    });
    const info = await converged("k4", "d4", 120_000).catch((err) => {
      throw new Error(`${String(err)}\nk4's last output:\n${keepers.k4!.output.slice(-6000)}`);
    });
    expect(info.init).toBeUndefined();
    expect(info.postgresState!.timelineID).toBe(1);
    expect(existsSync(join(root, "k4/postgres/standby.signal"))).toBe(true);
    expect(existsSync(join(root, "k4/postgres/recovery.signal"))).toBe(false);
    await waitFor("the source's later row on the standby", async () => {
      const r = await query<{ id: number }>(ports.k4!, "select id from t order by id").catch(() => []);
      return r.map((x) => x.id).join(",") === "1,2,3,5";
    }, 30_000, 200);
    expect(await query(ports.k4!, "insert into t values (6, 'x')").catch((e: Error) => e.message)).toMatch(/read-only transaction/);
  });
});
