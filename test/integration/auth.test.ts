/**
 * Authentication and secrets on a real cluster (etcd, a sentinel, two keepers, PostgreSQL):
 * the keeper gives its roles a SCRAM verifier it computed itself, so that with every statement
 * logged (log_statement = all, and log_transaction_sample_rate = 1, which a SET LOCAL of
 * log_statement does not switch off) the server log never holds a password, while logins with the
 * password over TCP work (postgres.js, and libpq's psql on the replication protocol). A keeper
 * that opts in to trust on the network says so, and stolonctl status shows it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ClusterData, ClusterSpec } from "../../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { runCmd } from "./harness/process.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { DaemonProcess, KeeperProcess, makeTestRoot, passwordArgs, PG_BIN, query, REPL_PASSWORD, requirePostgres, SU_PASSWORD } from "./harness/keeper.ts";

requirePostgres();

const CLUSTER = "auth";
const spec: ClusterSpec = {
  initMode: "new",
  sleepInterval: "1s",
  pgParameters: { log_statement: "all", log_transaction_sample_rate: "1", log_min_error_statement: "info" },
};

let etcd: EtcdProcess;
let store: KvStore;
let root: string;
const procs: DaemonProcess[] = [];
const ports = { k1: freePort(), k2: freePort() };
const common = () => ["--cluster-name", CLUSTER, "--store-backend", "etcdv3", "--store-endpoints", etcd.endpoint];

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new KvStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: CLUSTER });
  root = makeTestRoot("auth");
  const init = await runCmd("stolonctl", [...common(), "init", "-y", JSON.stringify(spec)]);
  expect(init.stderr).toBe("");
  procs.push(DaemonProcess.start("sentinel", "s1", [...common(), "--log-level", "debug"]));
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await store?.close();
  await etcd?.stop();
});

const clusterData = async (): Promise<ClusterData | null> => (await store.getClusterData())?.clusterData ?? null;

/** A password as it is written in SQL, where a quote is doubled. */
const inSql = (pw: string) => pw.replace(/'/g, "''");

describe("authentication", () => {
  test("k1 becomes master: its roles hold a SCRAM verifier, logins over TCP work, the server log holds no password", async () => {
    procs.push(KeeperProcess.start({ uid: "k1", dataDir: join(root, "k1"), pgPort: ports.k1, etcd: etcd.endpoint, cluster: CLUSTER }, root));
    await waitFor("k1 master and healthy", async () => {
      const cd = await clusterData();
      const m = cd?.cluster.status.master;
      const db = m ? cd.dbs[m] : undefined;
      if (db?.spec.keeperUID !== "k1" || !db.status.healthy || db.status.currentGeneration !== db.generation) return null;
      return (await query(ports.k1, "select 1")).length === 1;
    }, 90_000, 300);

    // postgres.js over TCP with the password (the keeper's md5 rule accepts SCRAM for a SCRAM verifier).
    const roles = await query<{ rolname: string; rolpassword: string }>(
      ports.k1,
      "select rolname, rolpassword from pg_authid where rolname in ('stolon', 'repl') order by 1",
    );
    expect(roles.map((r) => r.rolname)).toEqual(["repl", "stolon"]);
    for (const r of roles) expect(r.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);

    // libpq (psql) as the replication user, physical replication protocol (the keeper's repl rule).
    const psql = Bun.spawnSync(
      [join(PG_BIN, "psql"), `host=127.0.0.1 port=${ports.k1} user=repl replication=true`, "-Atc", "IDENTIFY_SYSTEM"],
      { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "", PGPASSWORD: REPL_PASSWORD, PGCONNECT_TIMEOUT: "10" } },
    );
    expect(psql.stderr.toString()).toBe("");
    expect(psql.stdout.toString()).toMatch(/^\d+\|1\|/);
    const wrong = Bun.spawnSync([join(PG_BIN, "psql"), `host=127.0.0.1 port=${ports.k1} user=repl replication=true`, "-Atc", "IDENTIFY_SYSTEM"], {
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "", PGPASSWORD: "not the password", PGCONNECT_TIMEOUT: "10" },
    });
    expect(wrong.stderr.toString()).toContain('password authentication failed for user "repl"');

    const log = readFileSync(join(root, "k1", "postgres.log"), "utf8");
    const leaks = log.split("\n").filter((l) => [SU_PASSWORD, REPL_PASSWORD].some((pw) => l.includes(pw) || l.includes(inSql(pw))));
    expect(leaks).toEqual([]);
    // The logging settings were in force: the role set-up was logged, with verifiers only.
    const roleLines = log.split("\n").filter((l) => / ROLE "(stolon|repl)"/.test(l));
    expect(roleLines).toHaveLength(2);
    for (const l of roleLines) expect(l).toMatch(/ PASSWORD 'SCRAM-SHA-256\$4096:[^']+'$/);
  }, 120_000);

  test("k2 with --allow-trust-on-network and a trust superuser publishes it and stolonctl status shows it; k1 does not", async () => {
    const replArgs = passwordArgs(root).slice(4); // --pg-repl-username repl --pg-repl-passwordfile <file>
    procs.push(
      KeeperProcess.start(
        {
          uid: "k2",
          dataDir: join(root, "k2"),
          pgPort: ports.k2,
          etcd: etcd.endpoint,
          cluster: CLUSTER,
          authArgs: ["--pg-su-username", "stolon", "--pg-su-auth-method", "trust", ...replArgs, "--allow-trust-on-network"],
        },
        root,
      ),
    );
    const info = await waitFor("k2's info", async () => (await store.getKeepersInfo()).items.k2 ?? null, 30_000);
    expect(info.trustOnNetwork).toBe(true);
    expect((await store.getKeepersInfo()).items.k1?.trustOnNetwork).toBeUndefined();
    const k2 = procs.at(-1)!;
    expect(k2.output).toContain("--allow-trust-on-network: anyone who can reach port");

    const text = await runCmd("stolonctl", [...common(), "status"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("WARNING: keeper k2 runs with --allow-trust-on-network");
    expect(text.stdout).not.toContain("keeper k1 runs with");
    const json = await runCmd("stolonctl", [...common(), "status", "-f", "json"]);
    const keepers = (JSON.parse(json.stdout) as { keepers: { uid: string; trustOnNetwork: boolean }[] }).keepers;
    expect(keepers.map((k) => [k.uid, k.trustOnNetwork])).toEqual([["k1", false], ["k2", true]]);

    // The trusting keeper still replicates: its standby streams from k1 with the repl password.
    await waitFor("k2 a healthy standby", async () => {
      const cd = await clusterData();
      const db = Object.values(cd?.dbs ?? {}).find((d) => d.spec.keeperUID === "k2");
      return db?.spec.role === "standby" && db.status.healthy && db.status.currentGeneration === db.generation ? true : null;
    }, 90_000, 300);
    expect(readFileSync(join(root, "k1", "postgres.log"), "utf8")).not.toContain(REPL_PASSWORD);
    // What the opt-in means in pg_hba.conf: trust for the superuser from anywhere on k2 only.
    const hba = (k: string) => readFileSync(join(root, k, "postgres", "pg_hba.conf"), "utf8").split("\n");
    expect(hba("k2")).toContain('host all "stolon" 0.0.0.0/0 trust');
    expect(hba("k1").filter((l) => l.endsWith(" trust"))).toEqual([]);
  }, 150_000);
});
