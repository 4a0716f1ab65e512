/**
 * The Forwarder with a set of targets (the read-only port's standbys), with real loopback sockets
 * and echo backends (no PostgreSQL): new clients spread over the targets by least connections,
 * equal counts taking turns; a target that leaves the set has only its own connections cut,
 * `keep` keeps them; held clients are released to the set; a refused connection is tried again
 * on a target chosen again; setTarget keeps its one-target meaning; and the read-only port's
 * refusals say "no standby available for read-only connections" with SQLSTATE 57P03.
 */
import { afterAll, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import type { ProxyTarget } from "../../../src/cluster/proxy-target.ts";
import { createLogger } from "../../../src/lib/log.ts";
import { Forwarder, type ForwarderOptions } from "../../../src/proxy/forwarder.ts";
import { freePort, waitFor } from "../../harness/util.ts";
import { parseErrorResponse, startupMessage } from "./pg-packets.ts";

/** A backend that answers every chunk with "<name>:<chunk>". */
function backend(name: string): TCPSocketListener<undefined> {
  return Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, d) => void s.write(`${name}:${d.toString()}`) } });
}

const backends = { a: backend("a"), b: backend("b"), c: backend("c") };
const target = (name: keyof typeof backends): ProxyTarget => ({ dbUid: name, host: "127.0.0.1", port: backends[name].port });
const A = target("a");
const B = target("b");
const C = target("c");

const owned: Forwarder[] = [];
const clients: Socket<undefined>[] = [];
afterAll(() => {
  for (const s of clients) s.terminate();
  for (const f of owned) {
    f.stopListening();
    f.cutAll();
  }
  for (const b of Object.values(backends)) b.stop(true);
});

/** A Forwarder of its own on a free port, stopped after the tests. */
function forwarder(o: Partial<ForwarderOptions> = {}): Forwarder & { port: number } {
  const port = freePort();
  const f = new Forwarder({ hostname: "127.0.0.1", port, holdMs: 2000, keepAliveIdleMs: 0, log: createLogger("error"), ...o });
  f.listen();
  owned.push(f);
  return Object.assign(f, { port });
}

/** A client of `f` that collects what it receives and records when the connection closed. */
async function client(f: { port: number }) {
  const st = { got: "", closed: false };
  const s: Socket<undefined> = await Bun.connect({
    hostname: "127.0.0.1",
    port: f.port,
    socket: { data: (_s, d) => void (st.got += d.toString()), close: () => void (st.closed = true) },
  });
  clients.push(s);
  return { s, st };
}
type Client = Awaited<ReturnType<typeof client>>;

/** Which backend `c` is forwarded to: it sends `word` and reads the echo's prefix. */
async function servedBy(c: Client, word = "ping"): Promise<string> {
  const before = c.st.got.length;
  c.s.write(word);
  const got = await waitFor(`an echo of ${word}`, () => c.st.got.length >= before + word.length + 2 && c.st.got.slice(before), 2000, 5);
  return got.slice(0, got.indexOf(":"));
}

/** Opens `n` clients one after the other, each forwarded before the next (so counts are settled), and says where each went. */
async function openClients(f: Forwarder & { port: number }, n: number): Promise<{ cs: Client[]; where: string[] }> {
  const cs: Client[] = [];
  const where: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = await client(f);
    cs.push(c);
    where.push(await servedBy(c));
  }
  return { cs, where };
}

const counts = (f: Forwarder) => Object.fromEntries(f.connectionsByTarget());

async function closeAll(f: Forwarder, cs: Client[]): Promise<void> {
  for (const c of cs) c.s.end();
  await waitFor("every client gone", () => f.connectionCount === 0, 2000, 5);
}

