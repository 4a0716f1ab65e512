/**
 * The Forwarder with real loopback sockets (no PostgreSQL): bytes both ways, half-close passed on,
 * a target change cutting connections, a held client connected when a target appears, a refusing
 * target tried again within the hold time; and under pressure, clients refused with a
 * PostgreSQL ErrorResponse (53300, 57P03) after their startup message, within bounded time.
 */
import { afterAll, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { createLogger } from "../../../src/lib/log.ts";
import { Forwarder, type ForwarderOptions } from "../../../src/proxy/forwarder.ts";
import { concat, gssRequest, parseErrorResponse, sslRequest, startupMessage, type ParsedError } from "./pg-packets.ts";
import { freePort } from "../../harness/util.ts";

/** A backend that answers every chunk with "<name>:<chunk>" and, on FIN, says "bye" and ends. */
function backend(name: string): TCPSocketListener<undefined> {
  return Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      data: (s, d) => void s.write(`${name}:${d.toString()}`),
      end: (s) => {
        s.write("bye");
        s.end();
      },
    },
  });
}

const b1 = backend("b1");
const b2 = backend("b2");
const port = freePort();
const fw = new Forwarder({ hostname: "127.0.0.1", port, holdMs: 2000, keepAliveIdleMs: 0, log: createLogger("error") });
fw.listen();
afterAll(() => {
  fw.stopListening();
  fw.cutAll();
  b1.stop(true);
  b2.stop(true);
});

/** A client that collects what it receives and records when the connection closed. */
async function client() {
  const st = { got: "", closed: false, ended: false };
  const s: Socket<undefined> = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      data: (_s, d) => void (st.got += d.toString()),
      end: () => void (st.ended = true),
      close: () => void (st.closed = true),
    },
  });
  return { s, st };
}

async function until(f: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`condition not reached: ${f.toString()}`);
    await Bun.sleep(5);
  }
}

test("bytes go both ways; the client's FIN reaches the backend, whose last words still reach the client", async () => {
  fw.setTarget({ dbUid: "d1", host: "127.0.0.1", port: b1.port });
  const { s, st } = await client();
  s.write("hello");
  await until(() => st.got === "b1:hello");
  s.shutdown();
  // Everything the backend said arrives, then the connection ends.
  await until(() => st.got === "b1:hellobye" && (st.ended || st.closed));
  await until(() => fw.connectionCount === 0);
});

/** The counters the proxy's metrics read. */
const counters = (f: Forwarder) => ({
  accepted: f.accepted,
  cut: f.cut,
  refused: f.refused,
  clientToServerBytes: f.clientToServerBytes,
  serverToClientBytes: f.serverToClientBytes,
  targetChanges: f.targetChanges,
});

test("a target change cuts every connection; new ones reach the new target; each is counted", async () => {
  fw.setTarget({ dbUid: "d1", host: "127.0.0.1", port: b1.port });
  const before = counters(fw);
  const a = await client();
  a.s.write("x");
  await until(() => a.st.got === "b1:x");
  expect(fw.setTarget({ dbUid: "d2", host: "127.0.0.1", port: b2.port })).toBe(true);
  await until(() => a.st.closed);
  const b = await client();
  b.s.write("yz");
  await until(() => b.st.got === "b2:yz");
  b.s.end();
  const after = counters(fw);
  expect({
    accepted: after.accepted - before.accepted,
    cut: after.cut - before.cut,
    refused: after.refused - before.refused,
    clientToServerBytes: after.clientToServerBytes - before.clientToServerBytes,
    serverToClientBytes: after.serverToClientBytes - before.serverToClientBytes,
    targetChanges: after.targetChanges - before.targetChanges,
  }).toEqual({ accepted: 2, cut: 1, refused: 0, clientToServerBytes: 3, serverToClientBytes: 9, targetChanges: 1 });
});

test("with no target a client is held, then connected when a target appears (early bytes kept)", async () => {
  fw.setTarget(null);
  const c = await client();
  c.s.write("early");
  await Bun.sleep(100);
  expect(fw.heldCount).toBe(1);
  fw.setTarget({ dbUid: "d1", host: "127.0.0.1", port: b1.port });
  await until(() => c.st.got === "b1:early");
  c.s.end();
});

test("a target that refuses connections is tried again within the hold time: the client is served once it listens", async () => {
  const later = freePort();
  fw.setTarget({ dbUid: "d3", host: "127.0.0.1", port: later });
  const c = await client();
  c.s.write("early");
  await Bun.sleep(350); // several refused attempts
  expect(c.st.closed).toBe(false);
  const b3 = Bun.listen({ hostname: "127.0.0.1", port: later, socket: { data: (s, d) => void s.write(`b3:${d.toString()}`) } });
  try {
    await until(() => c.st.got === "b3:early");
  } finally {
    c.s.end();
    b3.stop(true);
  }
});

