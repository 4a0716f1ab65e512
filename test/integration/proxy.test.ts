/**
 * stolon-proxy against real etcd and two real PostgreSQL servers, with cluster views written by
 * the test: it routes only where the view says, cuts connections the moment the master changes,
 * holds clients during a failover, forwards a large COPY byte for byte with bounded memory under
 * a stalled reader, and fences itself while etcd does not answer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type postgres from "postgres";
import { newClusterData, type ClusterData, type ClusterSpec } from "../../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { DaemonProcess, makeTestRoot, PG_BIN, requirePostgres, startStandalonePostgres } from "./harness/keeper.ts";
import { superuserSql } from "./harness/sql.ts";
import { makeDb } from "../harness/builders.ts";

requirePostgres();

const CLUSTER = "pt";
const spec: ClusterSpec = { initMode: "new", proxyCheckInterval: "1s", proxyTimeout: "3s" };
const pgPorts = { d1: freePort(), d2: freePort() };
let etcd: EtcdProcess;
let store: KvStore;
let proxy: DaemonProcess;
let proxyPort: number;
let proxyUid: string;
let cd: ClusterData;

function client(port = proxyPort, o: postgres.Options<{}> = {}) {
  return superuserSql(port, undefined, { connect_timeout: 10, idle_timeout: 30, ...o });
}

async function write(f: (c: ClusterData) => void): Promise<void> {
  f(cd);
  cd.proxy.generation++;
  const cur = await store.getClusterData();
  await store.putClusterData(cd, cur!.revision);
}

/** Waits until the proxy has acknowledged the current proxy generation. */
async function acked(): Promise<void> {
  await waitFor("the proxy's acknowledgement", async () => (await store.getProxiesInfo()).items[proxyUid]?.Generation === cd.proxy.generation, 10_000, 20);
}

const serverPort = async (sql: ReturnType<typeof client>) => Number((await sql`show port`)[0]!.port);
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new KvStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: CLUSTER });
  const root = makeTestRoot("proxy");
  await Promise.all([startStandalonePostgres(root, "d1", pgPorts.d1), startStandalonePostgres(root, "d2", pgPorts.d2)]);
  cd = newClusterData("c0ffee03", spec, new Date());
  cd.cluster.status.phase = "normal";
  for (const [uid, port] of Object.entries(pgPorts))
    cd.dbs[uid] = makeDb(uid, { keeperUID: uid, role: "master" }, { status: { listenAddress: "127.0.0.1", port: String(port), healthy: true } });
  await store.putClusterData(cd, 0);
  proxyPort = freePort();
  proxy = DaemonProcess.start("proxy", "proxy", [
    "--cluster-name", CLUSTER, "--store-backend", "etcdv3", "--store-endpoints", etcd.endpoint, "--store-timeout", "1s",
    "--port", String(proxyPort), "--hold-timeout", "2s", "--log-level", "debug",
  ]);
  const info = await waitFor("the proxy's info", async () => Object.values((await store.getProxiesInfo()).items)[0], 15_000);
  proxyUid = info.UID;
});
afterAll(async () => {
  await proxy?.stop();
  await store?.close();
  await etcd?.stop();
});

