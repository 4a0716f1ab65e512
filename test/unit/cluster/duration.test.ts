import { describe, expect, test } from "bun:test";
import { formatDuration, parseDuration } from "../../../src/cluster/index.ts";

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
