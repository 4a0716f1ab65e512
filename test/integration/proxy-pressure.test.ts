/**
 * stolon-proxy under pressure, against real etcd and a real PostgreSQL, with the clients
 * applications use (postgres.js and psql, both with sslmode=prefer so the SSLRequest is answered
 * first): a client the proxy refuses reads why, with PostgreSQL's SQLSTATE, instead of "server
 * closed the connection unexpectedly".
 *
 * No master routed -> after --hold-timeout the client gets 57P03 "no master available".
 * More clients waiting than --max-held-connections -> the next one gets 53300 at once.
 * Master routed, --max-connections clients connected -> the next one gets 53300; the others go on.
 * A flood of clients that say nothing, garbage or a startup -> the proxy's sockets stay bounded,
 * every flood client is closed within the refusal time, the connected client keeps working.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type postgres from "postgres";
import { newClusterData, type ClusterData } from "../../src/cluster/index.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { readdirSync } from "node:fs";
import { MAX_REFUSING, REFUSAL_MS } from "../../src/proxy/forwarder.ts";
import { parseErrorResponse, startupMessage } from "../unit/proxy/pg-packets.ts";
import { DaemonProcess, makeTestRoot, PG_BIN, requirePostgres, startStandalonePostgres } from "./harness/keeper.ts";
import { superuserSql } from "./harness/sql.ts";
import { makeDb } from "../harness/builders.ts";

requirePostgres();

const CLUSTER = "pp";
const HOLD_MS = 1500;
const pgPort = freePort();
let etcd: EtcdProcess;
let store: KvStore;
let proxy: DaemonProcess;
let proxyPort: number;
let proxyUid: string;
let cd: ClusterData;

/** A postgres.js client through the proxy, asking for TLS if the server has it (it is told "N"). */
function client() {
  return superuserSql(proxyPort, undefined, { ssl: "prefer", connect_timeout: 10, idle_timeout: 30 });
}

/** What a failed first query says: the driver's error code and message. */
async function failure(sql: ReturnType<typeof client>): Promise<{ code: string; message: string }> {
  const err = await sql`select 1`.then(
    () => null,
    (e: { code?: string; message?: string }) => e,
  );
  await sql.end({ timeout: 1 });
  expect(err).not.toBeNull();
  return { code: String(err?.code), message: String(err?.message) };
}

/** psql through the proxy with sslmode=prefer: exit code and stderr. */
async function psql(): Promise<{ exitCode: number; stderr: string }> {
  const p = Bun.spawn(
    [`${PG_BIN}/psql`, "-X", "-c", "select 1", `host=127.0.0.1 port=${proxyPort} user=stolon dbname=postgres sslmode=prefer connect_timeout=10`],
    { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "" } },
  );
  const [exitCode, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  return { exitCode, stderr };
}

async function route(masterDbUid: string | undefined): Promise<void> {
  cd.proxy.spec = masterDbUid ? { masterDbUid, enabledProxies: [proxyUid] } : {};
  cd.proxy.generation++;
  const cur = await store.getClusterData();
  await store.putClusterData(cd, cur!.revision);
  await waitFor("the proxy's acknowledgement", async () => (await store.getProxiesInfo()).items[proxyUid]?.Generation === cd.proxy.generation, 10_000, 20);
}

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new KvStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: CLUSTER });
  await startStandalonePostgres(makeTestRoot("proxy-pressure"), "d1", pgPort);
  cd = newClusterData("c0ffee13", { initMode: "new", proxyCheckInterval: "1s", proxyTimeout: "5s" }, new Date());
  cd.cluster.status.phase = "normal";
  cd.dbs.d1 = makeDb("d1", { keeperUID: "d1", role: "master" }, { status: { listenAddress: "127.0.0.1", port: String(pgPort), healthy: true } });
  // No master routed yet: cd.proxy.spec is empty.
  await store.putClusterData(cd, 0);
  proxyPort = freePort();
  proxy = DaemonProcess.start("proxy", "proxy", [
    "--cluster-name", CLUSTER, "--store-backend", "etcdv3", "--store-endpoints", etcd.endpoint,
    "--port", String(proxyPort), "--hold-timeout", `${HOLD_MS}ms`,
    "--max-connections", "2", "--max-held-connections", "1", "--log-level", "debug",
  ]);
  const info = await waitFor("the proxy's info", async () => Object.values((await store.getProxiesInfo()).items)[0], 15_000);
  proxyUid = info.UID;
});
afterAll(async () => {
  await proxy?.stop();
  await store?.close();
  await etcd?.stop();
});

