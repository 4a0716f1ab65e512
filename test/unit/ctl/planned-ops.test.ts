/**
 * stolonctl switchover / pause / resume and what status shows of them, against the in-memory
 * store: what each writes into the cluster data, what each refuses and with which words.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { ClusterData, Switchover } from "../../../src/cluster/index.ts";
import {
  CANCELLED_UNACCEPTED,
  cancelSwitchover,
  collectStatus,
  pauseCluster,
  renderStatusText,
  requestSwitchover,
  resumeCluster,
  switchover,
  waitSwitchover,
} from "../../../src/ctl/index.ts";
import { FakeClock } from "../../../src/lib/clock.ts";
import { ConfigError, StolonError } from "../../../src/lib/errors.ts";
import { KvStore, MemoryBackend, type Store } from "../../../src/store/index.ts";
import { caught } from "../../contract/caught.ts";
import { readClusterData, steadyCluster } from "../../harness/builders.ts";
import { keeperInfoFor } from "../../harness/info-builders.ts";
import { ScriptedIO } from "../../harness/scripted-io.ts";

let kv: MemoryBackend;
let store: Store;
let io: ScriptedIO;
const clock = new FakeClock();
beforeEach(async () => {
  kv = new MemoryBackend(clock);
  store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  io = new ScriptedIO();
});
afterEach(() => kv.close());

async function seed(change: (cd: ClusterData) => void = () => {}): Promise<void> {
  const cd = steadyCluster();
  cd.changeTime = "2026-11-25T11:00:00.000Z";
  change(cd);
  await store.putClusterData(cd, 0);
}

/** Changes the stored cluster data as another writer (the sentinel) would. */
async function sentinelWrites(change: (cd: ClusterData) => void): Promise<void> {
  const v = (await store.getClusterData())!;
  change(v.clusterData);
  await store.putClusterData(v.clusterData, v.revision);
}

const sw = (over: Partial<Switchover> = {}): Switchover => ({
  id: "sw1",
  requestedAt: "2026-11-25T11:59:00.000Z",
  timeout: "30s",
  drainTimeout: "5s",
  phase: "draining",
  phaseTime: "2026-11-25T11:59:01.000Z",
  steps: [],
  ...over,
});

