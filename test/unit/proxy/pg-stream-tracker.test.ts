/**
 * PgStreamTracker: when is a forwarded connection at a point where closing it costs the client
 * nothing (idle between transactions), and when does the proxy give up reading it (opaque).
 * Each story is fed whole, one byte at a time, and in odd chunk sizes: framing must not depend
 * on how TCP cut the stream.
 */
import { describe, expect, test } from "bun:test";
import { PgStreamTracker } from "../../../src/proxy/pg-wire.ts";
import { cancelRequest, commandDone, concat, gssRequest, msg, packet, query, ready, sslRequest, startupDone, startupMessage } from "./pg-packets.ts";

/** A step: bytes from the client ("c") or the server ("s"), or what the tracker must say now. */
type Step = ["c" | "s", Uint8Array] | ["idle", boolean] | ["opaque", boolean];

const splits: [string, (n: number) => number[]][] = [
  ["whole", (n) => [n]],
  ["byte by byte", (n) => Array.from({ length: n }, () => 1)],
  ["in chunks of 3", (n) => chunks(n, 3)],
  ["in chunks of 7", (n) => chunks(n, 7)],
];
function chunks(n: number, size: number): number[] {
  const out: number[] = [];
  for (let left = n; left > 0; left -= size) out.push(Math.min(size, left));
  return out;
}

function run(steps: Step[], split: (n: number) => number[]): void {
  const t = new PgStreamTracker();
  steps.forEach((s, i) => {
    if (s[0] === "idle") return void expect([i, t.idle]).toEqual([i, s[1]]);
    if (s[0] === "opaque") return void expect([i, t.opaque]).toEqual([i, s[1]]);
    const [side, bytes] = s;
    let at = 0;
    for (const n of split(bytes.byteLength)) {
      const part = bytes.subarray(at, at + n);
      if (side === "c") t.client(part);
      else t.server(part);
      at += n;
    }
  });
}

const begin = query("BEGIN");
const extended = concat(msg("P", "\0select 1\0\0\0"), msg("B", "\0\0\0\0\0\0\0\0"), msg("D", "P\0"), msg("E", "\0\0\0\0\0"));
const sync = msg("S");

