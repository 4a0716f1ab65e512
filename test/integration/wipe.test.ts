/**
 * Data is never wiped by mistake (issue 13, item 5), with real processes: a two-keeper cluster
 * (etcd, two sentinels, a proxy).
 *  - `stolonctl clusterdata write -y` of an initializing cluster (a new cluster uid, initMode new)
 *    over the running one: the sentinel asks the old master's keeper for an initdb, the keeper
 *    refuses and says why, and once the old cluster data is written back every row is there.
 *  - a resync whose source refuses the copy (a wrong replication password) leaves the standby's
 *    old data dir where it was; with the right password it is copied and swapped in.
 *  - at start, an incomplete copy is removed and a recorded swap that was interrupted finished.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newClusterData, type ClusterData } from "../../src/cluster/index.ts";
import { clusterForFile } from "./harness/cluster.ts";
import { runCmd } from "./harness/process.ts";
import { waitFor } from "../harness/util.ts";
import { readClusterData } from "../harness/builders.ts";

const { lc, portOf, query: q } = clusterForFile("wipe", { ports: [32000, 35000], keepers: 2, spec: { initMode: "new", usePgrewind: true } });


const cd = (): Promise<ClusterData> => readClusterData(lc.store);
const ctl = (...args: string[]) => runCmd("stolonctl", [...lc.common, ...args]);
const pgdata = (keeper: string) => join(lc.o.dir, keeper, "postgres");
const dbstate = (keeper: string) => JSON.parse(readFileSync(join(lc.o.dir, keeper, "dbstate"), "utf8")) as { UID: string; WasMaster?: boolean };
const rows = async (port: number) => (await q<{ n: number }>(port, "select count(*)::int as n from t"))[0]!.n;

describe("data is never wiped by mistake", () => {
  test("clusterdata write -y of an initializing cluster over a running one: the old master's keeper refuses the initdb and says why; no row is lost", async () => {
    const settled = await lc.waitSettled(90_000);
    const masterDb = settled.cluster.status.master!;
    const masterKeeper = settled.dbs[masterDb]!.spec.keeperUID;
    const standby = lc.keeperNames.find((k) => k !== masterKeeper)!;
    await q(lc.ports.proxy, "create table t (id int primary key)");
    await q(lc.ports.proxy, "insert into t select generate_series(1, 100)");
    await waitFor("the rows on the standby", async () => (await rows(portOf(standby))) === 100, 20_000, 100);

    const saved = (await ctl("clusterdata", "read")).stdout;
    const fresh = newClusterData("cafe0001", { initMode: "new", usePgrewind: true }, new Date());
    const file = join(lc.o.dir, "initializing.json");
    writeFileSync(file, JSON.stringify(fresh));
    const before = lc.logOf(masterKeeper).length;
    lc.kill(standby, "SIGTERM");
    await lc.exited(standby);
    const w = await ctl("clusterdata", "write", "-y", "-f", file);
    expect(w.code).toBe(0);

    // The sentinel picks a healthy keeper for the new cluster's first master: with the standby's
    // keeper stopped, the old master's.
    await waitFor("the new cluster to assign a db to the old master's keeper", async () => {
      const c = await cd();
      return c.cluster.uid === "cafe0001" && Object.values(c.dbs).some((d) => d.spec.keeperUID === masterKeeper);
    }, 60_000, 200);
    const refusal = await waitFor("the refusal in the old master's log", () => {
      const log = lc.logOf(masterKeeper).slice(before);
      return /keeper \w+ refuses .*/.exec(log)?.[0] ?? null;
    }, 30_000, 200);
    expect(refusal).toContain(`it holds db ${masterDb}, which was a master here (its dbstate says it ran as a master)`);
    expect(refusal).toContain(`The data stays where it is; to allow its removal, run: stolonctl confirm-wipe ${masterKeeper}`);
    expect(lc.logOf(masterKeeper).slice(before)).not.toContain("removing the data dir");
    expect(existsSync(join(pgdata(masterKeeper), "PG_VERSION"))).toBe(true);
    expect(dbstate(masterKeeper)).toMatchObject({ UID: masterDb, WasMaster: true });
    // Not the db the view assigns: it does not serve.
    await waitFor("the old master stopped", () => lc.postmasterPid(masterKeeper) === null, 30_000, 200);

    // The operator writes the old cluster data back: the old master serves its rows again.
    const back = join(lc.o.dir, "saved.json");
    writeFileSync(back, saved);
    expect((await ctl("clusterdata", "write", "-y", "-f", back)).code).toBe(0);
    await waitFor("the 100 rows through the proxy", async () => (await rows(lc.ports.proxy).catch(() => -1)) === 100, 60_000, 200);
    expect((await cd()).cluster.status.master).toBe(masterDb);
    lc.startKeeper(standby);
    await lc.waitSettled(120_000);
  });

  test("a resync whose source refuses the copy (wrong replication password) leaves the old data dir where it was; the right one copies and swaps it in", async () => {
    expect((await ctl("update", "--patch", '{"usePgrewind": false}')).code).toBe(0);
    const settled = await lc.waitSettled(90_000);
    const masterKeeper = settled.dbs[settled.cluster.status.master!]!.spec.keeperUID;
    const standby = lc.keeperNames.find((k) => k !== masterKeeper)!;
    const oldDb = Object.values(settled.dbs).find((d) => d.spec.keeperUID === standby)!.uid;
    lc.kill(standby, "SIGTERM");
    await lc.exited(standby);
    // Back with a new db to resync, so a full copy (pg_rewind is off).
    expect((await ctl("removekeeper", standby)).code).toBe(0);
    const pwFile = join(lc.o.dir, "repl.pw");
    const pw = readFileSync(pwFile, "utf8");
    writeFileSync(pwFile, "not-the-password\n");
    let before = lc.logOf(standby).length;
    try {
      lc.startKeeper(standby);
      await waitFor("the failed copy in the standby's log", () => lc.logOf(standby).slice(before).includes("password authentication failed"), 60_000, 200);
      expect(existsSync(join(pgdata(standby), "PG_VERSION"))).toBe(true);
      expect(existsSync(join(pgdata(standby), "global", "pg_control"))).toBe(true);
      expect(existsSync(join(pgdata(standby), "standby.signal"))).toBe(true);
      expect(dbstate(standby).UID).toBe(oldDb);
      expect(lc.logOf(standby).slice(before)).toMatch(/the copy for db \w+ failed; the data dir was left as it was: .*password authentication failed/);
    } finally {
      writeFileSync(pwFile, pw);
      lc.kill(standby, "SIGTERM");
      await lc.exited(standby);
    }
    before = lc.logOf(standby).length;
    lc.startKeeper(standby);
    await lc.waitSettled(120_000);
    const log = lc.logOf(standby).slice(before);
    expect(log).toMatch(/resynced from 127\.0\.0\.1:\d+ with pg_basebackup/);
    expect(dbstate(standby).UID).not.toBe(oldDb);
    expect(existsSync(`${pgdata(standby)}.new`)).toBe(false);
    expect(existsSync(`${pgdata(standby)}.old`)).toBe(false);
    await waitFor("the rows on the new standby", async () => (await rows(portOf(standby))) === 100, 20_000, 100);
    expect((await ctl("update", "--patch", '{"usePgrewind": true}')).code).toBe(0);
  });

  test("at start the keeper removes an incomplete copy and finishes a recorded swap that was interrupted", async () => {
    const settled = await lc.waitSettled(90_000);
    const masterKeeper = settled.dbs[settled.cluster.status.master!]!.spec.keeperUID;
    const standby = lc.keeperNames.find((k) => k !== masterKeeper)!;
    const restart = async () => {
      lc.kill(standby, "SIGTERM");
      await lc.exited(standby);
    };

    // An incomplete copy (pg_basebackup interrupted): removed, the data dir untouched.
    await restart();
    mkdirSync(`${pgdata(standby)}.new/base`, { recursive: true });
    let before = lc.logOf(standby).length;
    lc.startKeeper(standby);
    await waitFor("the removal in the log", () => lc.logOf(standby).slice(before).includes("an incomplete copy left by an interrupted resync (the data dir was not touched)"), 30_000, 200);
    // The keeper logs the removal before it runs (rm -rf takes a moment): wait for the dir to go.
    await waitFor("the incomplete copy removed", () => !existsSync(`${pgdata(standby)}.new`), 10_000, 50);
    await waitFor("the rows on the standby", async () => (await rows(portOf(standby)).catch(() => -1)) === 100, 30_000, 200);

    // A complete copy recorded in dbstate (Swap), interrupted after the old data was set aside.
    await restart();
    const run = (argv: string[]) => expect(Bun.spawnSync(argv).exitCode).toBe(0);
    run(["cp", "-a", pgdata(standby), `${pgdata(standby)}.new`]);
    run(["mv", pgdata(standby), `${pgdata(standby)}.old`]);
    const st = JSON.parse(readFileSync(join(lc.o.dir, standby, "dbstate"), "utf8"));
    writeFileSync(join(lc.o.dir, standby, "dbstate"), JSON.stringify({ ...st, Swap: { UID: st.UID, ClusterUID: st.ClusterUID, SystemID: st.SystemID } }));
    before = lc.logOf(standby).length;
    lc.startKeeper(standby);
    await waitFor("the finished swap in the log", () => lc.logOf(standby).slice(before).includes(`finishing an interrupted swap: the complete copy for db ${st.UID} replaces the data dir`), 30_000, 200);
    await waitFor("the rows on the standby", async () => (await rows(portOf(standby)).catch(() => -1)) === 100, 30_000, 200);
    for (const leftover of [".new", ".old"]) expect(existsSync(`${pgdata(standby)}${leftover}`)).toBe(false);
    expect(dbstate(standby)).toMatchObject({ UID: st.UID });
    expect(JSON.parse(readFileSync(join(lc.o.dir, standby, "dbstate"), "utf8")).Swap).toBeUndefined();
    await lc.waitSettled(90_000);
  });
});