test("four clients over two targets: two each, alternating, and counted per target", async () => {
  const f = forwarder();
  expect(f.setTargets([A, B])).toBe(true);
  expect([f.targets, f.currentTarget, f.targetChanges]).toEqual([[A, B], A, 1]);
  const { cs, where } = await openClients(f, 4);
  expect(where).toEqual(["a", "b", "a", "b"]);
  expect(counts(f)).toEqual({ a: 2, b: 2 });
  await closeAll(f, cs);
  expect(counts(f)).toEqual({ a: 0, b: 0 });
});

test("least connections: once a target's clients have closed, the next clients go to it", async () => {
  const f = forwarder();
  f.setTargets([A, B]);
  const { cs } = await openClients(f, 4);
  const onA = cs.filter((_, i) => i % 2 === 0);
  for (const c of onA) c.s.end();
  await waitFor("a's clients gone", () => counts(f).a === 0, 2000, 5);
  expect(counts(f)).toEqual({ a: 0, b: 2 });
  const next = await openClients(f, 2);
  expect(next.where).toEqual(["a", "a"]);
  expect(counts(f)).toEqual({ a: 2, b: 2 });
  await closeAll(f, [...cs, ...next.cs]);
});

test("equal counts take turns: short connections one after the other alternate over the targets", async () => {
  const f = forwarder();
  f.setTargets([A, B, C]);
  const where: string[] = [];
  for (let i = 0; i < 6; i++) {
    const { cs, where: w } = await openClients(f, 1);
    where.push(...w);
    await closeAll(f, cs);
  }
  expect(where).toEqual(["a", "b", "c", "a", "b", "c"]);
});

test("a target that leaves the set has its connections cut, and only those; new clients go to the rest", async () => {
  const f = forwarder();
  f.setTargets([A, B]);
  const { cs } = await openClients(f, 4);
  const cut0 = f.cut;
  expect(f.setTargets([A])).toBe(true);
  expect([f.cut - cut0, f.targetChanges]).toEqual([2, 2]);
  await waitFor("b's clients closed", () => cs[1]!.st.closed && cs[3]!.st.closed, 2000, 5);
  expect(counts(f)).toEqual({ a: 2 });
  // a's connections are untouched and still forward.
  expect([await servedBy(cs[0]!, "again"), await servedBy(cs[2]!, "again"), cs[0]!.st.closed, cs[2]!.st.closed]).toEqual(["a", "a", false, false]);
  const next = await openClients(f, 2);
  expect(next.where).toEqual(["a", "a"]);
  await closeAll(f, [cs[0]!, cs[2]!, ...next.cs]);
});

test("keep keeps: a target out of pick but in keep keeps its connections and gets no new ones, until it leaves keep too", async () => {
  const f = forwarder();
  f.setTargets([A, B]);
  const { cs } = await openClients(f, 2);
  expect(f.setTargets([A], [A, B])).toBe(true);
  expect(f.targets).toEqual([A]);
  const next = await openClients(f, 2);
  expect(next.where).toEqual(["a", "a"]);
  expect([await servedBy(cs[1]!, "still"), cs[1]!.st.closed, counts(f)]).toEqual(["b", false, { a: 3, b: 1 }]);
  // The same sets again change nothing; keep alone changing is a change, but not of the target.
  expect(f.setTargets([A], [A, B])).toBe(false);
  const changes = f.targetChanges;
  expect(f.setTargets([A])).toBe(true);
  expect(f.targetChanges).toBe(changes);
  await waitFor("b's client closed", () => cs[1]!.st.closed, 2000, 5);
  expect([cs[0]!.st.closed, counts(f)]).toEqual([false, { a: 3 }]);
  await closeAll(f, [cs[0]!, ...next.cs]);
});

test("held clients are released to the set when it appears, spread over it", async () => {
  const f = forwarder();
  const cs = [await client(f), await client(f), await client(f), await client(f)];
  await waitFor("four held clients", () => f.heldCount === 4, 2000, 5);
  expect([f.currentTarget, f.targets, counts(f)]).toEqual([null, [], {}]);
  f.setTargets([A, B]);
  const where = await Promise.all(cs.map((c) => servedBy(c)));
  expect(where.sort()).toEqual(["a", "a", "b", "b"]);
  expect([f.heldCount, counts(f)]).toEqual([0, { a: 2, b: 2 }]);
  await closeAll(f, cs);
});

