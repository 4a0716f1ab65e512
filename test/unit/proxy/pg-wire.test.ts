/**
 * The proxy's bits of the PostgreSQL protocol: the ErrorResponse it refuses clients with, and the
 * reader of a client's first packets, fed in every possible split.
 */
import { describe, expect, test } from "bun:test";
import { errorResponse, MAX_STARTUP_PACKET_BYTES, SSL_REQUEST_CODE, StartupReader, type StartupStep } from "../../../src/proxy/pg-wire.ts";
import { cancelRequest, concat, gssRequest, packet, parseErrorResponse, sslRequest, startupMessage } from "./pg-packets.ts";

const startup = startupMessage;
const cancel = cancelRequest;

/** Feeds `bytes` in the given chunk sizes (the rest in one last chunk); returns every step. */
function feedIn(bytes: Uint8Array, sizes: number[]): StartupStep[] {
  const r = new StartupReader();
  const steps: StartupStep[] = [];
  let at = 0;
  for (const n of sizes) {
    steps.push(...r.feed(bytes.subarray(at, at + n)));
    at += n;
  }
  if (at < bytes.byteLength) steps.push(...r.feed(bytes.subarray(at)));
  return steps;
}

const kinds = (steps: StartupStep[]) => steps.map((s) => (s.kind === "answer-no" ? `N:${s.request}` : s.kind));

describe("StartupReader", () => {
  const cases: { name: string; bytes: Uint8Array; want: string[]; reason?: RegExp }[] = [
    { name: "a startup message", bytes: startup(), want: ["startup"] },
    { name: "SSLRequest, then a startup message", bytes: concat(sslRequest(), startup()), want: ["N:SSLRequest", "startup"] },
    { name: "GSSENCRequest, SSLRequest, then a startup message (libpq with gssencmode=prefer)", bytes: concat(gssRequest(), sslRequest(), startup()), want: ["N:GSSENCRequest", "N:SSLRequest", "startup"] },
    { name: "a CancelRequest", bytes: cancel(), want: ["close"], reason: /CancelRequest/ },
    { name: "a second SSLRequest", bytes: concat(sslRequest(), sslRequest()), want: ["N:SSLRequest", "close"], reason: /second SSLRequest/ },
    { name: "an SSLRequest with a wrong length", bytes: packet(SSL_REQUEST_CODE, new Uint8Array(4)), want: ["close"], reason: /length 12/ },
    { name: "protocol 2", bytes: packet(2 << 16, new Uint8Array(288)), want: ["close"], reason: /unsupported protocol 2\.0/ },
    { name: "garbage: an HTTP request", bytes: new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), want: ["close"], reason: /invalid startup packet length/ },
    { name: "a length under 8", bytes: packet(3 << 16, new Uint8Array(0), 4), want: ["close"], reason: /length 4/ },
    { name: "a negative length", bytes: packet(3 << 16, new Uint8Array(0), -1), want: ["close"], reason: /length -1/ },
    { name: "an oversized length", bytes: packet(3 << 16, new Uint8Array(16), MAX_STARTUP_PACKET_BYTES + 1), want: ["close"], reason: /length 10001/ },
    { name: "a startup message of exactly the maximum length", bytes: packet(3 << 16, new Uint8Array(MAX_STARTUP_PACKET_BYTES - 8)), want: ["startup"] },
  ];

  for (const c of cases) {
    test(`${c.name}: in one chunk, and split at every byte`, () => {
      const whole = feedIn(c.bytes, []);
      expect(kinds(whole)).toEqual(c.want);
      if (c.reason) expect((whole.at(-1) as { reason: string }).reason).toMatch(c.reason);
      // Every split point of a two-chunk delivery, and one byte at a time.
      const limit = Math.min(c.bytes.byteLength, 64);
      for (let cut = 1; cut < limit; cut++) expect(kinds(feedIn(c.bytes, [cut]))).toEqual(c.want);
      expect(kinds(feedIn(c.bytes, Array(Math.min(c.bytes.byteLength, 200)).fill(1)))).toEqual(c.want);
    });
  }

  test("a startup message that has not fully arrived: nothing yet, however long it takes", () => {
    const r = new StartupReader();
    const s = startup();
    expect(r.feed(s.subarray(0, s.byteLength - 1))).toEqual([]);
    expect(r.finished).toBe(false);
    expect(r.feed(s.subarray(s.byteLength - 1))).toEqual([{ kind: "startup" }]);
  });

  test("an oversized length is refused as soon as its four bytes are in, without waiting for the rest", () => {
    const r = new StartupReader();
    expect(kinds(r.feed(new Uint8Array([0x7f, 0xff, 0xff, 0xff])))).toEqual(["close"]);
  });

  test("after the startup message the reader is done: later bytes are ignored", () => {
    const r = new StartupReader();
    expect(kinds(r.feed(concat(startup(), startup(), sslRequest())))).toEqual(["startup"]);
    expect(r.finished).toBe(true);
    expect(r.feed(sslRequest())).toEqual([]);
  });

  test("the reader keeps its own copy of what it was fed (Bun reuses receive buffers)", () => {
    const r = new StartupReader();
    const s = startup();
    const first = s.slice(0, 10);
    r.feed(first);
    first.fill(0xff);
    expect(kinds(r.feed(s.subarray(10)))).toEqual(["startup"]);
  });
});

describe("errorResponse", () => {
  const parse = (b: Uint8Array) => {
    const p = parseErrorResponse(b);
    expect(p.trailing).toBe(0);
    return p;
  };

  test.each([
    ["53300", "sorry, too many clients already"],
    ["57P03", "no master available: none within the hold time (4000 ms)"],
    ["57P03", "non-ASCII: maître indisponible"],
  ])("%s %s: type E, a length that counts itself, fields S V C M", (code, message) => {
    const b = errorResponse({ code, message });
    const p = parse(b);
    expect(p).toEqual({ type: "E", len: b.byteLength - 1, fields: { S: "FATAL", V: "FATAL", C: code, M: message }, trailing: 0 });
  });

  test("a NUL in the message cannot end the field early", () => {
    expect(parse(errorResponse({ code: "53300", message: "a\0b" })).fields.M).toBe("a b");
  });

  test("a code that is not a SQLSTATE is a programming error", () => {
    expect(() => errorResponse({ code: "5330", message: "x" })).toThrow(/not a SQLSTATE/);
  });
});
