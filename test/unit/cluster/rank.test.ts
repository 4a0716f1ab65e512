/**
 * Failover priority (issue 17): rankCandidates's rule as a table, and decide()'s elections using
 * it (the note names the rule; priority 0 never elected; priority never costs more than one WAL
 * segment; the keeper's priority copied from its info into its status).
 */
import { describe, expect, test } from "bun:test";
import { PRIORITY_WAL_BOUND_BYTES, rankCandidates, type CandidateEntry } from "../../../src/cluster/index.ts";
import { deepFreeze } from "../../harness/builders.ts";
import { MiB, keeperInfos, notes, run, three } from "./planned-builders.ts";

const c = (keeperUid: string, xLogPos: number, priority = 1, excludedBy?: string): CandidateEntry => ({
  dbUid: `d${keeperUid.slice(1)}`,
  keeperUid,
  xLogPos,
  priority,
  ...(excludedBy ? { excludedBy } : {}),
});

describe("rankCandidates", () => {
  const cases: [string, CandidateEntry[], string | null, string | null][] = [
    ["no candidates", [], null, null],
    ["equal priorities: the most advanced", [c("k2", 100), c("k3", 200)], "k3", "most advanced"],
    ["equal priorities and positions: the lowest keeper uid", [c("k3", 200), c("k2", 200)], "k2", "most advanced"],
    ["a higher priority within 16 MiB wins", [c("k2", 100 * MiB, 5), c("k3", 110 * MiB, 1)], "k2", "highest priority 5 among standbys within 16 MiB of the most advanced"],
    ["exactly 16 MiB behind is still within", [c("k2", 100 * MiB, 5), c("k3", 100 * MiB + PRIORITY_WAL_BOUND_BYTES)], "k2", "highest priority 5"],
    ["one byte more than 16 MiB behind loses to the most advanced", [c("k2", 100 * MiB, 5), c("k3", 100 * MiB + PRIORITY_WAL_BOUND_BYTES + 1)], "k3", "most advanced"],
    ["the same highest priority: the most advanced of them", [c("k2", 100, 5), c("k3", 300, 5), c("k4", 400, 1)], "k3", "highest priority 5"],
    ["priority 0 is never chosen", [c("k2", 999, 0), c("k3", 100, 1)], "k3", "most advanced"],
    ["only priority 0: nobody", [c("k2", 999, 0)], null, null],
    ["excluded ones are not chosen, whatever their priority", [c("k2", 999, 9, "unhealthy"), c("k3", 100, 1)], "k3", "most advanced"],
    ["an excluded most advanced one does not set the bound", [c("k2", 500 * MiB, 1, "unhealthy"), c("k3", 100 * MiB, 1), c("k4", 90 * MiB, 3)], "k4", "highest priority 3"],
  ];
  test.each(cases)("%s", (_n, entries, chosen, rule) => {
    const r = rankCandidates(entries);
    expect(r).toHaveLength(entries.length);
    const best = r.find((x) => x.chosen);
    expect(best?.keeperUid ?? null).toBe(chosen);
    if (rule) expect(best?.rule).toContain(rule);
    if (best) expect(r[0]).toBe(best);
    expect(r.filter((x) => x.chosen)).toHaveLength(chosen ? 1 : 0);
  });

  test("every entry is returned, priority 0 named as the reason, inputs untouched", () => {
    const input = Object.freeze([Object.freeze(c("k2", 10, 0)), Object.freeze(c("k3", 5, 1, "unhealthy"))]);
    const r = rankCandidates(input);
    expect(r.map((x) => [x.keeperUid, x.excludedBy])).toEqual([
      ["k2", "priority 0 (never elected automatically)"],
      ["k3", "unhealthy"],
    ]);
  });
});

describe("decide(): elections with priority", () => {
  const masterGone = { k1: { missing: true } } as const;

  test("the higher priority standby within 16 MiB is elected, and the note says by which rule", () => {
    const cd = three({ xlog: { m: 20 * MiB, s: 19 * MiB, t: 20 * MiB }, priority: { k2: 5 } });
    const r = run(cd, { infos: keeperInfos(cd, { ...masterGone, k2: { priority: 5 } }) });
    expect(r.clusterData.cluster.status.master).toBe("s");
    expect(notes(r)).toContain("electing db s (keeper k2), the highest priority 5 among standbys within 16 MiB of the most advanced");
    expect(r.candidates.find((x) => x.chosen)?.dbUid).toBe("s");
  });

  test("a higher priority standby more than 16 MiB behind is not elected: the most advanced is", () => {
    const cd = three({ xlog: { m: 60 * MiB, s: 20 * MiB, t: 50 * MiB }, priority: { k2: 5 }, spec: { maxStandbyLag: 100 * MiB } });
    const r = run(cd, { infos: keeperInfos(cd, { ...masterGone, k2: { priority: 5 } }) });
    expect(r.clusterData.cluster.status.master).toBe("t");
    expect(notes(r)).toContain("electing db t (keeper k3), the eligible standby with the highest WAL position");
  });

  test("priority 0 is never elected, even when it is the only standby left", () => {
    const cd = three({ two: true, priority: { k2: 0 } });
    const r = run(cd, { infos: keeperInfos(cd, { ...masterGone, k2: { priority: 0 } }) });
    expect(r.clusterData.cluster.status.master).toBe("m");
    expect(notes(r)).toContain("keeper k2 (db s) excluded: priority 0 (never elected automatically)");
  });

  test("a new cluster's first master is not put on a keeper with priority 0", () => {
    const base = structuredClone(three());
    const cd = deepFreeze({ ...base, cluster: { ...base.cluster, status: { phase: "initializing" as const } }, dbs: {} });
    const r = run(cd, { infos: keeperInfos(cd, { k1: { priority: 0 } }) });
    const master = r.clusterData.dbs[r.clusterData.cluster.status.master!];
    expect(master?.spec.keeperUID).toBe("k2");
  });

  test("the keeper's priority is copied from its info into its status (absent: left out)", () => {
    const cd = three();
    const r = run(cd, { infos: keeperInfos(cd, { k2: { priority: 7 } }) });
    expect(r.clusterData.keepers.k2!.status.priority).toBe(7);
    expect(r.clusterData.keepers.k3!.status).not.toHaveProperty("priority");
  });

  test("without an election, candidates show who a failover would choose now", () => {
    const cd = three({ xlog: { s: 5 * MiB, t: 4 * MiB }, priority: { k3: 3 } });
    const r = run(cd, { infos: keeperInfos(cd, { k3: { priority: 3 } }) });
    expect(r.clusterData.cluster.status.master).toBe("m");
    expect(r.candidates.map((x) => [x.keeperUid, !!x.chosen])).toEqual([
      ["k3", true],
      ["k2", false],
    ]);
  });
});