test("a target that refuses the connection: the client is tried again on a target chosen again, and is served there", async () => {
  const f = forwarder();
  const dead: ProxyTarget = { dbUid: "dead", host: "127.0.0.1", port: freePort() };
  f.setTargets([dead, A]);
  // The first client goes to `dead` (both at 0, its turn), is refused, waits, then goes to a.
  const c = await client(f);
  expect(await servedBy(c)).toBe("a");
  expect(counts(f)).toEqual({ dead: 0, a: 1 });
  await closeAll(f, [c]);
});

test("setTarget keeps its meaning: the same target is no change; another one, another address or none cuts every connection", async () => {
  const f = forwarder();
  expect(f.setTarget(A)).toBe(true);
  const { cs } = await openClients(f, 2);
  expect(f.setTarget({ ...A })).toBe(false);
  expect(f.setTargets([A])).toBe(false);
  expect([f.targetChanges, f.cut, cs.some((c) => c.st.closed)]).toEqual([1, 0, false]);
  // The same db at another address is another target.
  expect(f.setTarget({ ...A, port: B.port })).toBe(true);
  await waitFor("both clients cut", () => cs.every((c) => c.st.closed), 2000, 5);
  const onB = await openClients(f, 1);
  expect([onB.where, counts(f)]).toEqual([["b"], { a: 1 }]);
  expect(f.setTarget(null)).toBe(true);
  expect([f.currentTarget, f.targets, counts(f), f.targetChanges, f.cut]).toEqual([null, [], {}, 3, 3]);
  await waitFor("the client cut", () => onB.cs[0]!.st.closed, 2000, 5);
});

/** A PostgreSQL client's startup; resolves with the proxy's ErrorResponse once it closed the connection. */
async function refusal(port: number) {
  const st = { got: new Uint8Array(0) as Uint8Array };
  const closed = Promise.withResolvers<void>();
  await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      binaryType: "uint8array",
      open: (s) => void s.write(startupMessage()),
      data: (_s, d) => void (st.got = new Uint8Array([...st.got, ...d])),
      close: () => closed.resolve(),
    },
  });
  await closed.promise;
  return parseErrorResponse(st.got).fields;
}

test.each([
  ["the hold time runs out", { holdMs: 150 }, "no standby available for read-only connections: none within the hold time (stolon-proxy --hold-timeout 150 ms)"],
  ["nobody may wait", { maxHeld: 0 }, "no standby available for read-only connections: none eligible, and nobody waits for one (stolon-proxy --read-only-fallback refuse or --max-held-connections 0)"],
] as const)("the read-only port's refusal when %s: 57P03, naming a standby", async (_, o, message) => {
  const f = forwarder({ role: "read-only", ...o });
  expect(await refusal(f.port)).toMatchObject({ S: "FATAL", C: "57P03", M: message });
});

test("the read-only port's refusal when its standby refuses connections for the whole hold time", async () => {
  const f = forwarder({ role: "read-only", holdMs: 300 });
  f.setTargets([{ dbUid: "dead", host: "127.0.0.1", port: freePort() }]);
  expect(await refusal(f.port)).toMatchObject({
    C: "57P03",
    M: "no standby available for read-only connections: the standby refuses connections (tried for stolon-proxy --hold-timeout 300 ms)",
  });
});

test("the read-only port's refusal past --max-held-connections names a standby", async () => {
  const f = forwarder({ role: "read-only", maxHeld: 1 });
  const held = await client(f);
  await waitFor("one held client", () => f.heldCount === 1, 2000, 5);
  expect(await refusal(f.port)).toMatchObject({ C: "53300", M: "sorry, too many clients already waiting for an eligible standby (stolon-proxy --max-held-connections 1)" });
  held.s.end();
});