describe("switchover request", () => {
  test("records a request with the defaults for the sentinel, and says how to follow it", async () => {
    await seed();
    await switchover(store, io, {});
    const cd = await readClusterData(store);
    expect(cd.switchover).toEqual({
      id: "uid00000",
      requestedAt: "2026-11-25T12:00:00.000Z",
      timeout: "30s",
      drainTimeout: "5s",
      phase: "requested",
      phaseTime: "2026-11-25T12:00:00.000Z",
      steps: [],
    });
    expect(io.lines[0]).toBe("switchover uid00000 requested to the best eligible standby (timeout 30s, drain timeout 5s)");
    expect(io.lines[1]).toContain("stolonctl status");
  });

  test("--to names the keeper, and the durations given are kept as given", async () => {
    await seed();
    await requestSwitchover(store, io, { to: "k2", timeout: "1m", drainTimeout: "0" });
    expect((await readClusterData(store)).switchover).toMatchObject({ to: "k2", timeout: "1m", drainTimeout: "0", phase: "requested" });
  });

  test("a finished switchover is replaced by the next request", async () => {
    await seed((cd) => (cd.switchover = sw({ phase: "rolled-back", outcome: "rolled back" })));
    await requestSwitchover(store, io, {});
    expect((await readClusterData(store)).switchover?.id).toBe("uid00000");
  });

  const refusals: [string, (cd: ClusterData) => void, { to?: string }, string, string][] = [
    ["one is in progress", (cd) => (cd.switchover = sw()), {}, "ESWITCHOVERBUSY", "switchover sw1 is already in progress (phase draining since 2026-11-25T11:59:01.000Z)"],
    ["the cluster is paused", (cd) => (cd.pause = { since: "2026-11-25T11:00:00.000Z", reason: "kernel upgrade" }), {}, "EPAUSED", "the cluster is paused (since 2026-11-25T11:00:00.000Z, reason: kernel upgrade"],
    ["the cluster is initializing", (cd) => (cd.cluster.status.phase = "initializing"), {}, "ENOTREADY", "the cluster is still initializing"],
    ["there is no master", (cd) => delete cd.cluster.status.master, {}, "ENOTREADY", "the cluster has no master"],
    ["--to is not a keeper of the cluster", () => {}, { to: "k9" }, "ENOKEEPER", "keeper k9 is not in the cluster (keepers: k1, k2)"],
    ["--to is the master's keeper", () => {}, { to: "k1" }, "EMASTERKEEPER", "keeper k1 already holds the master db m"],
  ];
  for (const [why, change, opts, code, text] of refusals)
    test(`refused when ${why}, and nothing is written`, async () => {
      await seed(change);
      const before = await store.getRawClusterData();
      const err = await caught(requestSwitchover(store, io, opts));
      expect(err).toBeInstanceOf(StolonError);
      expect((err as StolonError).code).toBe(code as StolonError["code"]);
      expect((err as Error).message).toContain(text);
      expect(await store.getRawClusterData()).toEqual(before);
    });

  test("a pause whose --for has passed does not refuse it", async () => {
    await seed((cd) => (cd.pause = { since: "2026-11-25T10:00:00.000Z", until: "2026-11-25T11:00:00.000Z" }));
    await requestSwitchover(store, io, {});
    expect((await readClusterData(store)).switchover?.phase).toBe("requested");
  });

  test("bad options are all named at once", async () => {
    await seed();
    const err = await caught(requestSwitchover(store, io, { to: "K 1", timeout: "100ms", drainTimeout: "soon" }));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      '--timeout: "100ms" is below the minimum of 1s',
      '--drain-timeout: "soon" is not a duration (use Go syntax such as "500ms", "5s", "1m30s", "48h")',
      '--to: "K 1" is not a keeper uid',
    ]);
  });

  test("a request racing another one is checked again on the fresh data and refused", async () => {
    await seed();
    let raced = false;
    const racing: Store = Object.create(store);
    racing.putClusterData = async (cd, rev) => {
      if (!raced) {
        raced = true;
        await sentinelWrites((c) => (c.switchover = sw({ id: "other", phase: "requested" })));
      }
      return store.putClusterData(cd, rev);
    };
    const err = await caught(requestSwitchover(racing, io, {}));
    expect((err as StolonError).code).toBe("ESWITCHOVERBUSY");
    expect((await readClusterData(store)).switchover?.id).toBe("other");
  });
});

