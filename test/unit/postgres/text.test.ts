/** Pure text handling: conninfo and pgpass escaping, LSNs, timeline histories, versions. */
import { describe, expect, test } from "bun:test";
import {
  escapeConninfoValue,
  formatLsn,
  oldestWalFile,
  parseConninfo,
  parseLsn,
  parsePostgresVersion,
  parseTimelineHistory,
  renderConninfo,
  renderPgpassLine,
} from "../../../src/postgres/index.ts";

describe("conninfo", () => {
  test.each([
    ["plain", "127.0.0.1", "'127.0.0.1'"],
    ["quote", "o'neil", "'o\\'neil'"],
    ["backslash", "a\\b", "'a\\\\b'"],
    ["space and =", "a b=c", "'a b=c'"],
    ["empty", "", "''"],
  ])("%s value is quoted and escaped", (_, v, want) => {
    expect(escapeConninfoValue(v)).toBe(want);
  });

  test("keys come in a fixed order and a hostile value cannot add a keyword", () => {
    const s = renderConninfo({ user: "x' password='stolen", host: "h", port: "5432", application_name: "stolon_d1" });
    expect(s).toBe("host='h' port='5432' user='x\\' password=\\'stolen' application_name='stolon_d1'");
    expect(parseConninfo(s)).toEqual({ host: "h", port: "5432", user: "x' password='stolen", application_name: "stolon_d1" });
  });

  test.each([
    ["unquoted values", "host=a port=5 user=u", { host: "a", port: "5", user: "u" }],
    ["spaces around =", "host = a  dbname='x y'", { host: "a", dbname: "x y" }],
    ["empty", "", {}],
  ])("parses %s", (_, s, want) => {
    expect(parseConninfo(s)).toEqual(want);
  });

  test.each([["host"], ["host='unterminated"], ["=x"]])("rejects %p", (s) => {
    expect(() => parseConninfo(s)).toThrow(/conninfo/);
  });

  test("pgpass escapes : and \\ in every field", () => {
    expect(renderPgpassLine({ host: "*", port: "*", database: "*", user: "u:1", password: "p\\a:ss" })).toBe("*:*:*:u\\:1:p\\\\a\\:ss");
  });
});

describe("LSN", () => {
  test.each([
    ["0/0", 0],
    ["0/3000060", 0x3000060],
    ["16/B374D848", 0x16 * 2 ** 32 + 0xb374d848],
    ["FFFFF/FFFFFFFF", 0xfffff * 2 ** 32 + 0xffffffff],
  ])("%s <-> %d", (s, n) => {
    expect(parseLsn(s)).toBe(n);
    expect(formatLsn(n)).toBe(s);
  });

  test.each([["16B374D848"], ["0/"], ["x/1"], ["123456789/0"], [""]])("rejects %p", (s) => {
    expect(() => parseLsn(s)).toThrow(/invalid LSN/);
  });
});

describe("timeline history", () => {
  test("parses entries, skipping blanks and comments", () => {
    const text = "1\t0/3000060\tno recovery target specified\n\n# comment\n2\t0/5000000\tbefore 2026-01-01\n3\t1/0\n";
    expect(parseTimelineHistory(text)).toEqual([
      { timelineID: 1, switchPoint: 0x3000060, reason: "no recovery target specified" },
      { timelineID: 2, switchPoint: 0x5000000, reason: "before 2026-01-01" },
      { timelineID: 3, switchPoint: 2 ** 32, reason: "" },
    ]);
  });

  test.each([["garbage"], ["0\t0/1\tzero timeline"], ["1 nolsn reason"]])("rejects %p", (line) => {
    expect(() => parseTimelineHistory(line)).toThrow(/timeline/);
  });
});

test("the oldest WAL file is the first segment name, other files ignored", () => {
  expect(oldestWalFile(["archive_status", "000000020000000000000004", "000000010000000000000003", "00000002.history"])).toBe("000000010000000000000003");
  expect(oldestWalFile(["archive_status"])).toBeNull();
});

test.each([
  ["postgres (PostgreSQL) 15.18 (Debian 15.18-1.pgdg120+1)", { Maj: 15, Min: 18 }],
  ["postgres (PostgreSQL) 16beta1", { Maj: 16, Min: 0 }],
])("version of %p", (out, want) => {
  expect(parsePostgresVersion(out)).toEqual(want);
});
test("an unknown version output is an error that quotes it", () => {
  expect(() => parsePostgresVersion("bash: postgres: not found")).toThrow(/bash: postgres: not found/);
});
