/**
 * validateSpec pairs each rule problem with the fields it involves: a field with a wrong shape
 * drops the rule problems that involve it, and only those (not every message that happens to
 * contain its name).
 */
import { describe, expect, test } from "bun:test";
import { validateSpec } from "../../../src/cluster/spec.ts";

const cases: { name: string; spec: Record<string, unknown>; has: string[]; hasNot: string[] }[] = [
  {
    name: "a mistyped maxStandbys does not hide a real problem of maxStandbysPerSender",
    spec: { initMode: "new", maxStandbys: "five", maxStandbysPerSender: 0 },
    has: ["maxStandbysPerSender: must be at least 1"],
    hasNot: [],
  },
  {
    name: "an unknown field named like a prefix of a real one hides nothing",
    spec: { initMode: "new", maxStandby: 3, maxStandbysPerSender: 0 },
    has: ['unknown field "maxStandby"', "maxStandbysPerSender: must be at least 1"],
    hasNot: [],
  },
  {
    name: "a mistyped maxStandbys drops the rule that compares it with maxStandbysPerSender",
    spec: { initMode: "new", maxStandbys: "five", maxStandbysPerSender: 30 },
    has: [],
    hasNot: ["maxStandbysPerSender: must not exceed maxStandbys"],
  },
  {
    name: "a mistyped role drops the standby rules that depend on it",
    spec: { initMode: "new", role: 7 },
    has: ["role: must be one of"],
    hasNot: ["standbyConfig.standbySettings"],
  },
];

describe("validateSpec: each problem with its fields", () => {
  for (const c of cases)
    test(c.name, () => {
      const problems = validateSpec(c.spec);
      for (const p of c.has) expect(problems.some((x) => x.startsWith(p))).toBe(true);
      for (const p of c.hasNot) expect(problems.some((x) => x.startsWith(p))).toBe(false);
    });
});
