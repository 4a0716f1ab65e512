import { describe, expect, test } from "bun:test";
import { boundsProblem, describeBounds, formatDuration, MAX_DURATION_MS, parseDuration } from "../../../src/cluster/index.ts";

describe("parseDuration (Go syntax)", () => {
  const ok: [string, number][] = [
    ["0", 0],
    ["0s", 0],
    ["5s", 5000],
    ["500ms", 500],
    ["1m30s", 90_000],
    ["1.5h", 5_400_000],
    ["48h", 172_800_000],
    ["2h45m10.5s", 9_910_500],
    ["1500us", 1.5],
    ["1000000ns", 1],
    ["-1s", -1000],
    ["+2s", 2000],
    [".5s", 500],
  ];
  test.each(ok)("%s = %d ms", (input, ms) => {
    expect(parseDuration(input)).toEqual({ ms });
  });

  const bad = ["", "5", "s", "10x", "5 s", " 5s", "1d", "--1s", "1s-", "abc", "1.2.3s", "-"];
  test.each(bad)("rejects %p", (input) => {
    expect("error" in parseDuration(input)).toBe(true);
  });
});

describe("formatDuration", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [500, "500ms"],
    [5000, "5s"],
    [90_000, "1m30s"],
    [3_600_000, "1h0m0s"],
    [172_800_000, "48h0m0s"],
    [1500, "1.5s"],
    [-2000, "-2s"],
  ];
  test.each(cases)("%d ms -> %s", (ms, s) => {
    expect(formatDuration(ms)).toBe(s);
    expect(parseDuration(s)).toEqual({ ms });
  });
});

describe("boundsProblem", () => {
  const b = { minMs: 100, maxMs: 3_600_000 };
  const z = { ...b, zero: "no hold" };
  const cases: [string, number, typeof b, string | null][] = [
    ["100ms", 100, b, null],
    ["1h", 3_600_000, b, null],
    ["1ns", 1e-6, b, `"1ns" is below the minimum of 100ms`],
    ["1h0m0.001s", 3_600_001, b, `"1h0m0.001s" is above the maximum of 1h0m0s`],
    ["2562047h", 2562047 * 3_600_000, b, `"2562047h" is above the maximum of 1h0m0s`],
    ["-1s", -1000, b, `must not be negative, got "-1s"`],
    ["0s", 0, b, `must be greater than zero (at least 100ms), got "0s"`],
    ["0s", 0, z, null],
    ["1ms", 1, z, `"1ms" is below the minimum of 100ms (or 0 for no hold)`],
  ];
  test.each(cases)("%s", (raw, ms, bounds, expected) => {
    expect(boundsProblem(raw, ms, bounds)).toBe(expected);
  });

  test("the longest duration fits in setTimeout", () => {
    expect(MAX_DURATION_MS).toBeLessThan(2 ** 31 - 1);
    expect(describeBounds(z)).toBe("0 (no hold) or 100ms to 1h0m0s");
  });
});
