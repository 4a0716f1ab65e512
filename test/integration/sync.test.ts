/**
 * Synchronous replication on a real two-keeper cluster: the master names its standby in
 * synchronous_standby_names; with minSynchronousStandbys 1 a dead sync standby blocks commits,
 * with 0 it does not.
 */
import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { clusterForFile } from "./harness/cluster.ts";
import { runCmd } from "./harness/process.ts";
import { waitFor } from "../harness/util.ts";

// usePgrewind: a crashed master rejoins by pg_rewind; a full copy of a former master's data would
// wait for stolonctl confirm-wipe.
const { lc, sqlTo, portOf } = clusterForFile("sync", {
  ports: [23000, 26000],
  keepers: 2,
  spec: { initMode: "new", usePgrewind: true, synchronousReplication: true, minSynchronousStandbys: 1, maxSynchronousStandbys: 1 },
});

describe("synchronous replication", () => {
  let masterKeeper = "";
  let standbyKeeper = "";

  test("the master waits for its standby: it is named in synchronous_standby_names and reported sync", async () => {
    const cd = await lc.waitSettled(90_000);
    const m = cd.dbs[cd.cluster.status.master!]!;
    masterKeeper = m.spec.keeperUID;
    standbyKeeper = lc.keeperNames.find((k) => k !== masterKeeper)!;
    const standbyDb = Object.values(cd.dbs).find((d) => d.spec.keeperUID === standbyKeeper)!;
    const sql = sqlTo(portOf(masterKeeper));
    try {
      await waitFor("the standby in sync", async () => {
        const r = await sql`select application_name, sync_state from pg_stat_replication where application_name = ${`stolon_${standbyDb.uid}`}`;
        return r[0]?.sync_state === "sync";
      }, 30_000, 200);
      expect((await sql`show synchronous_standby_names`)[0]!.synchronous_standby_names).toBe(`1 ("stolon_${standbyDb.uid}")`);
      await sql`create table t (id int)`;
      await sql`insert into t values (1)`;
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  test("minSynchronousStandbys 1: with the sync standby dead, a commit waits; it completes when the standby is back", async () => {
    await lc.crashKeeper(standbyKeeper);
    const sql = sqlTo(lc.ports.proxy);
    try {
      let done = false;
      const commit = sql`insert into t values (2)`.then(() => (done = true));
      await Bun.sleep(4000);
      expect(done).toBe(false);
      lc.startKeeper(standbyKeeper);
      await commit;
      expect(done).toBe(true);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  test("minSynchronousStandbys 0: with the sync standby dead, commits go on", async () => {
    await lc.waitSettled(90_000);
    const r = await runCmd("stolonctl", [...lc.common, "update", "--patch", '{"minSynchronousStandbys": 0}']);
    expect(r.code).toBe(0);
    await lc.crashKeeper(standbyKeeper);
    const sql = sqlTo(lc.ports.proxy);
    try {
      // Once the sentinel has dropped the dead standby from the list, commits do not wait.
      await waitFor("a commit that does not wait", async () => {
        const t0 = Date.now();
        await Promise.race([sql`insert into t values (3)`, Bun.sleep(1000).then(() => Promise.reject(new Error("waiting")))]);
        return Date.now() - t0 < 1000;
      }, 30_000, 200);
      expect((await sql`show synchronous_standby_names`)[0]!.synchronous_standby_names).toBe("");
    } finally {
      await sql.end({ timeout: 1 });
    }
    lc.startKeeper(standbyKeeper);
    await lc.waitSettled(90_000);
  });

  test("after the master dies, its in-sync standby takes over; commits wait until the old master is back as a standby", async () => {
    expect((await runCmd("stolonctl", [...lc.common, "update", "--patch", '{"minSynchronousStandbys": 1}'])).code).toBe(0);
    const before = await lc.waitSettled(90_000);
    const m = before.dbs[before.cluster.status.master!]!;
    const standby = Object.values(before.dbs).find((d) => d.uid !== m.uid)!;
    await waitFor("the standby known in sync", async () => {
      const c = (await lc.store.getClusterData())!.clusterData;
      return (c.dbs[m.uid]?.status.synchronousStandbys ?? []).includes(standby.uid);
    }, 30_000, 200);
    await lc.crashKeeper(m.spec.keeperUID);
    const after = await waitFor("the standby elected", async () => {
      const c = (await lc.store.getClusterData())!.clusterData;
      return c.cluster.status.master === standby.uid && c.proxy.spec.masterDbUid === standby.uid ? c : null;
    }, 60_000, 100);
    expect(after.dbs[standby.uid]!.spec.synchronousReplication).toBe(true);
    const sql = sqlTo(lc.ports.proxy);
    try {
      let done = false;
      const commit = sql`insert into t values (4)`.then(() => (done = true));
      await Bun.sleep(3000);
      expect(done).toBe(false);
      await lc.exited(m.spec.keeperUID);
      lc.startKeeper(m.spec.keeperUID);
      await commit;
      // Every committed id is on the new master (the min 0 test may have inserted 3 more than once).
      const ids = (await sql`select distinct id from t order by id`).map((r) => Number(r.id));
      expect(ids).toEqual([1, 2, 3, 4]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  test("a synchronous master restarted while its sync standby is down lets only su and replication in until the standby is in sync", async () => {
    const c = await lc.waitSettled(90_000);
    const m = c.dbs[c.cluster.status.master!]!.spec.keeperUID;
    const s = lc.keeperNames.find((k) => k !== m)!;
    const su = sqlTo(lc.ports.proxy);
    await su.unsafe("create role app login password 'app-pass'");
    await su.end({ timeout: 1 });
    const app = () =>
      postgres({ host: "127.0.0.1", port: portOf(m), database: "postgres", username: "app", password: "app-pass", max: 1, connect_timeout: 5, fetch_types: false, onnotice: () => {} });
    const appSelect = async () => {
      const sql = app();
      try {
        await sql`select 1`;
        return "ok";
      } catch (e) {
        return (e as Error).message;
      } finally {
        await sql.end({ timeout: 1 });
      }
    };
    expect(await appSelect()).toBe("ok");
    for (const k of [s, m]) {
      await lc.crashKeeper(k);
    }
    lc.startKeeper(m);
    // The master is up (the superuser gets in) but the application user does not.
    await waitFor("the master up again", async () => {
      const sql = sqlTo(portOf(m));
      try {
        return (await sql`select pg_is_in_recovery() as r`)[0]!.r === false;
      } finally {
        await sql.end({ timeout: 1 });
      }
    }, 60_000, 200);
    expect(await appSelect()).toMatch(/pg_hba\.conf/);
    lc.startKeeper(s);
    await waitFor("the application user let in", async () => (await appSelect()) === "ok", 60_000, 200);
  });
});