/** A Forwarder of its own on a free port, stopped after the test. */
const owned: Forwarder[] = [];
afterAll(() => {
  for (const f of owned) {
    f.stopListening();
    f.cutAll();
  }
});
function forwarder(o: Partial<ForwarderOptions> = {}): Forwarder & { port: number } {
  const f = new Forwarder({ hostname: "127.0.0.1", port: freePort(), holdMs: 2000, keepAliveIdleMs: 0, log: createLogger("error"), ...o });
  f.listen();
  owned.push(f);
  return Object.assign(f, { port: (f as unknown as { o: ForwarderOptions }).o.port });
}

/**
 * A PostgreSQL client as far as the startup: with `ssl`, an SSLRequest first, and the startup
 * message once the one-byte answer is in (libpq with sslmode=prefer); without, `send` as is.
 * Resolves when the proxy closes the connection, with what it said.
 */
function pgClient(port: number, o: { ssl?: boolean; send?: Uint8Array } = {}) {
  const st = { got: new Uint8Array(0) as Uint8Array, answered: "", closed: false };
  const closed = Promise.withResolvers<void>();
  const socket = Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      binaryType: "uint8array",
      open: (s) => void s.write(o.send ?? (o.ssl ? sslRequest() : startupMessage())),
      data: (s, d) => {
        let rest: Uint8Array = d;
        if (o.ssl && st.answered === "") {
          st.answered = String.fromCharCode(d[0]!);
          rest = d.subarray(1);
          if (st.answered === "N") s.write(startupMessage());
        }
        st.got = concat(st.got, rest);
      },
      close: () => {
        st.closed = true;
        closed.resolve();
      },
    },
  });
  return {
    st,
    socket,
    /** The ErrorResponse, once the proxy closed the connection. */
    error: async (): Promise<ParsedError | null> => {
      await closed.promise;
      return st.got.byteLength > 0 ? parseErrorResponse(st.got) : null;
    },
  };
}

test("a held client that sees no master within the hold time gets 57P03 after its SSLRequest is answered N", async () => {
  const f = forwarder({ holdMs: 200 });
  const t0 = performance.now();
  const c = pgClient(f.port, { ssl: true });
  const e = await c.error();
  expect(performance.now() - t0).toBeGreaterThan(150);
  expect(c.st.answered).toBe("N");
  expect(e?.fields).toMatchObject({ S: "FATAL", C: "57P03" });
  expect(e?.fields.M).toMatch(/^no master available: none within the hold time/);
  await until(() => f.connectionCount + f.heldCount + f.refusingCount === 0);
});

test("a target that keeps refusing: the client gets 57P03 when its hold time is over", async () => {
  const f = forwarder({ holdMs: 300 });
  f.setTarget({ dbUid: "d4", host: "127.0.0.1", port: freePort() });
  const t0 = performance.now();
  const e = await pgClient(f.port).error();
  expect(performance.now() - t0).toBeGreaterThan(150);
  expect(e?.fields).toMatchObject({ C: "57P03", M: expect.stringContaining("the master refuses connections") });
});

test("past --max-connections a client gets 53300 while the forwarded ones keep working", async () => {
  const f = forwarder({ maxConnections: 2 });
  f.setTarget({ dbUid: "d1", host: "127.0.0.1", port: b1.port });
  const port = f.port;
  const open = async () => {
    const st = { got: "" };
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, d) => void (st.got += d.toString()) } });
    return { s, st };
  };
  const [a, b] = [await open(), await open()];
  a.s.write("a");
  b.s.write("b");
  await until(() => a.st.got === "b1:a" && b.st.got === "b1:b");
  const third = await pgClient(port, { ssl: true }).error();
  expect(third?.fields).toMatchObject({ S: "FATAL", C: "53300", M: "sorry, too many clients already (stolon-proxy --max-connections 2)" });
  a.s.write("again");
  await until(() => a.st.got === "b1:ab1:again");
  // A slot that frees up is taken by the next client.
  b.s.end();
  await until(() => f.connectionCount === 1);
  const c = await open();
  c.s.write("c");
  await until(() => c.st.got === "b1:c");
  a.s.end();
  c.s.end();
});

test("past --max-held-connections a client gets 53300 at once; the held one still gets its master", async () => {
  const f = forwarder({ maxHeld: 1, holdMs: 5000 });
  const held = await Bun.connect({ hostname: "127.0.0.1", port: f.port, socket: { data() {} } });
  await until(() => f.heldCount === 1);
  const t0 = performance.now();
  const e = await pgClient(f.port, { ssl: true }).error();
  expect(performance.now() - t0).toBeLessThan(1000);
  expect(e?.fields).toMatchObject({ C: "53300", M: "sorry, too many clients already waiting for a master (stolon-proxy --max-held-connections 1)" });
  expect(f.heldCount).toBe(1);
  held.end();
});

