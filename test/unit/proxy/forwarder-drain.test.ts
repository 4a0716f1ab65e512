/**
 * A switchover's hold on the Forwarder, with real loopback sockets and a fake server speaking
 * enough of the wire protocol (startup, simple queries, BEGIN/COMMIT status, SSLRequest): quiet
 * idle connections are closed after QUIET_MS, busy ones right after the answer that ends their
 * transaction (the answer and the close together), unreadable ones
 * waited for, the rest cut when the drain time is over; new clients are held until the hold is
 * cleared and then go to the target routed then.
 */
import { afterAll, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { createLogger } from "../../../src/lib/log.ts";
import { Forwarder, type ForwarderOptions } from "../../../src/proxy/forwarder.ts";
import { PgStreamTracker } from "../../../src/proxy/pg-wire.ts";
import { freePort } from "../../harness/util.ts";
import { commandDone, concat, msg, parseErrorResponse, query, sslRequest, startupDone, startupMessage } from "./pg-packets.ts";

interface ServerState {
  sessions: number;
  terminated: number;
}

/**
 * A fake server: answers a startup message with startupDone (after `startupDelayMs`), each
 * Query with CommandComplete + ReadyForQuery (status T after BEGIN until COMMIT, named `name`
 * in the tag), an SSLRequest with `sslAnswer`. Counts sessions and the Terminate messages it got.
 */
function fakeServer(name: string, o: { sslAnswer?: string; startupDelayMs?: number } = {}): TCPSocketListener<{ inTx: boolean; buf: Uint8Array; started: boolean }> & { st: ServerState } {
  const st: ServerState = { sessions: 0, terminated: 0 };
  const l = Bun.listen<{ inTx: boolean; buf: Uint8Array; started: boolean }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      binaryType: "uint8array",
      open: (s) => {
        s.data = { inTx: false, buf: new Uint8Array(0), started: false };
        st.sessions++;
      },
      data: (s, d) => {
        s.data.buf = concat(s.data.buf, d);
        serve(s, name, st, o);
      },
    },
  });
  return Object.assign(l, { st });
}

function serve(s: Socket<{ inTx: boolean; buf: Uint8Array; started: boolean }>, name: string, st: ServerState, o: { sslAnswer?: string; startupDelayMs?: number }): void {
  for (;;) {
    const b = s.data.buf;
    if (!s.data.started) {
      if (b.byteLength < 8) return;
      const len = new DataView(b.buffer, b.byteOffset).getInt32(0);
      if (b.byteLength < len) return;
      s.data.buf = b.slice(len);
      if (len === 8 && new DataView(b.buffer, b.byteOffset).getInt32(4) === 80877103) {
        s.write(o.sslAnswer ?? "N");
        if ((o.sslAnswer ?? "N") !== "N") s.data.started = true; // "encrypted" from here on
        continue;
      }
      s.data.started = true;
      if (o.startupDelayMs) setTimeout(() => s.write(startupDone()), o.startupDelayMs);
      else s.write(startupDone());
      continue;
    }
    if (b.byteLength < 5) return;
    const len = new DataView(b.buffer, b.byteOffset).getInt32(1);
    if (b.byteLength < 1 + len) return;
    const type = String.fromCharCode(b[0]!);
    const text = new TextDecoder().decode(b.subarray(5, len)).replace(/\0$/, "");
    s.data.buf = b.slice(1 + len);
    if (type === "X") {
      st.terminated++;
      s.end();
      return;
    }
    if (type !== "Q") continue;
    if (/^begin/i.test(text)) s.data.inTx = true;
    if (/^commit/i.test(text)) s.data.inTx = false;
    s.write(commandDone(`${name}:${text}`, s.data.inTx ? "T" : "I"));
  }
}

/** A PostgreSQL client speaking through the proxy: tracks what it got and whether it closed. */
async function pg(port: number, o: { ssl?: boolean; startup?: boolean } = {}) {
  const st = { got: new Uint8Array(0) as Uint8Array, closed: false, wire: new PgStreamTracker() };
  const s: Socket<undefined> = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      binaryType: "uint8array",
      data: (_s, d) => {
        st.got = concat(st.got, d);
        st.wire.server(d);
      },
      close: () => void (st.closed = true),
    },
  });
  const send = (b: Uint8Array) => {
    st.wire.client(b);
    s.write(b);
  };
  if (o.ssl) send(sslRequest());
  else if (o.startup !== false) send(startupMessage());
  const text = () => new TextDecoder().decode(st.got);
  return { s, st, send, text, q: (sql: string) => send(query(sql)) };
}