describe("switchover --cancel", () => {
  test("a request no sentinel accepted yet ends at once, failed, with the reason", async () => {
    await seed((cd) => (cd.switchover = sw({ phase: "requested", phaseTime: "2026-11-25T11:59:00.000Z" })));
    await cancelSwitchover(store, io);
    const s = (await readClusterData(store)).switchover!;
    expect(s).toMatchObject({ phase: "failed", outcome: CANCELLED_UNACCEPTED, phaseTime: "2026-11-25T12:00:00.000Z" });
    expect(s.steps.at(-1)).toEqual({ time: "2026-11-25T12:00:00.000Z", text: CANCELLED_UNACCEPTED });
    expect(s.cancelRequestedAt).toBeUndefined();
    expect(io.lines).toEqual(["switchover sw1 cancelled: no sentinel had accepted it, nothing was changed"]);
  });

  test("an accepted one gets cancelRequestedAt for the sentinel, once", async () => {
    await seed((cd) => (cd.switchover = sw({ phase: "catching-up", fromDb: "m", toDb: "s" })));
    await cancelSwitchover(store, io);
    expect((await readClusterData(store)).switchover).toMatchObject({ phase: "catching-up", cancelRequestedAt: "2026-11-25T12:00:00.000Z" });
    expect(io.lines[0]).toContain("switchover sw1 (phase catching-up): cancel requested; the leader sentinel rolls it back and db m stays master");
    const before = await store.getRawClusterData();
    await cancelSwitchover(store, io);
    expect(io.lines[1]).toBe("switchover sw1: cancel already requested at 2026-11-25T12:00:00.000Z");
    expect(await store.getRawClusterData()).toEqual(before);
  });

  const refusals: [string, (cd: ClusterData) => void, string][] = [
    ["there was never one", () => {}, "no switchover is in progress"],
    ["the last one ended", (cd) => (cd.switchover = sw({ phase: "done", outcome: "switched over" })), "no switchover is in progress: the last one, sw1, ended done (switched over)"],
    ["the promotion has started", (cd) => (cd.switchover = sw({ phase: "promoting", toDb: "s" })), "switchover sw1 is promoting db s already: too late to cancel"],
  ];
  for (const [why, change, text] of refusals)
    test(`refused when ${why}, and nothing is written`, async () => {
      await seed(change);
      const before = await store.getRawClusterData();
      const err = await caught(cancelSwitchover(store, io));
      expect((err as StolonError).code).toBe("ENOSWITCHOVER");
      expect((err as Error).message).toContain(text);
      expect(await store.getRawClusterData()).toEqual(before);
    });

  test("a sentinel accepting the request meanwhile turns the cancel into a rollback request", async () => {
    await seed((cd) => (cd.switchover = sw({ phase: "requested" })));
    let raced = false;
    const racing: Store = Object.create(store);
    racing.putClusterData = async (cd, rev) => {
      if (!raced) {
        raced = true;
        await sentinelWrites((c) => Object.assign(c.switchover!, { phase: "draining", fromDb: "m", toDb: "s" }));
      }
      return store.putClusterData(cd, rev);
    };
    await cancelSwitchover(racing, io);
    expect((await readClusterData(store)).switchover).toMatchObject({ phase: "draining", cancelRequestedAt: "2026-11-25T12:00:00.000Z" });
  });
});

describe("switchover --wait", () => {
  const fastWait = { deadlineMs: 60_000 };

  test("prints every step once as the sentinel writes them, and the outcome when done", async () => {
    await seed();
    const id = await requestSwitchover(store, io, {});
    const waiting = waitSwitchover(store, io, id, fastWait);
    const steps = [
      { time: "2026-11-25T12:00:00.100Z", text: "accepted: from db m (k1) to db s (k2); proxies hold new clients" },
      { time: "2026-11-25T12:00:00.300Z", text: "drained: every proxy reports its connections closed" },
    ];
    await sentinelWrites((cd) => Object.assign(cd.switchover!, { phase: "draining", steps: steps.slice(0, 1) }));
    await Bun.sleep(20);
    await sentinelWrites((cd) => Object.assign(cd.switchover!, { phase: "stopping", steps }));
    await Bun.sleep(20);
    await sentinelWrites((cd) =>
      Object.assign(cd.switchover!, {
        phase: "done",
        outcome: "switched over from db m (keeper k1) to db s (keeper k2) in 812 ms",
        steps: [...steps, { time: "2026-11-25T12:00:00.900Z", text: "done" }],
      }),
    );
    const s = await waiting;
    expect(s.phase).toBe("done");
    expect(io.lines.slice(1)).toEqual([
      "2026-11-25T12:00:00.100Z  accepted: from db m (k1) to db s (k2); proxies hold new clients",
      "2026-11-25T12:00:00.300Z  drained: every proxy reports its connections closed",
      "2026-11-25T12:00:00.900Z  done",
      "switchover uid00000 done: switched over from db m (keeper k1) to db s (keeper k2) in 812 ms",
    ]);
  });

  for (const phase of ["failed", "rolled-back"] as const)
    test(`exits with an error naming the outcome when the switchover ${phase}`, async () => {
      await seed();
      const id = await requestSwitchover(store, io, {});
      const waiting = caught(waitSwitchover(store, io, id, fastWait));
      await sentinelWrites((cd) => Object.assign(cd.switchover!, { phase, outcome: "the target k2 became unhealthy while catching up" }));
      const err = await waiting;
      expect((err as StolonError).code).toBe("ESWITCHOVERFAILED");
      expect((err as Error).message).toBe(`switchover uid00000 ${phase}: the target k2 became unhealthy while catching up`);
    });

  test("gives up at its deadline, naming the phase (and a missing sentinel while still requested)", async () => {
    await seed();
    const id = await requestSwitchover(store, io, {});
    const err = await caught(waitSwitchover(store, io, id, { deadlineMs: 50 }));
    expect((err as StolonError).code).toBe("ESWITCHOVERWAIT");
    expect((err as Error).message).toContain("it is in phase requested since 2026-11-25T12:00:00.000Z (is a sentinel running?)");
  });

  test("stops when the request is replaced by another", async () => {
    await seed();
    const id = await requestSwitchover(store, io, {});
    const waiting = caught(waitSwitchover(store, io, id, fastWait));
    await sentinelWrites((cd) => (cd.switchover = sw({ id: "newer" })));
    expect((await waiting as Error).message).toBe(`switchover ${id} is no longer in the cluster data (switchover newer replaced it)`);
  });
});

