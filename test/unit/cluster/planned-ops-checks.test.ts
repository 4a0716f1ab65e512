/**
 * The checks of the planned-operation fields (issue 17) in the cluster data and the infos: each
 * field absent passes (old data stays readable), a sound value passes, a wrong one is refused and
 * named. And the shared readings of src/cluster/planned-ops.ts.
 */
import { describe, expect, test } from "bun:test";
import {
  activePause,
  checkKeeperInfo,
  checkProxyInfo,
  keeperPriority,
  newClusterData,
  parseClusterData,
  switchoverInProgress,
  type ClusterData,
  type KeeperInfo,
  type Switchover,
} from "../../../src/cluster/index.ts";
import { ClusterDataError } from "../../../src/lib/errors.ts";
import { makeDb } from "../../harness/builders.ts";

const T = "2026-01-01T00:00:00Z";
const sw = (o: Partial<Switchover> = {}): Switchover => ({
  id: "sw1",
  requestedAt: T,
  timeout: "30s",
  drainTimeout: "5s",
  phase: "requested",
  phaseTime: T,
  steps: [],
  ...o,
});
const base = (): ClusterData => {
  const cd = newClusterData("c0ffee00", { initMode: "new" }, new Date(T));
  cd.dbs = { d1: makeDb("d1", { keeperUID: "k1", role: "master" }) };
  return cd;
};
const parse = (cd: unknown): string => {
  try {
    parseClusterData(JSON.stringify(cd));
    return "ok";
  } catch (e) {
    expect(e).toBeInstanceOf(ClusterDataError);
    return (e as Error).message;
  }
};

describe("cluster data: the planned-operation fields", () => {
  const cases: [string, (cd: ClusterData & Record<string, unknown>) => void, string][] = [
    ["none of them (old data)", () => {}, "ok"],
    ["a requested switchover", (cd) => (cd.switchover = sw({ to: "k2" })), "ok"],
    ["a switchover null", (cd) => (cd.switchover = null), "ok"],
    ["a finished switchover with steps", (cd) => (cd.switchover = sw({ phase: "done", fromDb: "d1", toDb: "d2", stopLsn: 123, acceptedAt: T, steps: [{ time: T, text: "accepted" }], outcome: "switched over" })), "ok"],
    ["a switchover phase unknown", (cd) => (cd.switchover = sw({ phase: "sideways" as never })), `switchover.phase: must be one of "requested"`],
    ["a switchover id not a uid", (cd) => (cd.switchover = sw({ id: "../x" })), "switchover.id:"],
    ["a switchover time not RFC 3339", (cd) => (cd.switchover = sw({ requestedAt: "yesterday" })), "switchover.requestedAt: must be an RFC 3339 time"],
    ["a switchover timeout not a duration", (cd) => (cd.switchover = sw({ timeout: "soon" })), "switchover.timeout: must be a Go duration"],
    ["a switchover without steps", (cd) => (cd.switchover = { ...sw(), steps: undefined as never }), "switchover.steps: required"],
    ["a switchover with 51 steps", (cd) => (cd.switchover = sw({ steps: Array.from({ length: 51 }, () => ({ time: T, text: "x" })) })), "switchover.steps: more than 50 entries"],
    ["a switchover stopLsn negative", (cd) => (cd.switchover = sw({ stopLsn: -1 })), "switchover.stopLsn:"],
    ["a pause", (cd) => (cd.pause = { since: T, until: "2026-01-01T00:30:00.000Z", reason: "patching" }), "ok"],
    ["a pause without since", (cd) => (cd.pause = { reason: "x" } as never), "pause.since: required"],
    ["a pause until not a time", (cd) => (cd.pause = { since: T, until: "later" }), "pause.until: must be an RFC 3339 time"],
    ["a proxy hold", (cd) => (cd.proxy.spec.hold = { id: "sw1", since: T, drainTimeout: "5s" }), "ok"],
    ["a proxy hold null", (cd) => (cd.proxy.spec.hold = null), "ok"],
    ["a proxy hold without id", (cd) => (cd.proxy.spec.hold = { since: T, drainTimeout: "5s" } as never), "proxy.spec.hold.id: required"],
    ["a db's stopForSwitchover", (cd) => (cd.dbs.d1!.spec.stopForSwitchover = "sw1"), "ok"],
    ["a db's stopForSwitchover not a uid", (cd) => (cd.dbs.d1!.spec.stopForSwitchover = 7 as never), "dbs.d1.spec.stopForSwitchover: must be a uid string"],
    ["a keeper's status priority", (cd) => (cd.keepers = { k1: { uid: "k1", generation: 1, changeTime: T, status: { priority: 5 } } }), "ok"],
    ["a keeper's status priority too high", (cd) => (cd.keepers = { k1: { uid: "k1", generation: 1, changeTime: T, status: { priority: 1_000_001 } } }), "keepers.k1.status.priority: must be an integer from 0 to 1000000"],
  ];
  test.each(cases)("%s", (_n, change, expected) => {
    const cd = base() as ClusterData & Record<string, unknown>;
    change(cd);
    const got = parse(cd);
    if (expected === "ok") expect(got).toBe("ok");
    else expect(got).toContain(expected);
  });
});

