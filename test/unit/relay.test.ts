/**
 * bench/relay.ts: forwards both ways (with backpressure: a payload far larger than the socket
 * buffers comes back whole); partition() silences established and new connections without closing
 * any; heal() ends the ones held and forwards new ones again.
 */
import { afterAll, expect, test } from "bun:test";
import type { Socket } from "bun";
import { Relay } from "../../bench/relay.ts";

const echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, b) => void s.write(b) } });
const relay = new Relay({ port: 0, targetPort: echo.port });
relay.listen();
afterAll(() => {
  relay.close();
  echo.stop(true);
});

interface Client {
  sock: Socket<undefined>;
  got: () => string;
  closed: () => boolean;
}

async function connect(): Promise<Client> {
  let got = "";
  let closed = false;
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port: relay.port,
    socket: { data: (_s, b) => void (got += b.toString()), close: () => void (closed = true) },
  });
  return { sock, got: () => got, closed: () => closed };
}

async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!cond() && performance.now() < deadline) await Bun.sleep(10);
  return cond();
}

test("forwards both ways, a payload larger than the socket buffers included", async () => {
  const c = await connect();
  const big = "x".repeat(4_000_000);
  let off = 0;
  while (off < big.length) {
    off += Math.max(c.sock.write(big.slice(off)), 0);
    await Bun.sleep(1);
  }
  expect(await until(() => c.got().length === big.length, 10_000)).toBe(true);
  c.sock.end();
});

test("a partition silences every connection without closing it; heal ends those and forwards new ones", async () => {
  const before = await connect();
  before.sock.write("a");
  expect(await until(() => before.got() === "a")).toBe(true);
  relay.partition();
  before.sock.write("b");
  const during = await connect();
  during.sock.write("c");
  await Bun.sleep(300);
  expect([before.got(), before.closed(), during.got(), during.closed()]).toEqual(["a", false, "", false]);
  relay.heal();
  expect(await until(() => before.closed() && during.closed())).toBe(true);
  expect([before.got(), during.got()]).toEqual(["a", ""]);
  const after = await connect();
  after.sock.write("d");
  expect(await until(() => after.got() === "d")).toBe(true);
  after.sock.end();
});