describe("pause and resume", () => {
  test("pause records since, until and reason; status shows them on its first line", async () => {
    await seed();
    await pauseCluster(store, io, { for: "30m", reason: "kernel upgrade on node 1" });
    const cd = await readClusterData(store);
    expect(cd.pause).toEqual({ since: "2026-11-25T12:00:00.000Z", until: "2026-11-25T12:30:00.000Z", reason: "kernel upgrade on node 1" });
    expect(io.lines[0]).toStartWith("cluster paused: since 2026-11-25T12:00:00.000Z, reason: kernel upgrade on node 1, until 2026-11-25T12:30:00.000Z");
    const text = renderStatusText(await collectStatus(store, store.sentinelElection(5000, clock), io.now()));
    expect(text.split("\n")[0]).toBe(
      "PAUSED (maintenance mode: no failover, demotion or removal) since 2026-11-25T12:00:00.000Z, reason: kernel upgrade on node 1, until 2026-11-25T12:30:00.000Z",
    );
  });

  test("pausing again keeps since and changes the end and the reason", async () => {
    await seed((cd) => (cd.pause = { since: "2026-11-25T11:00:00.000Z", until: "2026-11-25T12:10:00.000Z" }));
    await pauseCluster(store, io, { reason: "longer" });
    expect((await readClusterData(store)).pause).toEqual({ since: "2026-11-25T11:00:00.000Z", reason: "longer" });
    expect(io.lines[0]).toStartWith("cluster pause updated:");
  });

  test("bad --for and --reason are all named at once", async () => {
    await seed();
    const err = await caught(pauseCluster(store, io, { for: "-5m", reason: "two\nlines" }));
    expect((err as ConfigError).problems).toEqual(['--for: must not be negative, got "-5m"', "--reason: must not hold control characters (newlines, tabs, escapes)"]);
    expect((await caught(pauseCluster(store, io, { for: "500ms", reason: "x".repeat(201) })) as ConfigError).problems).toEqual([
      '--for: "500ms" is below the minimum of 1s',
      "--reason: 201 characters, at most 200",
    ]);
  });

  test("pause is refused while a switchover is under way", async () => {
    await seed((cd) => (cd.switchover = sw({ phase: "catching-up" })));
    const err = await caught(pauseCluster(store, io, {}));
    expect((err as StolonError).code).toBe("ESWITCHOVERBUSY");
    expect((await readClusterData(store)).pause).toBeUndefined();
  });

  test("resume clears the pause; on a cluster not paused it writes nothing", async () => {
    await seed((cd) => (cd.pause = { since: "2026-11-25T11:00:00.000Z" }));
    await resumeCluster(store, io);
    expect((await readClusterData(store)).pause).toBeNull();
    expect(io.lines[0]).toStartWith('cluster resumed (was paused since 2026-11-25T11:00:00.000Z, no end set ("stolonctl resume" ends it))');
    const before = await store.getRawClusterData();
    await resumeCluster(store, io);
    expect(io.lines[1]).toBe("the cluster is not paused: nothing to resume");
    expect(await store.getRawClusterData()).toEqual(before);
  });
});