const info = (o: Partial<KeeperInfo> = {}, ps: Record<string, unknown> = {}): unknown => ({
  infoUID: "a1",
  uid: "k1",
  clusterUID: "c0ffee00",
  bootUUID: "b",
  postgresBinaryVersion: { Maj: 15, Min: 8 },
  postgresState: { uid: "d1", synchronousStandbys: null, ...ps },
  ...o,
});

describe("infos: the planned-operation fields", () => {
  const keeper: [string, unknown, string][] = [
    ["no priority", info(), "ok"],
    ["priority 0", info({ priority: 0 }), "ok"],
    ["priority 1000000", info({ priority: 1_000_000 }), "ok"],
    ["priority 1.5", info({ priority: 1.5 }), "priority: must be an integer"],
    ["priority negative", info({ priority: -1 }), "priority: must be an integer"],
    ["stopped for a switchover", info({}, { stoppedForSwitchover: { id: "sw1", lsn: 50_331_800 } }), "ok"],
    ["stopped for a switchover without lsn", info({}, { stoppedForSwitchover: { id: "sw1" } }), "postgresState.stoppedForSwitchover.lsn: required"],
    ["stopped for a switchover with a string lsn", info({}, { stoppedForSwitchover: { id: "sw1", lsn: "0/3000028" } }), "stoppedForSwitchover.lsn: must be an integer"],
  ];
  test.each(keeper)("keeper info: %s", (_n, v, expected) => {
    const c = checkKeeperInfo(v, "k1");
    if (expected === "ok") expect(c.ok).toBe(true);
    else expect(c.ok ? "ok" : c.invalid.problems.join("; ")).toContain(expected);
  });

  const proxy = { infoUID: "p", UID: "p1", Generation: 1, ProxyTimeout: 15e9 };
  const proxies: [string, unknown, string][] = [
    ["no drained", proxy, "ok"],
    ["drained", { ...proxy, drained: "sw1" }, "ok"],
    ["drained not a uid", { ...proxy, drained: true }, "drained: must be a uid string"],
  ];
  test.each(proxies)("proxy info: %s", (_n, v, expected) => {
    const c = checkProxyInfo(v, "p1");
    if (expected === "ok") expect(c.ok).toBe(true);
    else expect(c.ok ? "ok" : c.invalid.problems.join("; ")).toContain(expected);
  });
});

describe("shared readings", () => {
  const now = new Date("2026-01-01T01:00:00Z");
  test.each([
    ["no pause", undefined, false],
    ["a pause with no end", { since: T }, true],
    ["a pause until later", { since: T, until: "2026-01-01T01:00:01Z" }, true],
    ["a pause until now (over)", { since: T, until: "2026-01-01T01:00:00Z" }, false],
    ["a pause until earlier (over)", { since: T, until: "2026-01-01T00:30:00Z" }, false],
  ] as const)("activePause: %s", (_n, pause, active) => {
    expect(activePause({ pause }, now) !== null).toBe(active);
  });
  test("switchoverInProgress: every phase up to promoting", () => {
    const running = ["requested", "draining", "stopping", "catching-up", "promoting"] as const;
    for (const p of running) expect(switchoverInProgress(sw({ phase: p }))).toBe(true);
    for (const p of ["done", "failed", "rolled-back"] as const) expect(switchoverInProgress(sw({ phase: p }))).toBe(false);
    expect(switchoverInProgress(null)).toBe(false);
  });
  test("keeperPriority: absent is 1", () => {
    expect(keeperPriority(undefined)).toBe(1);
    expect(keeperPriority({})).toBe(1);
    expect(keeperPriority({ priority: 0 })).toBe(0);
  });
});
