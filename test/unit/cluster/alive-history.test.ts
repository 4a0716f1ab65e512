import { describe, expect, test } from "bun:test";
import { nextAliveHistory, type AliveHistory } from "../../../src/cluster/memory.ts";

const h: AliveHistory = Object.freeze({ infoUID: "a", since: 1000 });

describe("nextAliveHistory: when a keeper or proxy was last known alive", () => {
  const rows: [name: string, prev: AliveHistory | undefined, infoUID: string, silence: number | undefined, want: AliveHistory][] = [
    ["first sight, no reading: alive now", undefined, "a", undefined, { infoUID: "a", since: 5000 }],
    ["same infoUID, no reading: unchanged", h, "a", undefined, h],
    ["new infoUID, no reading: alive now", h, "b", undefined, { infoUID: "b", since: 5000 }],
    ["a reading of 0: alive now, even with the same infoUID", h, "a", 0, { infoUID: "a", since: 5000 }],
    ["a reading of 2000: alive 2 s ago, even with a new infoUID", h, "b", 2000, { infoUID: "b", since: 3000 }],
    ["first sight with a reading of 1000", undefined, "a", 1000, { infoUID: "a", since: 4000 }],
  ];
  for (const [name, prev, infoUID, silence, want] of rows) {
    test(name, () => {
      expect(nextAliveHistory(prev, infoUID, silence, 5000)).toEqual(want);
    });
  }
});
