/** The SCRAM-SHA-256 verifier the keeper computes must be the one PostgreSQL would store. */
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { parseScramVerifier, SCRAM_ITERATIONS, scramPasswordProblem, scramSha256Verifier } from "../../../src/postgres/scram.ts";

/** Verifiers PostgreSQL 15 stored for `ALTER ROLE ... PASSWORD '<plain>'` (read from pg_authid). */
const FROM_POSTGRES = [
  ["pencil", "SCRAM-SHA-256$4096:iIh2w4jvg0N8R9YE46pgiQ==$Loq8FozuPgHZFhY36zriqjmZU7stAmFWIdx3ofTC0zM=:xDXFMQUPrmcSadTchYiduG/BfftOlIE4RdYYytynsxE="],
  ["su'pass:word", "SCRAM-SHA-256$4096:B4WVm/r4bDq/HaTSsP4kbQ==$86vIDqiqt/7E81L/sh2GfCKcVB+oI4mXifXv9Oyleto=:Mvl2o7jUo9o75sPr7OXv/KwdPErMB+s/ZvoY8iHe+TI="],
  // Non-ASCII in NFKC form: SASLprep leaves it as it is (or, for the emoji, unassigned in Unicode
  // 3.2, refuses it and PostgreSQL hashes the raw bytes): the same bytes either way.
  ["pässwörd", "SCRAM-SHA-256$4096:Oxvvri4G7W/8u6affvc4nw==$hpcNnAoCr9wPoLtk5WxeiWYp6mriWXuXNYpAH1Wjm30=:I1iwvBqD5vbR3fjF+DCtFGsAWSl2odLaRdBD8SZyPhw="],
  ["密码", "SCRAM-SHA-256$4096:ncRyXk9biQbO+iblxHdAOA==$Zy+Vzreza/j1WHa9Il8+ICKmUVpqWhDcUnRmJaueMvA=:xJdzN6Y8ueRpANUou93nUMPTj8FnsY9SZTQiG3j9AGA="],
  ["🔑key", "SCRAM-SHA-256$4096:4ztgSwKf//zbl6LEGVCmUQ==$U3YV/pZR2dDyz567NO8uxcqXW4+uRol+IzN2Pj/kgBc=:tqIubRL97uE/GYDh5vrk4Lut8dEYNdCTXQO5BT5LIro="],
] as const;

describe("scramSha256Verifier", () => {
  test.each(FROM_POSTGRES)("known answer from PostgreSQL: %p", (password, expected) => {
    expect(scramPasswordProblem(password)).toBeNull();
    const { salt, iterations } = parseScramVerifier(expected)!;
    expect(scramSha256Verifier(password, salt, iterations)).toBe(expected);
  });

  test("RFC 7677's exchange: the ServerKey signs the server-final-message's verifier", () => {
    const salt = Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64");
    const v = parseScramVerifier(scramSha256Verifier("pencil", salt, 4096))!;
    const authMessage =
      "n=user,r=rOprNGfwEbeRWgbNEkqO," +
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    expect(createHmac("sha256", v.serverKey).update(authMessage).digest("base64")).toBe("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  });

  test("format: PostgreSQL's default iterations, the salt as given, 32-byte keys", () => {
    const salt = Buffer.alloc(16, 7);
    const v = scramSha256Verifier("x", salt);
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    expect(SCRAM_ITERATIONS).toBe(4096);
    expect(parseScramVerifier(v)!.salt.equals(salt)).toBe(true);
    expect(v).not.toBe(scramSha256Verifier("x", Buffer.alloc(16, 8)));
    expect(() => scramSha256Verifier("x", Buffer.alloc(0))).toThrow(/salt/);
    expect(parseScramVerifier("md5abc")).toBeNull();
  });
});

describe("scramPasswordProblem", () => {
  test.each([
    ["ASCII, quotes and backslashes", "a'b\\c d", null],
    ["non-ASCII already in NFKC form", "pässwörd", null],
    ["decomposed (not NFKC)", "pa\u0308sswort", /SASLprep would change/],
    ["a no-break space", "a\u00A0b", /SASLprep would change/],
    ["a soft hyphen", "a\u00ADb", /SASLprep would change/],
    ["a full-width letter", "ｐass", /SASLprep would change/],
  ])("%s", (_, pw, expected) => {
    const p = scramPasswordProblem(pw);
    if (expected === null) expect(p).toBeNull();
    else expect(p).toMatch(expected);
  });
});
