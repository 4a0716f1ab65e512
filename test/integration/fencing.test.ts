/**
 * A master keeper cut from etcd (its etcd traffic goes through a relay the test cuts) fences its
 * PostgreSQL before another master can be elected: a client connected directly to the old master
 * loses its session and cannot reconnect, while the standbys keep replicating. The sentinel then
 * elects a new master; once the relay heals, the old master rejoins as a standby. A master whose
 * keeper is SIGKILLed is shut down by the keeper's watchdog.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { ClusterData } from "../../src/cluster/index.ts";
import { createLogger } from "../../src/lib/log.ts";
import { Forwarder } from "../../src/proxy/forwarder.ts";
import { freeBasePort, LocalCluster, SU_PASSWORD } from "../../scripts/local-cluster.ts";
import { waitFor, within } from "../harness/util.ts";
import { makeTestRoot, requirePostgres } from "./harness/keeper.ts";
import { superuserSql } from "./harness/sql.ts";
import { readClusterData } from "../harness/builders.ts";

requirePostgres();

const root = makeTestRoot("fencing");
const basePort = freeBasePort(26000, 29000);
const relays: Record<string, { fw: Forwarder; port: number }> = {};
for (const [i, k] of ["keeper1", "keeper2", "keeper3"].entries()) {
  // Inside the cluster's own port window, so the relays never take one of its ports.
  const port = basePort + 30 + i;
  const fw = new Forwarder({ hostname: "127.0.0.1", port, holdMs: 1000, keepAliveIdleMs: 0, log: createLogger("error") });
  fw.setTarget({ dbUid: "etcd", host: "127.0.0.1", port: basePort + 20 });
  fw.listen();
  relays[k] = { fw, port };
}
const lc = new LocalCluster({
  dir: join(root, "cluster"),
  basePort,
  spec: { initMode: "new", usePgrewind: true },
  keeperEndpoints: Object.fromEntries(Object.entries(relays).map(([k, r]) => [k, `http://127.0.0.1:${r.port}`])),
});

beforeAll(async () => {
  await lc.start();
});
afterAll(async () => {
  for (const r of Object.values(relays)) {
    r.fw.stopListening();
    r.fw.cutAll();
  }
  await lc.stop();
});

const sqlTo = (port: number) => superuserSql(port, SU_PASSWORD, { idle_timeout: 30 });
const portOf = (keeper: string) => lc.ports.pg[lc.keeperNames.indexOf(keeper)]!;
const cd = (): Promise<ClusterData> => readClusterData(lc.store);

describe("fencing a master cut from etcd", () => {
  test("the old master stops taking writes before a new master is elected, and rejoins after", async () => {
    const settled = await lc.waitSettled(90_000);
    const oldDb = settled.cluster.status.master!;
    const oldKeeper = settled.dbs[oldDb]!.spec.keeperUID;
    const viaProxy = sqlTo(lc.ports.proxy);
    await viaProxy`create table t (id int primary key)`;
    await viaProxy`insert into t select generate_series(1, 100)`;
    await viaProxy.end({ timeout: 1 });

    // A client that bypasses the proxy and talks to the master directly.
    let closedAt = 0;
    const direct = superuserSql(portOf(oldKeeper), SU_PASSWORD, { idle_timeout: 30, onclose: () => (closedAt ||= Date.now()) });
    await direct`insert into t values (1000)`;

    const t0 = Date.now();
    relays[oldKeeper]!.fw.stopListening();
    relays[oldKeeper]!.fw.cutAll();

    // Fenced: the direct session is gone and no new one is accepted, even for the superuser.
    let id = 1001;
    const cutErr = await waitFor("the direct session to be cut", async () => {
      // A write that hangs on a connection the server closed (porsager/postgres#1208) ends it too.
      const e = await within("a direct write", direct`insert into t values (${id++})`, 3_000).then(() => null, (err: Error) => err);
      if (e && /no answer within/.test(e.message) && !closedAt) throw e;
      return e ? e.message : null;
    }, 10_000, 100);
    const acceptedDirect = id - 1001 - 1;
    const fencedAt = (closedAt || Date.now()) - t0;
    const again = superuserSql(portOf(oldKeeper), SU_PASSWORD, { connect_timeout: 3 });
    const refused = await within("a new direct connection", again`select 1`, 10_000).then(() => "accepted", (e: Error) => e.message);
    await again.end({ timeout: 1 });
    expect(refused).toMatch(/pg_hba\.conf/);
    await direct.end({ timeout: 1 });

    // The sentinel elects another master only later.
    const c = await waitFor("a new master", async () => {
      const c = await cd();
      return c.cluster.status.master !== oldDb ? c : null;
    }, 30_000, 100);
    const electedAt = Date.now() - t0;
    console.log(`master cut from etcd: direct writes refused after ${fencedAt} ms (${acceptedDirect} accepted before; "${cutErr}"), new master elected after ${electedAt} ms`);
    expect(fencedAt).toBeLessThan(electedAt);
    const newKeeper = c.dbs[c.cluster.status.master!]!.spec.keeperUID;
    expect(newKeeper).not.toBe(oldKeeper);

    // Heal: the old master becomes a standby of the new one, with every row.
    relays[oldKeeper]!.fw.listen();
    const back = await lc.waitSettled(90_000);
    expect(back.dbs[back.cluster.status.master!]!.spec.keeperUID).toBe(newKeeper);
    const check = sqlTo(portOf(oldKeeper));
    try {
      await waitFor("the rows on the old master, now a standby", async () => {
        const r = await check`select count(*)::int as n, pg_is_in_recovery() as rec from t`;
        return r[0]!.rec === true && r[0]!.n >= 101;
      }, 30_000, 200);
    } finally {
      await check.end({ timeout: 1 });
    }
  });

  test("a client that calls itself stolon-keeper (application_name) is cut by the fence too: the keeper spares only its own backend, chosen by PID", async () => {
    const t0 = Date.now();
    const step = (what: string) => console.log(`[stolon-keeper-named client] ${what} after ${Date.now() - t0} ms`);
    const settled = await lc.waitSettled(60_000);
    step("settled");
    const oldDb = settled.cluster.status.master!;
    const oldKeeper = settled.dbs[oldDb]!.spec.keeperUID;
    const asKeeper = { idle_timeout: 0, connection: { application_name: "stolon-keeper" } };
    let closedAt = 0;
    const sneaky = superuserSql(portOf(oldKeeper), SU_PASSWORD, { ...asKeeper, onclose: () => (closedAt ||= Date.now()) });
    try {
      const me = await within("who am I", sneaky`select application_name from pg_stat_activity where pid = pg_backend_pid()`, 10_000);
      expect(me[0]!.application_name).toBe("stolon-keeper");
      await within("the first write", sneaky`insert into t values (7000)`, 10_000);
      relays[oldKeeper]!.fw.stopListening();
      relays[oldKeeper]!.fw.cutAll();
      step("cut from etcd");
      let id = 7001;
      // Cut: a write fails, or (postgres.js after a close, porsager/postgres#1208) hangs on a
      // connection the server closed; either ends the session, which is what this test is about.
      const cutErr = await waitFor("the stolon-keeper-named session to be cut", async () => {
        const e = await within("a write", sneaky`insert into t values (${id++})`, 3_000).then(() => null, (err: Error) => err);
        if (e && /no answer within/.test(e.message) && !closedAt) throw e;
        return e ? e.message : null;
      }, 10_000, 100);
      step(`session cut ("${cutErr}")`);
      // No way back in, with the same name, on a fresh connection.
      const again = superuserSql(portOf(oldKeeper), SU_PASSWORD, { ...asKeeper, connect_timeout: 3 });
      const later = await within("a write on a new connection", again`insert into t values (${id++})`, 10_000).then(() => "written", (e: Error) => e.message);
      await again.end({ timeout: 1 });
      expect(later).not.toBe("written");
      console.log(`fenced: a session named stolon-keeper was cut after ${id - 7003} more writes ("${cutErr}"; then "${later}")`);
      // Healed only once another master is elected: the old one then rejoins as a standby.
      await waitFor("a new master", async () => (await cd()).cluster.status.master !== oldDb, 30_000, 100);
      step("new master elected");
    } finally {
      await sneaky.end({ timeout: 1 });
      relays[oldKeeper]!.fw.listen();
    }
    await lc.waitSettled(90_000);
    step("the old master rejoined");
  }, 200_000);

  test("a master whose keeper dies (SIGKILL of the keeper alone) stops taking writes at once; the keeper restarted brings it back", async () => {
    const settled = await lc.waitSettled(90_000);
    const masterKeeper = settled.dbs[settled.cluster.status.master!]!.spec.keeperUID;
    const pm = lc.postmasterPid(masterKeeper)!;
    expect(pm).toBeGreaterThan(0);
    const direct = sqlTo(portOf(masterKeeper));
    await direct`insert into t values (5000)`;
    const t0 = Date.now();
    lc.kill(masterKeeper, "SIGKILL");
    let id = 5001;
    await waitFor("direct writes refused", async () => (await direct`insert into t values (${id++})`.then(() => false, () => true)), 10_000, 50);
    const refusedAt = Date.now() - t0;
    await direct.end({ timeout: 1 });
    await waitFor("the postmaster gone", () => {
      try {
        process.kill(pm, 0);
        return false;
      } catch {
        return true;
      }
    }, 30_000, 100);
    console.log(`keeper SIGKILLed: direct writes refused after ${refusedAt} ms (the watchdog's fast shutdown)`);
    await lc.exited(masterKeeper);
    lc.startKeeper(masterKeeper);
    await lc.waitSettled(90_000);
  });
});
