/**
 * The Forwarder with real loopback sockets (no PostgreSQL): bytes both ways, half-close passed on,
 * a target change cutting connections, a held client connected when a target appears, a refusing
 * target tried again within the hold time.
 */
import { afterAll, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { createLogger } from "../../../src/lib/log.ts";
import { Forwarder } from "../../../src/proxy/forwarder.ts";

function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

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

test("a target change cuts every connection; new ones reach the new target", async () => {
  fw.setTarget({ dbUid: "d1", host: "127.0.0.1", port: b1.port });
  const a = await client();
  a.s.write("x");
  await until(() => a.st.got === "b1:x");
  expect(fw.setTarget({ dbUid: "d2", host: "127.0.0.1", port: b2.port })).toBe(true);
  await until(() => a.st.closed);
  const b = await client();
  b.s.write("y");
  await until(() => b.st.got === "b2:y");
  b.s.end();
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

test("a held client is closed after the hold time", async () => {
  const short = new Forwarder({ hostname: "127.0.0.1", port: freePort(), holdMs: 100, keepAliveIdleMs: 0, log: createLogger("error") });
  short.listen();
  const st = { closed: false };
  await Bun.connect({ hostname: "127.0.0.1", port: (short as unknown as { o: { port: number } }).o.port, socket: { data() {}, close: () => void (st.closed = true) } });
  await until(() => st.closed, 1000);
  short.stopListening();
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

test("a target that keeps refusing: the client is closed when its hold time is over", async () => {
  const short = new Forwarder({ hostname: "127.0.0.1", port: freePort(), holdMs: 300, keepAliveIdleMs: 0, log: createLogger("error") });
  short.listen();
  short.setTarget({ dbUid: "d4", host: "127.0.0.1", port: freePort() });
  const st = { closed: false };
  const t0 = performance.now();
  await Bun.connect({ hostname: "127.0.0.1", port: (short as unknown as { o: { port: number } }).o.port, socket: { data() {}, close: () => void (st.closed = true) } });
  await until(() => st.closed, 2000);
  expect(performance.now() - t0).toBeGreaterThan(150);
  short.stopListening();
});
