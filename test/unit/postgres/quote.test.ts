/**
 * The facts of src/postgres/quote.ts, each written once: identifier and literal quoting, the
 * managed-configuration header, and the fenced pg_hba.conf rendered by the plan's renderer.
 */
import { describe, expect, test } from "bun:test";
import {
  MANAGED_CONF_HEADER,
  quoteIdent,
  quoteLiteral,
  renderFencedHba,
  renderHba,
  renderPostgresqlConf,
  synchronousStandbyNames,
  type HbaInput,
} from "../../../src/postgres/index.ts";

describe("quoting", () => {
  test.each([
    ["plain", "stolon", '"stolon"'],
    ["double quote doubled", 'a"b', '"a""b"'],
    ["single quote kept", "o'neil", '"o\'neil"'],
    ["empty", "", '""'],
  ])("quoteIdent: %s", (_, name, want) => expect(quoteIdent(name)).toBe(want));

  test.each([
    ["plain", "SCRAM-SHA-256$4096:abc", "'SCRAM-SHA-256$4096:abc'"],
    ["single quote doubled", "it's", "'it''s'"],
    ["double quote kept", 'a"b', "'a\"b'"],
  ])("quoteLiteral: %s", (_, s, want) => expect(quoteLiteral(s)).toBe(want));

  test("pg_hba.conf user names and synchronous_standby_names members are quoted the same way", () => {
    const hba = renderHba({ ...hbaBase, suUsername: 'su"x', replUsername: 'r"y' }).text;
    expect(hba).toContain(`local postgres ${quoteIdent('su"x')} md5`);
    expect(hba).toContain(`local replication ${quoteIdent('r"y')} md5`);
    expect(synchronousStandbyNames(['b"1', "a"])).toBe(`2 (${quoteIdent("a")},${quoteIdent('b"1')})`);
  });
});

const hbaBase: HbaInput = {
  suUsername: "stolon",
  suAuthMethod: "md5",
  replUsername: "repl",
  replAuthMethod: "md5",
  accessMode: "all",
  standbyAddresses: [],
  isMaster: true,
  pgHBA: null,
  internalOnly: false,
};

describe("the managed-configuration header", () => {
  test("both files the keeper writes begin with it (the keeper's first start tells its own postgresql.conf by it)", () => {
    expect(renderPostgresqlConf({ port: "5432" }).startsWith(`${MANAGED_CONF_HEADER}. `)).toBe(true);
    expect(renderHba(hbaBase).text.startsWith(`${MANAGED_CONF_HEADER}. `)).toBe(true);
  });
});

describe("the fenced pg_hba.conf", () => {
  test.each<[string, Partial<HbaInput>]>([
    ["all access, default rules", {}],
    ["strict mode with standbys and user lines", { accessMode: "strict", standbyAddresses: ["10.0.0.2"], pgHBA: ["host all all 10.0.0.0/8 md5"] }],
    ["a standby's view, internal only", { isMaster: false, internalOnly: true, pgHBA: [] }],
  ])("is what the plan's renderHba gives a fenced master, whatever else the plan's input says: %s", (_, extra) => {
    const fromPlan = renderHba({ ...hbaBase, ...extra, fenced: true }).text;
    expect(renderFencedHba({ suUsername: "stolon", suAuthMethod: "md5", replUsername: "repl", replAuthMethod: "md5" })).toBe(fromPlan);
  });

  test.each([
    ["md5", "md5", ["host replication \"repl\" 0.0.0.0/0 md5", "host replication \"repl\" ::0/0 md5"]],
    ["trust keeps replication on loopback", "trust", ["host replication \"repl\" 127.0.0.0/8 trust", "host replication \"repl\" ::1/128 trust"]],
  ] as const)("lets in only the local superuser and replication: %s", (_, method, hostLines) => {
    const text = renderFencedHba({ suUsername: "stolon", suAuthMethod: method, replUsername: "repl", replAuthMethod: method });
    expect(text.split("\n").slice(1)).toEqual([`local postgres "stolon" ${method}`, `local replication "repl" ${method}`, ...hostLines, ""]);
  });
});