async function until(f: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`condition not reached: ${f.toString()}`);
    await Bun.sleep(5);
  }
}

const owned: { stop(): void }[] = [];
afterAll(() => {
  for (const o of owned) o.stop();
});
function setup(o: Partial<ForwarderOptions> & { server?: Parameters<typeof fakeServer>[1] } = {}) {
  const a = fakeServer("a", o.server);
  const b = fakeServer("b");
  const drainedIds: string[] = [];
  const f = new Forwarder({ hostname: "127.0.0.1", port: freePort(), holdMs: 2000, keepAliveIdleMs: 0, log: createLogger("error"), onDrained: (id) => drainedIds.push(id), ...o });
  f.listen();
  f.setTarget({ dbUid: "da", host: "127.0.0.1", port: a.port });
  owned.push({ stop: () => (f.stopListening(), f.cutAll(), a.stop(true), b.stop(true)) });
  const port = (f as unknown as { o: ForwarderOptions }).o.port;
  return { f, a, b, port, drainedIds, toB: () => f.setTarget({ dbUid: "db", host: "127.0.0.1", port: b.port }) };
}
const HOLD = { id: "sw1", drainLeftMs: 2000, holdMs: 5000 };

test("a quiet idle connection is closed (Terminate to the server); the drain is over; a new client is held, then goes to the new master", async () => {
  const { f, a, port, drainedIds, toB } = setup();
  const c = await pg(port);
  await until(() => c.st.wire.idle);
  f.setHold(HOLD);
  await until(() => c.st.closed);
  expect([f.drained, f.drainCut, f.drainedHoldId, drainedIds]).toEqual([1, 0, "sw1", ["sw1"]]);
  await until(() => a.st.terminated === 1);
  // New clients wait while the old master is still routed.
  const n = await pg(port);
  await Bun.sleep(100);
  expect([f.heldCount, n.st.got.byteLength, a.st.sessions]).toEqual([1, 0, 1]);
  // The master changes (held clients still wait), then the hold is cleared: they go to it.
  toB();
  await Bun.sleep(50);
  expect(f.heldCount).toBe(1);
  f.setHold(null);
  await until(() => n.st.wire.idle);
  n.q("select 1");
  await until(() => n.text().includes("b:select 1"));
  expect([f.holdId, f.drainedHoldId]).toEqual([null, null]);
});

test("a client idle at the hold that sends its next query at once is closed with that query's answer, not before", async () => {
  const { f, port } = setup();
  const c = await pg(port);
  await until(() => c.st.wire.idle);
  f.setHold(HOLD);
  c.q("select 3");
  await until(() => c.st.closed);
  expect(c.text()).toContain("a:select 3");
  expect(c.st.wire.idle).toBe(true);
  expect(f.drained).toBe(1);
});

test("a connection in a transaction is closed right after it commits, the answer delivered", async () => {
  const { f, port } = setup();
  const c = await pg(port);
  await until(() => c.st.wire.idle);
  c.q("BEGIN");
  await until(() => c.text().includes("a:BEGIN"));
  f.setHold(HOLD);
  c.q("insert 1");
  await until(() => c.text().includes("a:insert 1"));
  expect([c.st.closed, f.drainedHoldId]).toEqual([false, null]);
  c.q("COMMIT");
  await until(() => c.st.closed);
  expect(c.text()).toContain("a:COMMIT");
  expect(c.st.wire.idle).toBe(true); // the client got the whole answer, ReadyForQuery included
  expect([f.drained, f.drainCut, f.drainedHoldId]).toEqual([1, 0, "sw1"]);
});

test("a connection still in its startup is closed after its first query, not right after the startup", async () => {
  const { f, port } = setup({ server: { startupDelayMs: 150 } });
  const c = await pg(port);
  await Bun.sleep(30);
  f.setHold(HOLD);
  await until(() => c.st.wire.idle);
  await Bun.sleep(50);
  expect(c.st.closed).toBe(false);
  c.q("select 1");
  await until(() => c.st.closed);
  expect(c.text()).toContain("a:select 1");
  expect(f.drained).toBe(1);
});

test("a transaction still open at the end of the drain time is cut; the drain is then over", async () => {
  const { f, port, drainedIds } = setup();
  const c = await pg(port);
  await until(() => c.st.wire.idle);
  c.q("BEGIN");
  await until(() => c.text().includes("a:BEGIN"));
  const t0 = performance.now();
  f.setHold({ ...HOLD, drainLeftMs: 300 });
  await until(() => c.st.closed);
  expect(performance.now() - t0).toBeGreaterThan(250);
  expect([f.drained, f.drainCut, f.drainedHoldId, drainedIds]).toEqual([0, 1, "sw1", ["sw1"]]);
});

