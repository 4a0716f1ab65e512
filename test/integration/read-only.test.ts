/**
 * The proxy's read-only port (--read-only-port) on a whole local cluster (etcd, three keepers, two
 * sentinels, the proxy; asynchronous replication, usePgrewind): where its connections land
 * (pg_is_in_recovery(), inet_server_port()), how they spread, a standby whose replay is paused
 * excluded and its connections cut, then back after resume; the fallback modes (master on the
 * cluster's proxy, refuse and hold on two more proxies); and no read-only connection on the new
 * master after a failover.
 */
import { describe, expect, test } from "bun:test";
import type postgres from "postgres";
import { SU_PASSWORD } from "../../scripts/local-cluster.ts";
import { readClusterData } from "../harness/builders.ts";
import { waitFor } from "../harness/util.ts";
import { clusterForFile } from "./harness/cluster.ts";
import { runCmd } from "./harness/process.ts";
import { superuserSql } from "./harness/sql.ts";

/** Small, so a few MB of writes put a paused standby far over it. */
const MAX_LAG = "256kB";
const { lc, portOf, query: q } = clusterForFile("read-only", {
  ports: [29000, 32000],
  spec: { initMode: "new", usePgrewind: true },
  readOnlyProxy: ["--read-only-max-lag", MAX_LAG],
});
const RO = () => lc.ports.proxyReadOnly;

interface Landing {
  port: number;
  inRecovery: boolean;
}

/** A client on `port` kept open (its connection closes only when cut), with `closed` set when it is. */
function client(port: number, o: postgres.Options<{}> = {}): { sql: postgres.Sql; closed: () => boolean } {
  let closed = false;
  const sql = superuserSql(port, SU_PASSWORD, { idle_timeout: 0, connect_timeout: 10, onclose: () => (closed = true), ...o });
  return { sql, closed: () => closed };
}

async function landing(sql: postgres.Sql): Promise<Landing> {
  const [r] = await sql`select pg_is_in_recovery() as r, inet_server_port() as port`;
  return { port: Number(r!.port), inRecovery: r!.r === true };
}

/** `n` connections through the read-only port, all kept open; where each landed. */
async function openMany(n: number): Promise<{ landings: Landing[]; clients: ReturnType<typeof client>[] }> {
  const clients = Array.from({ length: n }, () => client(RO()));
  const landings = await Promise.all(clients.map((c) => landing(c.sql)));
  return { landings, clients };
}

async function closeAll(clients: { sql: postgres.Sql }[]): Promise<void> {
  await Promise.all(clients.map((c) => c.sql.end({ timeout: 1 }).catch(() => {})));
}

const count = (ls: Landing[], port: number) => ls.filter((l) => l.port === port).length;

interface ReadOnlyHealth {
  targets: string[];
  fallback: "master" | null;
}

/** The read-only port's state as a proxy's /health says it: the cluster's proxy, or another by its admin URL. */
async function roHealth(adminUrl = lc.adminUrl("proxy")): Promise<ReadOnlyHealth> {
  const h = (await (await fetch(`${adminUrl}/health`)).json()) as { details: { readOnly: ReadOnlyHealth } };
  return h.details.readOnly;
}

/** The master's and the standbys' PostgreSQL ports, once settled with both standbys eligible for reads. */
async function settled(): Promise<{ master: number; standbys: number[]; keeperOf: (port: number) => string }> {
  const cd = await lc.waitSettled(120_000);
  await waitFor("both standbys eligible on the read-only port", async () => (await roHealth()).targets.length === 2, 30_000, 100);
  const m = cd.dbs[cd.cluster.status.master!]!.spec.keeperUID;
  const keepers = lc.keeperNames;
  return {
    master: portOf(m),
    standbys: keepers.filter((k) => k !== m).map(portOf),
    keeperOf: (port) => keepers.find((k) => portOf(k) === port)!,
  };
}

/** Enough WAL on the master (through the read-write port) to put a paused standby over MAX_LAG. */
async function writeWal(): Promise<void> {
  await q(lc.ports.proxy, "create table if not exists ro_fill (id bigint, pad text)");
  await q(lc.ports.proxy, "insert into ro_fill select g, repeat('x', 200) from generate_series(1, 20000) g");
}

const pauseReplay = (port: number) => q(port, "select pg_wal_replay_pause()");
const resumeReplay = (port: number) => q(port, "select pg_wal_replay_resume()");

