/**
 * A switchover's hold on stolon-proxy, against real etcd and two real PostgreSQL servers, with
 * the cluster views written by the test (the sentinel's part is not needed to see the proxy's):
 * clients with short transactions (a pooled one, and one opening a connection per transaction)
 * see no error while the proxy drains, holds them, and lets them go to the new master; a client
 * in an open transaction is cut when the drain time is over; nobody reaches the old master after
 * the drain; a TLS connection, which the proxy cannot read, is waited for until it closes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type postgres from "postgres";
import { newClusterData, type ClusterData, type ClusterSpec } from "../../src/cluster/index.ts";
import { lookupUserByName } from "../../src/postgres/index.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { startStandalonePostgres } from "../../scripts/standalone-postgres.ts";
import { makeDb } from "../harness/builders.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { DaemonProcess, makeTestRoot, requirePostgres } from "./harness/keeper.ts";
import { atEnd } from "./harness/process.ts";
import { superuserSql } from "./harness/sql.ts";

requirePostgres();

const CLUSTER = "pd";
const spec: ClusterSpec = { initMode: "new", proxyCheckInterval: "1s", proxyTimeout: "5s" };
const pgPorts = { d1: freePort(), d2: freePort() };
const DRAIN_MS = 3000;
let etcd: EtcdProcess;
let store: KvStore;
let proxy: DaemonProcess;
let proxyPort: number;
let proxyUid: string;
let cd: ClusterData;

function client(o: postgres.Options<{}> = {}) {
  return superuserSql(proxyPort, undefined, { connect_timeout: 30, idle_timeout: 30, ...o });
}
function direct(port: number) {
  return superuserSql(port, undefined, {});
}

async function write(f: (c: ClusterData) => void): Promise<void> {
  f(cd);
  cd.proxy.generation++;
  const cur = await store.getClusterData();
  await store.putClusterData(cd, cur!.revision);
}
const proxyInfo = async () => (await store.getProxiesInfo()).items[proxyUid];

/** A self-signed certificate for both servers (the proxy only passes TLS through). */
function makeCert(root: string): Record<string, string> {
  const cert = join(root, "server.crt");
  const key = join(root, "server.key");
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
  const pgUser = process.getuid?.() === 0 ? lookupUserByName("postgres") : null;
  if (pgUser) {
    chownSync(key, pgUser.uid, pgUser.gid);
    chownSync(cert, pgUser.uid, pgUser.gid);
  }
  return { ssl: "on", ssl_cert_file: cert, ssl_key_file: key };
}

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new KvStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: CLUSTER });
  const root = makeTestRoot("proxy-drain");
  const ssl = makeCert(root);
  const servers = await Promise.all(Object.entries(pgPorts).map(([name, port]) => startStandalonePostgres(join(root, name), port, { ...ssl, max_connections: "100" })));
  for (const s of servers) atEnd(() => s.stop());
  for (const port of Object.values(pgPorts)) {
    const sql = direct(port);
    await sql`create table t (client text, n int, at timestamptz default clock_timestamp())`;
    await sql.end();
  }
  cd = newClusterData("c0ffee17", spec, new Date());
  cd.cluster.status.phase = "normal";
  for (const [uid, port] of Object.entries(pgPorts))
    cd.dbs[uid] = makeDb(uid, { keeperUID: uid, role: "master" }, { status: { listenAddress: "127.0.0.1", port: String(port), healthy: true } });
  await store.putClusterData(cd, 0);
  proxyPort = freePort();
  proxy = DaemonProcess.start("proxy", "proxy", [
    "--cluster-name", CLUSTER, "--store-backend", "etcdv3", "--store-endpoints", etcd.endpoint, "--store-timeout", "1s",
    "--port", String(proxyPort), "--log-level", "debug",
  ]);
  const info = await waitFor("the proxy's info", async () => Object.values((await store.getProxiesInfo()).items)[0], 15_000);
  proxyUid = info.UID;
  await write((c) => {
    c.proxy.spec = { masterDbUid: "d1", enabledProxies: [proxyUid] };
  });
  await waitFor("the proxy's acknowledgement", async () => (await proxyInfo())?.Generation === cd.proxy.generation, 10_000, 20);
});
afterAll(async () => {
  await proxy?.stop();
  await store?.close();
  await etcd?.stop();
});

/**
 * A pooled client (one connection), one row per transaction, `thinkMs` between transactions (0:
 * as fast as it goes). Records the numbers of the rows whose transaction failed.
 */
function pooledWriter(name: string, thinkMs: number) {
  const sql = client({ max: 1 });
  const st = { ok: 0, errors: [] as string[], failed: [] as number[], stop: false };
  const done = (async () => {
    for (let i = 0; !st.stop; i++) {
      try {
        await sql.begin((tx) => tx`insert into t (client, n) values (${name}, ${i})`);
        st.ok++;
      } catch (e) {
        st.errors.push((e as Error & { code?: string }).code ?? (e as Error).message);
        st.failed.push(i);
      }
      if (thinkMs > 0) await Bun.sleep(thinkMs);
    }
    await sql.end();
  })();
  return { st, done };
}

/** Client B: a new connection for every transaction. */
function connectionPerTransaction() {
  const st = { ok: 0, errors: [] as string[], stop: false };
  const done = (async () => {
    for (let i = 0; !st.stop; i++) {
      const sql = client({ max: 1 });
      try {
        await sql.begin((tx) => tx`insert into t (client, n) values ('b', ${i})`);
        st.ok++;
      } catch (e) {
        st.errors.push((e as Error).message);
      } finally {
        await sql.end({ timeout: 5 });
      }
    }
  })();
  return { st, done };
}