describe("status of planned operations", () => {
  test("a pause whose end has passed is shown as ended, not as paused", async () => {
    await seed((cd) => (cd.pause = { since: "2026-11-25T10:00:00.000Z", until: "2026-11-25T11:00:00.000Z" }));
    const r = await collectStatus(store, store.sentinelElection(5000, clock), io.now());
    expect(r.pause?.ended).toBe(true);
    expect(renderStatusText(r).split("\n")[0]).toStartWith("PAUSE ENDED at 2026-11-25T11:00:00.000Z");
  });

  test("the last switchover: phase and outcome in text and JSON", async () => {
    const last = sw({ phase: "done", fromDb: "m", toDb: "s", outcome: "switched over from db m (keeper k1) to db s (keeper k2) in 640 ms" });
    await seed((cd) => (cd.switchover = last));
    const r = await collectStatus(store, store.sentinelElection(5000, clock), io.now());
    expect(r.switchover).toEqual(last);
    expect(r.pause).toBeNull();
    const text = renderStatusText(r);
    expect(text.split("\n")[0]).toBe("=== Active sentinels ===");
    expect(text).toContain(
      [
        "=== Switchover ===",
        "Switchover sw1 to the best eligible standby, requested 2026-11-25T11:59:00.000Z: phase done since 2026-11-25T11:59:01.000Z",
        "From db m to db s",
        "Outcome: switched over from db m (keeper k1) to db s (keeper k2) in 640 ms",
      ].join("\n"),
    );
  });

  test("a switchover under way shows its last step", async () => {
    await seed((cd) => (cd.switchover = sw({ to: "k2", phase: "catching-up", steps: [{ time: "2026-11-25T11:59:02.000Z", text: "waiting for db s to receive past 0/3000028" }] })));
    const text = renderStatusText(await collectStatus(store, store.sentinelElection(5000, clock), io.now()));
    expect(text).toContain("Switchover sw1 to keeper k2, requested 2026-11-25T11:59:00.000Z: phase catching-up since 2026-11-25T11:59:01.000Z");
    expect(text).toContain("Last step: 2026-11-25T11:59:02.000Z  waiting for db s to receive past 0/3000028");
  });

  test("each keeper's priority: from its info, else as the sentinel copied it, in JSON and in the text table", async () => {
    await seed((cd) => (cd.keepers.k1!.status.priority = 3));
    const cd = await readClusterData(store);
    await store.setKeeperInfo(keeperInfoFor(cd, "k2", { priority: 0 }), 30_000);
    const r = await collectStatus(store, store.sentinelElection(5000, clock), io.now());
    expect(r.keepers.map((k) => [k.uid, k.priority])).toEqual([
      ["k1", 3],
      ["k2", 0],
    ]);
    const text = renderStatusText(r);
    expect(text).toMatch(/UID +HEALTHY +PUBLISHING +PG LISTENADDRESS +PG HEALTHY +ROLE +PRIORITY +LAG/);
    expect(text).toMatch(/\nk2 +yes +yes +127\.0\.0\.1:5432 +yes +standby +0 +/);
  });
});