test("--max-held-connections 0: nobody waits, a client gets 57P03 at once (counted as refused, not forwarded bytes)", async () => {
  const f = forwarder({ maxHeld: 0, holdMs: 5000 });
  const e = await pgClient(f.port).error();
  expect(e?.fields).toMatchObject({ C: "57P03", M: expect.stringContaining("--max-held-connections 0") });
  expect(counters(f)).toEqual({ accepted: 1, cut: 0, refused: 1, clientToServerBytes: 0, serverToClientBytes: 0, targetChanges: 0 });
});

test("a refused client's packets may come in any pieces: GSSENC, SSL, then the startup one byte at a time", async () => {
  const f = forwarder({ maxConnections: 1 });
  const blocker = await Bun.connect({ hostname: "127.0.0.1", port: f.port, socket: { data() {} } });
  await until(() => f.heldCount === 1);
  const st = { got: new Uint8Array(0) as Uint8Array, closed: false };
  const s = await Bun.connect({
    hostname: "127.0.0.1",
    port: f.port,
    socket: { binaryType: "uint8array", data: (_s, d) => void (st.got = concat(st.got, d)), close: () => void (st.closed = true) },
  });
  s.write(gssRequest());
  await until(() => st.got.byteLength === 1);
  s.write(sslRequest());
  await until(() => st.got.byteLength === 2);
  expect(new TextDecoder().decode(st.got)).toBe("NN");
  for (const byte of startupMessage()) {
    s.write(new Uint8Array([byte]));
    await Bun.sleep(1);
  }
  await until(() => st.closed);
  expect(parseErrorResponse(st.got.subarray(2)).fields.C).toBe("53300");
  blocker.end();
});

test("refused clients that send garbage, a CancelRequest or nothing are closed without a word, the silent one after the refusal time", async () => {
  const f = forwarder({ maxConnections: 1, refusalMs: 300 });
  const blocker = await Bun.connect({ hostname: "127.0.0.1", port: f.port, socket: { data() {} } });
  await until(() => f.heldCount === 1);
  const garbage = pgClient(f.port, { send: new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n") });
  expect(await garbage.error()).toBeNull();
  const cancel = pgClient(f.port, { send: concat(new Uint8Array([0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e]), new Uint8Array(8)) });
  expect(await cancel.error()).toBeNull();
  const t0 = performance.now();
  const silent = pgClient(f.port, { send: new Uint8Array(0) });
  await until(() => f.refusingCount === 1);
  expect(await silent.error()).toBeNull();
  expect(performance.now() - t0).toBeGreaterThan(250);
  expect(f.refusingCount).toBe(0);
  blocker.end();
});

test("a refused client that trickles its startup message is dropped when the refusal time is over, however it keeps sending", async () => {
  const f = forwarder({ maxConnections: 1, refusalMs: 300 });
  const blocker = await Bun.connect({ hostname: "127.0.0.1", port: f.port, socket: { data() {} } });
  await until(() => f.heldCount === 1);
  const c = pgClient(f.port, { send: new Uint8Array(0) });
  const s = await c.socket;
  const t0 = performance.now();
  const bytes = startupMessage();
  void (async () => {
    for (const byte of bytes) {
      if (c.st.closed) return;
      s.write(new Uint8Array([byte]));
      await Bun.sleep(50);
    }
  })();
  expect(await c.error()).toBeNull();
  const took = performance.now() - t0;
  expect(took).toBeGreaterThan(250);
  expect(took).toBeLessThan(bytes.byteLength * 50);
  blocker.end();
});

test("refusals in progress count against --max-connections, and are bounded: past the limit a client is closed at once", async () => {
  const f = forwarder({ maxConnections: 3, maxRefusing: 3, refusalMs: 5000, holdMs: 10_000 });
  const silent = () => pgClient(f.port, { send: new Uint8Array(0) });
  const blocker = await Bun.connect({ hostname: "127.0.0.1", port: f.port, socket: { data() {} } });
  const held = [silent(), silent()];
  await until(() => f.heldCount === 3);
  // The proxy is full: two clients that say nothing take refusal slots ...
  const refused = [silent(), silent()];
  await until(() => f.refusingCount === 2);
  // ... and they count: with a held client gone, 2 held + 2 refusing is still not under 3.
  blocker.end();
  await until(() => f.heldCount === 2);
  expect((await pgClient(f.port).error())?.fields.C).toBe("53300");
  // A third silent one fills the refusal slots: the next client is closed at once, without a word.
  refused.push(silent());
  await until(() => f.refusingCount === 3);
  const t0 = performance.now();
  expect(await pgClient(f.port).error()).toBeNull();
  expect(performance.now() - t0).toBeLessThan(1000);
  expect(f.refusingCount).toBe(3);
  for (const c of [...held, ...refused]) (await c.socket).end();
});
