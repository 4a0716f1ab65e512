/**
 * No function or method in src/ is longer than 80 lines unless the comment just above it says
 * why ("long because ..."): past that size a function has too many exits to read as one step.
 * The scanner (test/harness/function-spans.ts) is tested here too, so that the check can fail.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { functionSpans } from "../harness/function-spans.ts";

const root = join(import.meta.dir, "../..");
const MAX_LINES = 80;

/**
 * Long functions still to split: none since issue 15. Do not add to it: split the function, or say
 * in the comment just above it why it is "long because ...". A listed function that has become
 * short fails the second test below, so the list cannot go stale.
 */
const ALLOWED_TODAY = new Set<string>([]);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** `file:name` of every function in src/ longer than MAX_LINES whose comment does not say why. */
function longFunctions(): Map<string, number> {
  const long = new Map<string, number>();
  for (const f of files(join(root, "src"))) {
    for (const s of functionSpans(readFileSync(f, "utf8"))) {
      if (s.lines > MAX_LINES && !/long because/i.test(s.comment)) long.set(`${relative(root, f)}:${s.name}`, s.lines);
    }
  }
  return long;
}

test(`no function in src/ is longer than ${MAX_LINES} lines unless its comment says why`, () => {
  const offenders = [...longFunctions()].filter(([k]) => !ALLOWED_TODAY.has(k)).map(([k, n]) => `${k} (${n} lines)`);
  expect(offenders).toEqual([]);
});

test("every function on the allow-list is still too long (shrink the list when one is split)", () => {
  const long = longFunctions();
  expect([...ALLOWED_TODAY].filter((k) => !long.has(k))).toEqual([]);
});

const body = (n: number) => Array.from({ length: n }, (_, i) => `  x += ${i}; // {`).join("\n");
test.each([
  ["a function of 81 lines", `function big() {\n${body(79)}\n}`, [["big", 81]]],
  ["a function of 80 lines", `function ok() {\n${body(78)}\n}`, []],
  ["a long function whose comment says why", `/** Long because each step is one line. */\nfunction big() {\n${body(90)}\n}`, []],
  ["a long method, named with its class", `class A {\n  async run(a: number): Promise<void> {\n${body(90)}\n  }\n}`, [["A.run", 92]]],
  ["a long arrow function", `export const go = async (a: string) => {\n${body(90)}\n};`, [["go", 92]]],
  ["braces in strings, templates and comments", `function f() {\n  const s = "}}}" + '{' + \`\${"}"} }\`; // }\n${body(90)}\n}\nfunction g() {\n}`, [["f", 93]]],
  ["calls inside a method are not methods", `class A {\n  m() {\n    if (x) {\n${body(90)}\n    }\n  }\n}`, [["A.m", 94]]],
] as const)("the scanner finds %s", (_, src, expected) => {
  const found = functionSpans(src)
    .filter((s) => s.lines > MAX_LINES && !/long because/i.test(s.comment))
    .map((s) => [s.name, s.lines]);
  expect(found).toEqual(expected.map((e) => [...e]));
});

test("the scanner sees the functions of a real file (so the checks above can fail)", () => {
  const names = functionSpans(readFileSync(join(root, "src/cluster/spec.ts"), "utf8")).map((s) => s.name);
  expect(names).toContain("validateSpec");
  expect(names).toContain("withDefaults");
});