describe("read-only port", () => {
  test("every connection lands on a standby, spread evenly over both", async () => {
    const { standbys } = await settled();
    const { landings, clients } = await openMany(6);
    try {
      expect(landings.every((l) => l.inRecovery)).toBe(true);
      // Least connections: 3 and 3, unless a standby's report came late (a loaded machine) while
      // they connected; each gets a share either way.
      expect(count(landings, standbys[0]!) + count(landings, standbys[1]!)).toBe(6);
      for (const p of standbys) expect(count(landings, p)).toBeGreaterThanOrEqual(2);
    } finally {
      await closeAll(clients);
    }
  });

  test("a standby whose replay is paused is excluded once its lag passes the bound, its connections cut; it is back after resume", async () => {
    const { standbys } = await settled();
    const [x, y] = standbys as [number, number];
    const { landings, clients } = await openMany(4);
    const onX = clients.filter((_, i) => landings[i]!.port === x);
    const onY = clients.filter((_, i) => landings[i]!.port === y);
    expect(onX.length).toBeGreaterThan(0);
    try {
      await pauseReplay(x);
      await writeWal();
      await waitFor("the connections to the paused standby cut", () => onX.every((c) => c.closed()), 20_000, 50);
      expect(onY.some((c) => c.closed())).toBe(false);
      const after = await openMany(4);
      await closeAll(after.clients);
      expect(after.landings.map((l) => l.port)).toEqual([y, y, y, y]);

      await resumeReplay(x);
      await waitFor("the standby back in the read-only set", async () => (await roHealth()).targets.length === 2, 20_000, 100);
      const back = await openMany(4);
      await closeAll(back.clients);
      expect(count(back.landings, x)).toBeGreaterThan(0);
    } finally {
      await resumeReplay(x).catch(() => {});
      await closeAll(clients);
    }
  });

  test("fallback master: with no eligible standby a read-only client goes to the master, and is moved off it once a standby is back", async () => {
    const { master, standbys } = await settled();
    try {
      for (const p of standbys) await pauseReplay(p);
      await writeWal();
      await waitFor("the fallback to the master", async () => (await roHealth()).fallback === "master", 20_000, 100);
      const c = client(RO());
      expect(await landing(c.sql)).toEqual({ port: master, inRecovery: false });
      for (const p of standbys) await resumeReplay(p);
      await waitFor("the fallback connection on the master cut", () => c.closed(), 20_000, 50);
      expect((await landing(c.sql)).inRecovery).toBe(true);
      await c.sql.end({ timeout: 1 });
    } finally {
      for (const p of standbys) await resumeReplay(p).catch(() => {});
    }
  });

  test("fallback refuse and hold, on two more proxies: 57P03 at once, or a wait until a standby is eligible", async () => {
    const { standbys } = await settled();
    const [rw2, ro2, rw3, ro3] = lc.ports.spare as [number, number, number, number];
    const common = ["--read-only-max-lag", MAX_LAG, "--listen-address", "127.0.0.1"];
    lc.startProxy("proxy-refuse", ["--port", String(rw2), "--read-only-port", String(ro2), "--read-only-fallback", "refuse", ...common]);
    // A port of the cluster's window of 40 that LocalCluster leaves unused.
    const holdAdmin = `127.0.0.1:${lc.o.basePort + 38}`;
    lc.startProxy("proxy-hold", ["--port", String(rw3), "--read-only-port", String(ro3), "--read-only-fallback", "hold", "--hold-timeout", "30s", "--metrics-listen-address", holdAdmin, ...common]);
    // Enabled by the sentinel and routing: a query through each read-only port lands on a standby.
    for (const port of [ro2, ro3]) await waitFor(`proxy on ${port} serving`, async () => (await q<{ r: boolean }>(port, "select pg_is_in_recovery() as r"))[0]!.r, 60_000, 200);
    let held: Promise<Landing> | null = null;
    try {
      for (const p of standbys) await pauseReplay(p);
      await writeWal();
      const refused = await waitFor(
        "the refusal",
        async () => {
          try {
            await q(ro2, "select 1");
            return false;
          } catch (err) {
            return err as { code?: string; message: string };
          }
        },
        20_000,
        200,
      );
      expect(refused.code).toBe("57P03");
      expect(refused.message).toContain("no standby available");
      // Each proxy checks the standbys on its own timer: the hold proxy may not have seen the lag
      // yet when the refuse proxy already did, and would send the client straight to a standby.
      await waitFor("the hold proxy with no eligible standby", async () => (await roHealth(`http://${holdAdmin}`)).targets.length === 0, 20_000, 100);
      const hc = client(ro3, { connect_timeout: 40 });
      let answered = false;
      held = landing(hc.sql).finally(() => {
        answered = true;
        return hc.sql.end({ timeout: 1 });
      });
      await Bun.sleep(1500);
      expect(answered).toBe(false);
      for (const p of standbys) await resumeReplay(p);
      expect((await held).inRecovery).toBe(true);
    } finally {
      for (const p of standbys) await resumeReplay(p).catch(() => {});
      await held?.catch(() => {});
    }
  });

  test("after a failover no read-only connection reaches the new master; the one open to the promoted standby is cut", async () => {
    const before = await settled();
    const { landings, clients } = await openMany(4);
    try {
      const old = lc.keeperNames.find((k) => portOf(k) === before.master)!;
      const r = await runCmd("stolonctl", [...lc.common, "failkeeper", old]);
      expect(r.code).toBe(0);
      // failkeeper only asks: the cluster data still names the old master, settled, until the
      // sentinel's next tick. Wait for the master to change before waiting for it to settle.
      await waitFor("a new master", async () => {
        const cd = await readClusterData(lc.store);
        const m = cd.cluster.status.master;
        return m !== undefined && portOf(cd.dbs[m]!.spec.keeperUID) !== before.master;
      }, 30_000, 100);
      const after = await settled();
      expect(after.master).not.toBe(before.master);
      const onPromoted = clients.filter((_, i) => landings[i]!.port === after.master);
      expect(onPromoted.length).toBeGreaterThan(0);
      expect(onPromoted.every((c) => c.closed())).toBe(true);
      const now = await openMany(6);
      await closeAll(now.clients);
      expect(now.landings.filter((l) => l.port === after.master || !l.inRecovery)).toEqual([]);
    } finally {
      await closeAll(clients);
    }
  });
});
