/**
 * Backups with pgBackRest on a whole local cluster, as the README's recipe says: WAL archiving set
 * through the spec's pgParameters (one archive_command for every keeper), a stanza, a full backup
 * from the master and an incremental one from the standby; then the master crashes, the standby
 * takes over and archives on its new timeline: `pgbackrest check` passes on it, every segment
 * from the archive's first to its last, along the timeline history, can be fetched back, and the
 * next incremental backup is taken from it.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, chownSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { ClusterData } from "../../src/cluster/index.ts";
import { clusterForFile } from "./harness/cluster.ts";
import { localClusterPgs, testBackrestRepo, parseTimelineHistory, parseWalFileName, segmentsOnPath, switchWalAndWaitArchived } from "./harness/backrest.ts";
import { waitFor } from "../harness/util.ts";

const repo = testBackrestRepo("backrest", "demo");
const { lc, query } = clusterForFile("backrest", {
  ports: [26000, 29000],
  keepers: 2,
  spec: { initMode: "new", sleepInterval: "1s", failInterval: "5s", pgParameters: repo.archivingParameters },
});
repo.writeConfig(localClusterPgs(lc));
const current = async (): Promise<ClusterData> => (await lc.store.getClusterData())!.clusterData;
const keeperOfMaster = (cd: ClusterData) => cd.dbs[cd.cluster.status.master!]!.spec.keeperUID;

/** Rows written through the proxy. */
async function write(from: number, to: number): Promise<void> {
  await query(lc.ports.proxy, `insert into t select g from generate_series(${from}, ${to}) g`);
}

/** Closes the master's current WAL segment and waits until its archiver has pushed it. */
const switchAndWaitArchived = (port: number): Promise<string> => switchWalAndWaitArchived(query, port);

