/**
 * The planned-operation fields (issue 17) keep what we write decodable by stolon's Go types: every
 * one is a field stolon ignores, and nothing else changes shape. Cluster data in the middle of a
 * switchover, paused, with priorities, and the infos that carry the new fields.
 */
import { describe, expect, test } from "bun:test";
import { GO_CLUSTER_DATA, GO_KEEPER_INFO, GO_PROXY_INFO, fieldsGoIgnores, goDecodeProblems } from "../../harness/stolon-go-types.ts";
import { deepFreeze } from "../../harness/builders.ts";
import { at, keeperInfos, request, run, three } from "./planned-builders.ts";

/** The fields issue 17 adds, as fieldsGoIgnores names them (with lastDecision, which was there before). */
const ADDED = new Set([
  "lastDecision",
  "switchover",
  "pause",
  "proxy.spec.hold",
  "dbs.*.spec.stopForSwitchover",
  "keepers.*.status.priority",
]);

const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

describe("stolon decodes the cluster data of planned operations", () => {
  test("a switchover stopping the master, a pause, priorities: decodable, and only the added fields are ignored", () => {
    // The builder's change times are "" (not a time for Go): as a sentinel writes them.
    const c = structuredClone(three({ enabledProxies: ["p1"], switchover: request(), priority: { k2: 5 } }));
    for (const o of [c, c.cluster, c.proxy, ...Object.values(c.dbs), ...Object.values(c.keepers)]) o.changeTime = at(-5000);
    const cd = deepFreeze(c);
    const r1 = run(cd, { infos: keeperInfos(cd, { k2: { priority: 5 } }) });
    const withPause = { ...structuredClone(r1.clusterData), pause: { since: at(0), until: at(60_000), reason: "x" } };
    const draining = json(withPause);
    expect(goDecodeProblems(draining, GO_CLUSTER_DATA)).toEqual([]);
    const ignored = new Set(fieldsGoIgnores(draining, GO_CLUSTER_DATA));
    expect([...ignored].filter((f) => !ADDED.has(f))).toEqual([]);
    expect(ignored).toContain("switchover");
    expect(ignored).toContain("proxy.spec.hold");
    expect(ignored).toContain("keepers.*.status.priority");
  });

  test("the infos with priority, stoppedForSwitchover and drained decode; those fields are ignored", () => {
    const cd = three();
    const info = json(keeperInfos(cd, { k1: { priority: 3, stoppedForSwitchover: { id: "sw1", lsn: 42 } } }).k1);
    expect(goDecodeProblems(info, GO_KEEPER_INFO)).toEqual([]);
    expect(fieldsGoIgnores(info, GO_KEEPER_INFO).sort()).toEqual(["postgresState.stoppedForSwitchover", "priority"]);
    const proxy = { infoUID: "p", UID: "p1", Generation: 1, ProxyTimeout: 15e9, drained: "sw1" };
    expect(goDecodeProblems(proxy, GO_PROXY_INFO)).toEqual([]);
    expect(fieldsGoIgnores(proxy, GO_PROXY_INFO)).toEqual(["drained"]);
  });
});