test("an encrypted (SSL accepted) connection is not read: waited for until it closes", async () => {
  const { f, port } = setup({ server: { sslAnswer: "S" } });
  const c = await pg(port, { ssl: true });
  await until(() => c.st.got.byteLength === 1);
  f.setHold(HOLD);
  await Bun.sleep(150);
  expect([c.st.closed, f.drainingCount]).toEqual([false, 1]);
  c.s.end();
  await until(() => f.drainedHoldId === "sw1");
  expect([f.drained, f.drainCut]).toEqual([0, 0]);
});

test("an SSLRequest the server declines leaves the connection readable: closed when idle", async () => {
  const { f, port } = setup();
  const c = await pg(port, { ssl: true });
  await until(() => c.st.got.byteLength === 1);
  c.st.got = new Uint8Array(0);
  c.send(startupMessage());
  await until(() => c.st.got.byteLength > 0 && new TextDecoder().decode(c.st.got).includes("client_encoding"));
  await Bun.sleep(20);
  f.setHold(HOLD);
  await until(() => c.st.closed);
  expect(f.drained).toBe(1);
});

test("with no connection the drain is over at once; the same hold again changes nothing", async () => {
  const { f, drainedIds } = setup();
  f.setHold(HOLD);
  expect([f.drainedHoldId, drainedIds]).toEqual(["sw1", ["sw1"]]);
  f.setHold(HOLD);
  expect(drainedIds).toEqual(["sw1"]);
});

test("a rollback: the hold cleared with the old master routed sends held clients to it", async () => {
  const { f, port } = setup();
  f.setHold(HOLD);
  const n = await pg(port);
  await Bun.sleep(50);
  expect(f.heldCount).toBe(1);
  f.setHold(null);
  await until(() => n.st.wire.idle);
  n.q("select 2");
  await until(() => n.text().includes("a:select 2"));
});

test("a client held past the hold's hold time gets 57P03 naming the switchover", async () => {
  const { f, port } = setup({ holdMs: 100 });
  f.setHold({ ...HOLD, holdMs: 400 });
  const t0 = performance.now();
  const n = await pg(port);
  await until(() => n.st.closed);
  // The hold's hold time (longer than --hold-timeout) applies.
  expect(performance.now() - t0).toBeGreaterThan(350);
  const e = parseErrorResponse(n.st.got);
  expect(e.fields.C).toBe("57P03");
  expect(e.fields.M).toMatch(/switchover sw1 did not end within the hold time \(400 ms\)/);
});

test("a new hold id starts a new drain", async () => {
  const { f, port, drainedIds, toB } = setup();
  f.setHold(HOLD);
  toB();
  f.setHold(null);
  const c = await pg(port);
  await until(() => c.st.wire.idle);
  f.setHold({ ...HOLD, id: "sw2" });
  await until(() => c.st.closed);
  expect(drainedIds).toEqual(["sw1", "sw2"]);
  expect(msg("Z", "I").byteLength).toBe(6);
});

test("a rollback ends the drain: a connection still in its transaction then is not closed after it", async () => {
  const { f, port } = setup();
  const c = await pg(port);
  await until(() => c.st.wire.idle);
  c.q("BEGIN");
  await until(() => c.text().includes("a:BEGIN"));
  f.setHold(HOLD);
  f.setHold(null);
  c.q("COMMIT");
  await until(() => c.text().includes("a:COMMIT"));
  c.q("select 4");
  await until(() => c.text().includes("a:select 4"));
  expect([c.st.closed, f.drained, f.drainingCount]).toEqual([false, 0, 0]);
});

test("during a hold only --max-connections bounds the held clients, not --max-held-connections", async () => {
  const { f, port } = setup({ maxHeld: 1, maxConnections: 3 });
  f.setHold(HOLD);
  const clients = await Promise.all([pg(port), pg(port), pg(port)]);
  await until(() => f.heldCount === 3);
  // The fourth is past --max-connections: 53300.
  const fourth = await pg(port);
  await until(() => fourth.st.closed);
  expect(parseErrorResponse(fourth.st.got).fields.C).toBe("53300");
  expect(clients.map((c) => c.st.closed)).toEqual([false, false, false]);
});