describe("pgBackRest: archiving through the spec, backups from the master and the standby, a failover", () => {
  test("stanza-create, check, and a full backup from the master", async () => {
    const cd = await lc.waitSettled(90_000);
    // Every keeper runs with the spec's archiving settings; only the master archives (archive_mode=on).
    for (const port of lc.ports.pg) {
      const [s] = await query<{ mode: string; cmd: string }>(port, "select current_setting('archive_mode') as mode, current_setting('archive_command') as cmd");
      expect(s).toEqual({ mode: "on", cmd: repo.archiveCommand });
    }
    await repo.ok(["stanza-create"]);
    await repo.ok(["check"]);
    await query(lc.ports.proxy, "create table t (id int primary key)");
    await write(1, 1000);
    await repo.ok(["backup", "--type=full"], { timeoutMs: 120_000 });
    const info = await repo.info();
    expect(info.status.code).toBe(0);
    expect(info.backup.map((b) => b.type)).toEqual(["full"]);
    console.log(`full backup ${info.backup[0]!.label} from ${keeperOfMaster(cd)}, WAL ${info.backup[0]!.archive.start}..${info.backup[0]!.archive.stop}`);
  }, 150_000);

  test("an incremental backup copied from the standby", async () => {
    await write(1001, 2000);
    await repo.ok(["backup", "--type=incr", "--backup-standby"], { timeoutMs: 120_000 });
    const info = await repo.info();
    expect(info.backup.map((b) => b.type)).toEqual(["full", "incr"]);
    expect(info.backup[1]!.prior).toBe(info.backup[0]!.label);
    // pgBackRest says so in its log when it copies from a standby: it waits for the standby's replay.
    const log = readFileSync(join(repo.configPath, "..", "log", "demo-backup.log"), "utf8");
    expect(log).toContain("replay on the standby");
  }, 150_000);

  test("after a crash of the master, the new master archives: check passes and the archive has no gap", async () => {
    const before = await current();
    const oldKeeper = keeperOfMaster(before);
    const oldPort = lc.ports.pg[lc.keeperNames.indexOf(oldKeeper)]!;
    await write(2001, 3000);
    await switchAndWaitArchived(oldPort);
    // Rows in the segment in progress: only the standby's copy of it survives the crash.
    await write(3001, 3100);
    const [pos] = await query<{ lsn: string }>(oldPort, "select pg_current_wal_lsn()::text as lsn");
    const standbyKeeper = lc.keeperNames.find((k) => k !== oldKeeper)!;
    const standbyPort = lc.ports.pg[lc.keeperNames.indexOf(standbyKeeper)]!;
    await waitFor("the standby's replay at the master's position", async () => {
      const [r] = await query<{ ok: boolean }>(standbyPort, `select pg_last_wal_replay_lsn() >= '${pos!.lsn}'::pg_lsn as ok`);
      return r?.ok === true;
    }, 30_000, 100);
    await lc.crashKeeper(oldKeeper);
    await waitFor("the standby elected and routed", async () => {
      const cd = await current();
      const m = cd.cluster.status.master;
      return m && cd.dbs[m]?.spec.keeperUID === standbyKeeper && cd.proxy.spec.masterDbUid === m && cd.dbs[m]?.status.healthy;
    }, 90_000, 200);
    await waitFor("writes through the proxy", () => write(3101, 4000).then(() => true), 30_000, 500);
    await switchAndWaitArchived(standbyPort);
    // check finds the primary among the stanza's pgN (the dead keeper's is a warning), switches its
    // WAL and waits for that segment in the archive.
    const check = await repo.run(["check"]);
    console.log(`pgbackrest check on the new master: exit ${check.code}${`${check.stdout}${check.stderr}`.trim() ? `, said: ${`${check.stdout}${check.stderr}`.trim()}` : ""}`);
    expect(check.code).toBe(0);

    const info = await repo.info();
    const { min, max } = info.archive[0]!;
    expect(parseWalFileName(max!).tli).toBe(2);
    expect(min! <= info.backup[0]!.archive.start).toBe(true);
    const got = join(repo.configPath, "..", "got");
    mkdirSync(got);
    if (repo.osUser) chownSync(got, repo.osUser.uid, repo.osUser.gid);
    await repo.ok(["archive-get", "00000002.history", join(got, "00000002.history")]);
    const history = parseTimelineHistory(readFileSync(join(got, "00000002.history"), "utf8"));
    const segments = segmentsOnPath(min!, max!, history);
    for (const seg of segments) await repo.ok(["archive-get", seg, join(got, seg)]);
    expect(readdirSync(got).length).toBe(segments.length + 1);
    console.log(`archive ${min}..${max}: ${segments.length} segments along timelines 1 -> 2 (switch at ${history.at(-1)?.switchLsn.toString(16)}), each fetched back`);
    const [rows] = await query<{ n: string }>(lc.ports.proxy, "select count(*)::text as n from t");
    expect(rows!.n).toBe("4000");
  }, 180_000);

  test("an incremental backup after the failover, from the new master, on the new timeline", async () => {
    await repo.ok(["backup", "--type=incr"], { timeoutMs: 120_000 });
    const info = await repo.info();
    const last = info.backup.at(-1)!;
    expect(last.type).toBe("incr");
    expect(last.prior).toBe(info.backup[1]!.label);
    expect(parseWalFileName(last.archive.start).tli).toBe(2);
  }, 150_000);

  test("pgbackrest info lists every backup, each incremental after the one before", async () => {
    const info = await repo.info();
    expect(info.status.message).toBe("ok");
    const [full, incr1, incr2] = info.backup;
    expect(info.backup.map((b) => `${b.type}${b.prior ? ` after ${b.prior}` : ""}`)).toEqual(["full", `incr after ${full!.label}`, `incr after ${incr1!.label}`]);
    console.log(`pgbackrest info: ${[full, incr1, incr2].map((b) => `${b!.label} (${b!.type}, WAL ${b!.archive.start})`).join(", ")}; archive ${info.archive[0]!.min}..${info.archive[0]!.max}`);
  });
});