describe("stolon-proxy under pressure", () => {
  test("no master within the hold time: postgres.js and psql show 57P03 \"no master available\"", async () => {
    const t0 = Date.now();
    const js = await failure(client());
    const waited = Date.now() - t0;
    expect(js.code).toBe("57P03");
    expect(js.message).toMatch(/^no master available: none within the hold time/);
    expect(waited).toBeGreaterThanOrEqual(HOLD_MS - 100);
    const cli = await psql();
    expect(cli.exitCode).toBe(2);
    expect(cli.stderr).toContain("FATAL:  no master available: none within the hold time");
  });

  test("past --max-held-connections a client is refused at once with 53300; the held one gets 57P03 later", async () => {
    const held = client();
    const heldOutcome = failure(held);
    const seen = proxy.output.length;
    await waitFor("the first client to be held", () => proxy.output.slice(seen).includes("(1 held)"), 5000, 20);
    const t0 = Date.now();
    const js = await failure(client());
    expect(js.code).toBe("53300");
    expect(js.message).toBe("sorry, too many clients already waiting for a master (stolon-proxy --max-held-connections 1)");
    const cli = await psql();
    expect(Date.now() - t0).toBeLessThan(HOLD_MS);
    expect(cli.exitCode).toBe(2);
    expect(cli.stderr).toContain("FATAL:  sorry, too many clients already waiting for a master");
    expect((await heldOutcome).code).toBe("57P03");
  });

  test("past --max-connections postgres.js and psql show 53300 while the connected clients keep working", async () => {
    await route("d1");
    const a = client();
    const b = client();
    expect(await Promise.all([a`select 1 as x`, b`select 2 as x`]).then((r) => r.map((rows) => rows[0]!.x))).toEqual([1, 2]);
    const js = await failure(client());
    expect(js).toEqual({ code: "53300", message: "sorry, too many clients already (stolon-proxy --max-connections 2)" });
    const cli = await psql();
    expect(cli.exitCode).toBe(2);
    expect(cli.stderr).toContain("FATAL:  sorry, too many clients already (stolon-proxy --max-connections 2)");
    expect(await Promise.all([a`select 3 as x`, b`select 4 as x`]).then((r) => r.map((rows) => rows[0]!.x))).toEqual([3, 4]);
    // A slot that frees up is taken by the next client.
    await b.end();
    const c = client();
    await waitFor("a freed slot", () => c`select 5 as x`.then((r) => r[0]!.x === 5).catch(() => false), 5000, 100);
    await Promise.all([a.end(), c.end()]);
  });

  test("a flood of refused clients (silent, garbage, startup): sockets bounded, all closed in time, the connected client keeps working", async () => {
    // Both slots taken: every flood client is refused.
    const a = client();
    const b = client();
    await Promise.all([a`select 1`, b`select 1`]);
    const fds = () => readdirSync(`/proc/${proxy.pid}/fd`).length;
    const baseFds = fds();
    /** Queries per second on `a` for `ms`. */
    const rate = async (ms: number) => {
      let n = 0;
      const end = Date.now() + ms;
      while (Date.now() < end) {
        await a`select 1`;
        n++;
      }
      return (n * 1000) / ms;
    };
    await rate(300); // warm-up
    const quiet = await rate(1000);

    // Waves of 15 clients every 10 ms for 1.2 s: silent ones (held for the refusal time if a
    // refusal slot is free), garbage, and well-formed startups (53300, or closed at once when
    // every refusal slot is taken).
    const kinds = ["silent", "garbage", "startup"] as const;
    const outcome = { clients: 0, errors: 0, codes: new Set<string>(), closedSilently: 0, connectFailed: 0, open: 0 };
    let lastClose = 0;
    const t0 = Date.now();
    const sockets: Promise<unknown>[] = [];
    const connectOne = (kind: (typeof kinds)[number]) => {
      outcome.clients++;
      outcome.open++;
      let got = new Uint8Array(0);
      return Bun.connect({
        hostname: "127.0.0.1",
        port: proxyPort,
        socket: {
          binaryType: "uint8array",
          open: (s) => {
            if (kind === "garbage") s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            if (kind === "startup") s.write(startupMessage({ user: "stolon", database: "postgres" }));
          },
          data: (_s, d) => {
            const joined = new Uint8Array(got.byteLength + d.byteLength);
            joined.set(got);
            joined.set(d, got.byteLength);
            got = joined;
          },
          close: () => {
            outcome.open--;
            lastClose = Date.now() - t0;
            if (got.byteLength > 0) {
              outcome.errors++;
              outcome.codes.add(parseErrorResponse(got).fields.C ?? "");
            } else outcome.closedSilently++;
          },
        },
      }).then(
        (s) => sockets.push(Promise.resolve(s)),
        () => {
          // The proxy dropped it before Bun reported the connection as open.
          outcome.open--;
          outcome.connectFailed++;
        },
      );
    };
    const flood = (async () => {
      for (let wave = 0; Date.now() - t0 < 1200; wave++) {
        for (let i = 0; i < 15; i++) void connectOne(kinds[(wave + i) % 3]!);
        await Bun.sleep(10);
      }
    })();
    let peakFds = 0;
    const sampler = setInterval(() => void (peakFds = Math.max(peakFds, fds())), 20);
    let busy: number;
    try {
      busy = await rate(1000);
      await flood;
      await waitFor("every flood client to be closed", () => outcome.open === 0, REFUSAL_MS + 5000, 50).catch((err) => {
        throw new Error(`${err}: ${JSON.stringify({ ...outcome, codes: [...outcome.codes] })}`);
      });
    } finally {
      clearInterval(sampler);
    }
    console.log(
      `flood of ${outcome.clients} clients in 1.2 s: ${outcome.errors} answered (${[...outcome.codes].join(", ")}), ${outcome.closedSilently} closed without a word, ${outcome.connectFailed} not connected, the last after ${lastClose} ms; ` +
        `proxy fds ${baseFds} before, peak ${peakFds}; select 1 on a connected client: ${quiet.toFixed(0)}/s quiet, ${busy.toFixed(0)}/s during the flood`,
    );
    expect(outcome.errors).toBeGreaterThan(0);
    expect([...outcome.codes]).toEqual(["53300"]);
    expect(lastClose).toBeLessThan(REFUSAL_MS + 3000);
    // One socket per refusal in progress at most, plus some slack for the flood's accept backlog.
    expect(peakFds - baseFds).toBeLessThanOrEqual(MAX_REFUSING + 20);
    expect(busy).toBeGreaterThan(0);
    expect((await a`select 42 as x`)[0]!.x).toBe(42);
    for (const s of (await Promise.all(sockets)) as { end(): void }[]) s.end();
    await Promise.all([a.end(), b.end()]);
  });
});