const stories: [string, Step[]][] = [
  ["a fresh connection is not idle until the startup's ReadyForQuery", [["idle", false], ["c", startupMessage()], ["idle", false], ["s", startupDone().subarray(0, 20)], ["idle", false], ["s", startupDone().subarray(20)], ["idle", true]]],
  [
    "a transaction: idle only after its end says I",
    [["c", startupMessage()], ["s", startupDone()], ["c", begin], ["idle", false], ["s", commandDone("BEGIN", "T")], ["idle", false], ["c", query("COMMIT")], ["s", commandDone("COMMIT", "I")], ["idle", true]],
  ],
  [
    "a query pipelined before the previous answer: not idle at the first ReadyForQuery",
    [["c", startupMessage()], ["s", startupDone()], ["c", concat(query("select 1"), query("select 2"))], ["s", commandDone("SELECT 1", "I")], ["idle", false], ["s", commandDone("SELECT 1", "I")], ["idle", true]],
  ],
  [
    "an extended-protocol batch without its Sync yet is not idle",
    [["c", startupMessage()], ["s", startupDone()], ["c", extended], ["s", concat(msg("1"), msg("2"), msg("C", "SELECT 1\0"))], ["idle", false], ["c", sync], ["idle", false], ["s", ready("I")], ["idle", true]],
  ],
  ["a client message cut in its header is not idle", [["c", startupMessage()], ["s", startupDone()], ["c", query("select 1").subarray(0, 3)], ["idle", false]]],
  ["a client message cut in its body is not idle", [["c", startupMessage()], ["s", startupDone()], ["c", query("select 1").subarray(0, 8)], ["idle", false]]],
  ["a server message after ReadyForQuery, not complete yet, is not idle", [["c", startupMessage()], ["s", startupDone()], ["s", msg("N", "Snotice\0\0").subarray(0, 6)], ["idle", false]]],
  [
    "asynchronous messages after ReadyForQuery leave it idle",
    [["c", startupMessage()], ["s", startupDone()], ["s", concat(msg("N", "SNOTICE\0\0"), msg("S", "TimeZone\0UTC\0"), msg("A", "\0\0\0\x01ch\0\0"))], ["idle", true]],
  ],
  [
    "a failed transaction is not idle",
    [["c", startupMessage()], ["s", startupDone()], ["c", begin], ["s", commandDone("BEGIN", "T")], ["c", query("select x")], ["s", concat(msg("E", "SERROR\0\0"), ready("E"))], ["idle", false]],
  ],
  [
    "COPY FROM STDIN inside a Query: idle after its ReadyForQuery",
    [["c", startupMessage()], ["s", startupDone()], ["c", query("copy t from stdin")], ["s", msg("G", new Uint8Array(3))], ["c", concat(msg("d", "1\n"), msg("d", "2\n"), msg("c"))], ["idle", false], ["s", commandDone("COPY 2", "I")], ["idle", true]],
  ],
  ["SSLRequest declined: plain text, read as usual", [["c", sslRequest()], ["s", new Uint8Array([0x4e])], ["c", startupMessage()], ["s", startupDone()], ["idle", true], ["opaque", false]]],
  ["GSSENCRequest declined, then SSLRequest declined", [["c", gssRequest()], ["s", new Uint8Array([0x4e])], ["c", sslRequest()], ["s", new Uint8Array([0x4e])], ["c", startupMessage()], ["s", startupDone()], ["idle", true]]],
  ["SSLRequest accepted: encrypted, opaque", [["c", sslRequest()], ["s", new Uint8Array([0x53])], ["opaque", true], ["c", new Uint8Array([22, 3, 1, 0, 5, 1, 2, 3, 4, 5])], ["s", ready("I")], ["idle", false]]],
  ["GSSENCRequest accepted: opaque", [["c", gssRequest()], ["s", new Uint8Array([0x47])], ["opaque", true], ["idle", false]]],
  ["SSLRequest answered by an old server's ErrorResponse: read, not idle", [["c", sslRequest()], ["s", msg("E", "SFATAL\0\0")], ["opaque", false], ["idle", false]]],
  ["a CancelRequest connection is opaque", [["c", cancelRequest()], ["opaque", true]]],
  ["protocol 2 is opaque", [["c", packet(2 << 16, new Uint8Array(4))], ["opaque", true]]],
  ["a client length below 4 is opaque", [["c", startupMessage()], ["s", startupDone()], ["c", concat(new Uint8Array([0x51]), new Uint8Array([0, 0, 0, 3]))], ["opaque", true], ["idle", false]]],
  ["a server length below 4 is opaque", [["c", startupMessage()], ["s", concat(new Uint8Array([0x52]), new Uint8Array([0, 0, 0, 2]))], ["opaque", true]]],
  ["a ReadyForQuery of the wrong length is opaque", [["c", startupMessage()], ["s", msg("Z", "II")], ["opaque", true]]],
  ["more ReadyForQuery than requests is opaque", [["c", startupMessage()], ["s", startupDone()], ["s", ready("I")], ["opaque", true], ["idle", false]]],
  ["a huge client length (negative int32) is opaque", [["c", startupMessage()], ["s", startupDone()], ["c", new Uint8Array([0x51, 0xff, 0xff, 0xff, 0xff])], ["opaque", true]]],
];

describe("PgStreamTracker", () => {
  for (const [splitName, split] of splits) {
    test.each(stories)(`%s (${splitName})`, (_name, steps) => run(steps, split));
  }

  test("readyCount counts the server's ReadyForQuery messages", () => {
    const t = new PgStreamTracker();
    t.client(startupMessage());
    t.server(startupDone());
    t.client(query("select 1"));
    t.server(commandDone("SELECT 1", "I"));
    expect(t.readyCount).toBe(2);
  });

  test("a large body is skipped by its length, in any chunks", () => {
    const t = new PgStreamTracker();
    t.client(startupMessage());
    t.server(startupDone());
    t.client(query("select big"));
    const big = concat(msg("D", new Uint8Array(1 << 20).fill(0x5a)), commandDone("SELECT 1", "I"));
    for (let at = 0; at < big.byteLength; at += 65536) {
      t.server(big.subarray(at, at + 65536));
      if (at + 65536 < big.byteLength) expect(t.idle).toBe(false);
    }
    expect(t.idle).toBe(true);
  });
});
