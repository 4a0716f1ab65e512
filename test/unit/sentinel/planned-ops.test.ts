/**
 * What the sentinel counts of planned operations (issue 17): the decision kinds of a switchover
 * and a pause, a switchover's promotion not counted as a failover, a master stopped on purpose not
 * seen failed, the end of a switchover, and the metrics that export them.
 */
import { describe, expect, test } from "bun:test";
import type { ClusterData, Switchover } from "../../../src/cluster/index.ts";
import { createComponentMetrics } from "../../../src/lib/metrics.ts";
import { DECISION_KINDS, registerSentinelMetrics, type SentinelStats } from "../../../src/sentinel/index.ts";
import { decisionKinds, isFailover, masterLooksFailed, switchoverEnded } from "../../../src/sentinel/decision-kinds.ts";
import { deepFreeze, steadyCluster } from "../../harness/builders.ts";

const T0 = "2026-12-01T12:00:00.000Z";
const sw = (o: Partial<Switchover> = {}): Switchover => ({
  id: "sw1",
  requestedAt: T0,
  timeout: "30s",
  drainTimeout: "5s",
  phase: "draining",
  phaseTime: T0,
  acceptedAt: T0,
  fromDb: "m",
  toDb: "s",
  steps: [],
  ...o,
});
function edited(edit: (cd: ClusterData) => void, from: ClusterData = deepFreeze(steadyCluster())): ClusterData {
  const cd = structuredClone(from);
  edit(cd);
  return deepFreeze(cd);
}
/** m -> s promoted by the switchover, as decide() writes it. */
function promoted(cd: ClusterData): void {
  cd.cluster.status.master = "s";
  cd.dbs.s!.spec.role = "master";
  cd.dbs.s!.spec.followConfig = null;
  cd.dbs.m!.spec.role = "standby";
  cd.dbs.m!.spec.followConfig = { type: "internal", dbuid: "s" };
  delete cd.proxy.spec.masterDbUid;
  cd.proxy.generation++;
  cd.switchover = sw({ phase: "promoting", phaseTime: "2026-12-01T12:00:01.000Z" });
}

describe("decision kinds", () => {
  test("a switchover moving and a pause set or cleared have kinds of their own", () => {
    const before = edited(() => {});
    expect(decisionKinds(before, edited((cd) => (cd.switchover = sw())), "decision")).toEqual(["switchover"]);
    expect(decisionKinds(before, edited((cd) => (cd.pause = { since: T0 })), "decision")).toEqual(["pause"]);
    const paused = edited((cd) => (cd.pause = { since: T0 }));
    expect(decisionKinds(paused, edited((cd) => delete cd.pause, paused), "decision")).toEqual(["pause"]);
    expect(decisionKinds(before, edited((cd) => (cd.proxy.spec.hold = { id: "sw1", since: T0, drainTimeout: "5s" })), "decision")).toEqual(["proxy"]);
    expect(DECISION_KINDS).toContain("switchover");
    expect(DECISION_KINDS).toContain("pause");
  });
});

describe("switchovers are not failovers", () => {
  test("the promotion write of a switchover is not counted as a failover; an election is", () => {
    const before = edited((cd) => (cd.switchover = sw({ phase: "catching-up" })));
    const after = edited(promoted, before);
    expect(isFailover(before, after)).toBe(false);
    const plain = edited(() => {});
    const elected = edited((cd) => {
      promoted(cd);
      delete cd.switchover;
    }, plain);
    expect(isFailover(plain, elected)).toBe(true);
  });

  test("a master stopped for the switchover is not seen failed while its keeper is healthy", () => {
    const stopped = (cd: ClusterData) => {
      cd.dbs.m!.spec.stopForSwitchover = "sw1";
      cd.dbs.m!.status.healthy = false;
    };
    const before = edited(stopped);
    expect(masterLooksFailed(before, before)).toBeNull();
    const keeperGone = edited((cd) => (cd.keepers.k1!.status.healthy = false), before);
    expect(masterLooksFailed(before, keeperGone)?.why).toBe("keeper k1 is unhealthy");
  });

  test("switchoverEnded: once, with the duration from acceptance for done", () => {
    const promoting = edited((cd) => (cd.switchover = sw({ phase: "promoting" })));
    const done = edited((cd) => (cd.switchover = sw({ phase: "done", phaseTime: "2026-12-01T12:00:00.750Z" })), promoting);
    expect(switchoverEnded(promoting, done)).toEqual({ outcome: "done", durationMs: 750 });
    expect(switchoverEnded(done, done)).toBeNull();
    const rolled = edited((cd) => (cd.switchover = sw({ phase: "rolled-back" })), promoting);
    expect(switchoverEnded(promoting, rolled)?.outcome).toBe("rolled-back");
    expect(switchoverEnded(promoting, promoting)).toBeNull();
  });
});

test("metrics: switchovers by outcome, the last one's duration, paused", async () => {
  const stats: SentinelStats = {
    isLeader: true,
    leaderCount: 1,
    lastClusterCheckSuccessWall: 0,
    decisions: Object.fromEntries(DECISION_KINDS.map((k) => [k, 0])) as SentinelStats["decisions"],
    failovers: 0,
    lastFailoverDurationMs: NaN,
    lastFailoverWall: 0,
    keepersHealthy: 0,
    keepersUnhealthy: 0,
    storeRoundTripMs: NaN,
    switchovers: { done: 2, failed: 1, "rolled-back": 3 },
    lastSwitchoverDurationMs: NaN,
    paused: true,
  };
  const m = createComponentMetrics("sentinel", "c1");
  registerSentinelMetrics(m.registry, { stats: () => stats });
  const lines = async () => (await m.registry.metrics()).split("\n").filter((l) => l !== "" && !l.startsWith("#"));
  const first = await lines();
  expect(first).toEqual(
    expect.arrayContaining([
      'stolon_sentinel_switchovers_total{outcome="done"} 2',
      'stolon_sentinel_switchovers_total{outcome="failed"} 1',
      'stolon_sentinel_switchovers_total{outcome="rolled_back"} 3',
      'stolon_sentinel_decisions_total{kind="switchover"} 0',
      "stolon_sentinel_cluster_paused 1",
    ]),
  );
  expect(first.filter((l) => l.startsWith("stolon_sentinel_last_switchover_duration_seconds"))).toEqual([]);
  stats.lastSwitchoverDurationMs = 820;
  stats.paused = false;
  expect(await lines()).toEqual(expect.arrayContaining(["stolon_sentinel_last_switchover_duration_seconds 0.82", "stolon_sentinel_cluster_paused 0"]));
});
