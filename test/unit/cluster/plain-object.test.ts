import { describe, expect, test } from "bun:test";
import { Glob } from "bun";
import { readFileSync } from "node:fs";
import { isPlainObject } from "../../../src/cluster/index.ts";

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

  test("the compare-and-swap retry loop lives in src/ctl/cas.ts only", () => {
    expect(where(/instanceof KeyModifiedError\)? *\|\| *attempt/)).toEqual(["src/ctl/cas.ts"]);
  });
});
