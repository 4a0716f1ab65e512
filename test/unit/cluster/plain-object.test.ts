import { describe, expect, test } from "bun:test";
import { Glob } from "bun";
import { readFileSync } from "node:fs";
import { isPlainObject, jsonEqual } from "../../../src/cluster/index.ts";

describe("isPlainObject", () => {
  const cases: [string, unknown, boolean][] = [
    ["an object", { a: 1 }, true],
    ["an empty object", {}, true],
    ["a null-prototype object", Object.create(null), true],
    ["null", null, false],
    ["an array", [1], false],
    ["an empty array", [], false],
    ["a string", "x", false],
    ["a number", 1, false],
    ["undefined", undefined, false],
  ];
  for (const [name, v, want] of cases) test(`${name}: ${want}`, () => expect(isPlainObject(v)).toBe(want));
});

describe("jsonEqual", () => {
  const cases: [string, unknown, unknown, boolean][] = [
    ["same scalars", 1, 1, true],
    ["different scalars", 1, 2, false],
    ["null and an object", null, {}, false],
    ["an object and an array with the same keys", { 0: "a" }, ["a"], false],
    ["nested equal", { a: [1, { b: "x" }] }, { a: [1, { b: "x" }] }, true],
    ["nested different", { a: [1, { b: "x" }] }, { a: [1, { b: "y" }] }, false],
    ["an undefined field is an absent one", { a: 1, b: undefined }, { a: 1 }, true],
    ["a null field is not absent", { a: 1, b: null }, { a: 1 }, false],
    ["key order does not matter", { a: 1, b: 2 }, { b: 2, a: 1 }, true],
    ["arrays of different lengths", [1], [1, 2], false],
  ];
  for (const [name, a, b, want] of cases)
    test(`${name}: ${want}`, () => {
      expect(jsonEqual(a, b)).toBe(want);
      expect(jsonEqual(b, a)).toBe(want);
    });
});

// Each fact in one home (issue 15): the plain-object check and stolonctl's compare-and-swap retry
// loop are written once. A copy written again elsewhere in src/ fails here.
describe("written once in src/", () => {
  const root = new URL("../../../", import.meta.url).pathname;
  const files = [...new Glob("src/**/*.ts").scanSync(root)].sort();
  const where = (re: RegExp) => files.filter((f) => re.test(readFileSync(root + f, "utf8")));

  test("the plain-object check lives in src/cluster/plain-object.ts only", () => {
    expect(where(/typeof (\w+) [!=]== "object" (&&|\|\|) \1 [!=]== null (&&|\|\|) !?Array\.isArray\(\1\)/)).toEqual([
      "src/cluster/plain-object.ts",
    ]);
  });

  test("structural equality of JSON values lives in src/cluster/plain-object.ts only", () => {
    expect(where(/function \w*[eE]qual\(a: unknown, b: unknown\)/)).toEqual(["src/cluster/plain-object.ts"]);
  });

  test("the compare-and-swap retry loop lives in src/ctl/cas.ts only", () => {
    expect(where(/instanceof KeyModifiedError\)? *\|\| *attempt/)).toEqual(["src/ctl/cas.ts"]);
  });
});