describe("stolon-proxy", () => {
  test("a client that connects while no master is routed is held, then served when one is", async () => {
    const sql = client();
    const t0 = Date.now();
    const q = serverPort(sql);
    await Bun.sleep(300);
    await write((c) => {
      c.proxy.spec = { masterDbUid: "d1", enabledProxies: [proxyUid] };
    });
    expect(await q).toBe(pgPorts.d1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    await sql.end();
  });

  test("a proxy that is not enabled does not route: a held client gets 57P03 after the hold time", async () => {
    await write((c) => {
      c.proxy.spec = { masterDbUid: "d1", enabledProxies: ["someoneelse"] };
    });
    await acked();
    const sql = client(proxyPort, { connect_timeout: 10 });
    const t0 = Date.now();
    const err = await sql`select 1`.then(() => null, (e: Error & { code?: string }) => e);
    expect(err?.code).toBe("57P03");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1800);
    expect(proxy.output).toContain("is not enabled yet");
    await sql.end();
  });

  test("a master change cuts the old connections at once; new ones reach the new master", async () => {
    await write((c) => {
      c.proxy.spec = { masterDbUid: "d1", enabledProxies: [proxyUid] };
    });
    await acked();
    const old = client();
    expect(await serverPort(old)).toBe(pgPorts.d1);
    // A long query on the old master: it must be cut, not left to finish.
    const running = old`select pg_sleep(30)`.then(() => "finished", (e: Error) => e.message);
    await Bun.sleep(200);
    const t0 = Date.now();
    await write((c) => {
      c.proxy.spec = { masterDbUid: "d2", enabledProxies: [proxyUid] };
    });
    const outcome = await running;
    const cutMs = Date.now() - t0;
    console.log(`old connection cut ${cutMs} ms after the cluster data was written`);
    expect(outcome).not.toBe("finished");
    expect(cutMs).toBeLessThan(5000);
    const fresh = client();
    expect(await serverPort(fresh)).toBe(pgPorts.d2);
    await Promise.all([old.end({ timeout: 1 }), fresh.end()]);
  });

  test("a large COPY is byte-identical through the proxy; a stalled reader keeps the proxy's memory bounded", async () => {
    const copy = "COPY (SELECT i, repeat(md5(i::text), 30) FROM generate_series(1, 300000) i) TO STDOUT";
    const run = async (port: number, stallMs: number) => {
      const p = Bun.spawn([`${PG_BIN}/psql`, "-X", "-h", "127.0.0.1", "-p", String(port), "-U", "stolon", "-d", "postgres", "-c", copy], {
        stdout: "pipe",
        stderr: "pipe",
        env: { PATH: process.env.PATH ?? "" },
      });
      const hash = createHash("sha256");
      let bytes = 0;
      let peakRss = 0;
      const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
      if (stallMs > 0) {
        // Read one chunk, then stall: psql stops reading, the proxy must stop reading too.
        const first = await reader.read();
        if (first.value) {
          hash.update(first.value);
          bytes += first.value.byteLength;
        }
        const until = Date.now() + stallMs;
        while (Date.now() < until) {
          peakRss = Math.max(peakRss, rssKb(proxy.pid));
          await Bun.sleep(100);
        }
      }
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        hash.update(value);
        bytes += value.byteLength;
      }
      expect(await p.exited).toBe(0);
      return { digest: hash.digest("hex"), bytes, peakRss };
    };
    const direct = await run(pgPorts.d2, 0);
    const rssBefore = rssKb(proxy.pid);
    const through = await run(proxyPort, 3000);
    console.log(`COPY ${(direct.bytes / 1e6).toFixed(0)} MB; proxy RSS before ${(rssBefore / 1024).toFixed(0)} MB, peak while the reader stalled ${(through.peakRss / 1024).toFixed(0)} MB`);
    expect(direct.bytes).toBeGreaterThan(200e6);
    expect(through.digest).toBe(direct.digest);
    expect(through.peakRss).toBeLessThan(100 * 1024);
  });

  test("while etcd does not answer the proxy cuts its connections and stops listening; it listens again after", async () => {
    const sql = client();
    expect(await serverPort(sql)).toBe(pgPorts.d2);
    const t0 = Date.now();
    etcd.freeze();
    try {
      await waitFor("the listener to close", async () => {
        const s = await Bun.connect({ hostname: "127.0.0.1", port: proxyPort, socket: { data() {} } }).catch(() => null);
        s?.end();
        return s === null;
      }, 10_000, 50);
      const fenced = Date.now() - t0;
      console.log(`proxy fenced ${fenced} ms after etcd froze (proxyTimeout 3s)`);
      expect(fenced).toBeLessThan(6000);
      expect(await sql`select 1`.then(() => "ok", () => "cut")).toBe("cut");
    } finally {
      etcd.thaw();
    }
    await waitFor("the proxy to listen again", async () => {
      const s = await Bun.connect({ hostname: "127.0.0.1", port: proxyPort, socket: { data() {} } }).catch(() => null);
      s?.end();
      return s !== null;
    }, 15_000, 100);
    const again = client();
    expect(await serverPort(again)).toBe(pgPorts.d2);
    await Promise.all([sql.end(), again.end()]);
  });

  test("garbage cluster data means no target", async () => {
    const cur = await store.getRawClusterData();
    await store.putRawClusterData('{"formatVersion": 99}', cur!.revision);
    await waitFor("the proxy to stop routing", () => proxy.output.includes("the cluster data cannot be used"), 5000);
    const sql = client();
    expect(await sql`select 1`.then(() => "ok", () => "refused")).toBe("refused");
    await sql.end();
  });

  test("SIGTERM: the proxy stops listening and removes its info, so no sentinel waits for it", async () => {
    expect(Object.keys((await store.getProxiesInfo()).items)).toContain(proxyUid);
    expect(await proxy.stop()).toBe(0);
    expect(Object.keys((await store.getProxiesInfo()).items)).not.toContain(proxyUid);
    const sql = client();
    expect(await sql`select 1`.then(() => "ok", () => "refused")).toBe("refused");
    await sql.end();
  });
});
