/**
 * The shape of the sentinel's Tick (src/cluster/decide.ts), issue 15: named steps of a readable
 * size, and the master found through masterDb() only. decide()'s behaviour is kept by
 * decide.test.ts, unchanged; these checks keep the layout from growing back.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";

const SOURCE = readFileSync(new URL("../../../src/cluster/decide.ts", import.meta.url), "utf8");
const MAX_LINES = 80;

/** Functions and class methods (top level or two-space indented) with their lengths in lines. */
function functionLengths(src: string): { name: string; lines: number }[] {
  const lines = src.split("\n");
  const out: { name: string; lines: number }[] = [];
  const head = /^( {0,2})(?:export )?(?:function |async )?(\w+)\s*(?:<[^>]*>)?\(.*\)(?::.*)?\{$/;
  for (let i = 0; i < lines.length; i++) {
    const m = head.exec(lines[i]!);
    if (!m || ["if", "for", "while", "switch", "catch"].includes(m[2]!)) continue;
    const end = lines.findIndex((l, j) => j > i && l === `${m[1]}}`);
    if (end > i) out.push({ name: m[2]!, lines: end - i + 1 });
  }
  return out;
}

describe("decide.ts in named steps", () => {
  test("the scanner finds the Tick's steps", () => {
    const names = functionLengths(SOURCE).map((f) => f.name);
    for (const step of ["run", "updateHealth", "normal", "initialize", "arrangeStandbys", "copySpec", "finish", "decide"])
      expect(names).toContain(step);
  });

  test(`no function or method is longer than ${MAX_LINES} lines`, () => {
    expect(functionLengths(SOURCE).filter((f) => f.lines > MAX_LINES)).toEqual([]);
  });

  test("the master is found through masterDb() only: cluster.status.master is never read directly", () => {
    const reads = SOURCE.split("\n").filter(
      (l) => /status\.master\b/.test(l) && !/^\s*(\*|\/\/)/.test(l) && !/^\s*delete\b/.test(l) && !/status\.master\s*=[^=]/.test(l),
    );
    expect(reads).toEqual([]);
  });
});