describe("stolon-proxy during a switchover's hold", () => {
  test("short transactions see no error (a back-to-back pooled client at most one, on a request that never ran); an open transaction is cut at the drain time; nothing reaches the old master after the drain", async () => {
    // a: back to back; p: 10 ms between transactions, as an application with some work to do.
    const a = pooledWriter("a", 0);
    const p = pooledWriter("p", 10);
    const b = connectionPerTransaction();
    let openClosedAt = 0;
    const open = client({ max: 1, onclose: () => void (openClosedAt ||= Date.now()) });
    await open.unsafe("begin");
    await open`insert into t (client, n) values ('c', 0)`;
    await waitFor("the writers to run", () => a.st.ok > 50 && p.st.ok > 20 && b.st.ok > 5, 20_000);

    const t0 = Date.now();
    await write((c) => {
      c.proxy.spec.hold = { id: "sw1", since: new Date().toISOString(), drainTimeout: `${DRAIN_MS}ms` };
    });
    const info = await waitFor("drained: sw1", async () => ((await proxyInfo())?.drained === "sw1" ? await proxyInfo() : null), 15_000, 20);
    const drainedMs = Date.now() - t0;
    const drainedAt = new Date();
    console.log(`drained ${drainedMs} ms after the hold was written (drain time ${DRAIN_MS} ms; one client kept a transaction open)`);
    expect(info?.Generation).toBe(cd.proxy.generation);
    // The open transaction kept the drain going until the drain time, then was cut.
    expect(drainedMs).toBeGreaterThanOrEqual(DRAIN_MS - 500);
    expect(drainedMs).toBeLessThan(DRAIN_MS + 3000);
    expect(openClosedAt - t0).toBeGreaterThanOrEqual(DRAIN_MS - 500);

    // The held clients wait: no commit lands anywhere meanwhile.
    const before = [a.st.ok, p.st.ok, b.st.ok];
    await Bun.sleep(1000);
    expect([a.st.ok, p.st.ok, b.st.ok]).toEqual(before);

    // The promotion is done: the new master routed and the hold cleared in one write.
    const t1 = Date.now();
    await write((c) => {
      c.proxy.spec = { masterDbUid: "d2", enabledProxies: [proxyUid], hold: null };
    });
    await waitFor("the writers to go on", () => a.st.ok > before[0]! + 50 && p.st.ok > before[1]! + 20 && b.st.ok > before[2]! + 5, 20_000);
    console.log(`writers going on ${Date.now() - t1} ms after the hold was cleared`);
    console.log(`stopping at ${new Date().toISOString()}`);
    a.st.stop = p.st.stop = b.st.stop = true;
    await Promise.all([a.done, p.done, b.done, open.end({ timeout: 1 })]);

    console.log(`errors: back-to-back pooled ${JSON.stringify(a.st.errors)}, pooled with think time ${JSON.stringify(p.st.errors)}, connection per transaction ${JSON.stringify(b.st.errors)}`);
    expect({ p: p.st.errors, b: b.st.errors }).toEqual({ p: [], b: [] });
    // A client that sends its next transaction the moment it has the answer to the last one can
    // have it on the wire as the proxy closes the connection after that answer (postgres.js
    // reuses the connection before it sees the close): at most one such error per connection,
    // on a request that never reached a server.
    expect(a.st.errors.length).toBeLessThanOrEqual(1);
    for (const e of a.st.errors) expect(e).toMatch(/CONNECTION_CLOSED|ECONNRESET/);
    const d1 = direct(pgPorts.d1);
    const d2 = direct(pgPorts.d2);
    const late = await d1`select count(*)::int as n from t where at > ${drainedAt}`;
    const moved = await d2`select count(*)::int as n from t where client in ('a', 'p', 'b')`;
    const ran = await Promise.all([d1, d2].map((sql) => sql`select count(*)::int as n from t where client = 'a' and n = any(${`{${a.st.failed.join(",")}}`}::int[])`));
    await Promise.all([d1.end(), d2.end()]);
    expect(late[0]!.n).toBe(0);
    expect(moved[0]!.n).toBeGreaterThan(75);
    expect(ran.map((r) => r[0]!.n)).toEqual([0, 0]);

    expect(proxy.output).toContain("hold sw1: every connection open when it began is closed");
  }, 90_000);

  test("a TLS connection is not read: the drain waits for it to close", async () => {
    const tls = client({ max: 1, ssl: { rejectUnauthorized: false } });
    const rows = await tls`select ssl from pg_stat_ssl where pid = pg_backend_pid()`;
    expect(rows[0]?.ssl).toBe(true);
    const t0 = Date.now();
    await write((c) => {
      c.proxy.spec.hold = { id: "sw2", since: new Date().toISOString(), drainTimeout: "20s" };
    });
    await waitFor("the proxy's acknowledgement", async () => (await proxyInfo())?.Generation === cd.proxy.generation, 10_000, 20);
    await Bun.sleep(1500);
    // Idle, but the proxy cannot tell: still open, not drained.
    expect((await proxyInfo())?.drained).toBeUndefined();
    await tls.end();
    await waitFor("drained: sw2", async () => (await proxyInfo())?.drained === "sw2", 10_000, 20);
    console.log(`drained ${Date.now() - t0} ms after the hold, once the TLS client closed`);
    expect(Date.now() - t0).toBeLessThan(15_000);
    await write((c) => {
      c.proxy.spec.hold = null;
    });
  }, 60_000);
});
