/**
 * `stolonctl status` while a pitr restore runs or after it failed: each keeper's KeeperInfo.init
 * as one line (phase, since, detail, replay progress), the last lines of a failed command's
 * output below it, and nothing a hostile info holds reaches the terminal as a control character.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { newClusterData, type KeeperInfo, type KeeperInit } from "../../../src/cluster/index.ts";
import { collectStatus, INIT_OUTPUT_LINES, initLines, printable, renderStatusText, type StatusReport } from "../../../src/ctl/index.ts";
import { FakeClock } from "../../../src/lib/clock.ts";
import { KvElection, KvStore, MemoryBackend, type Store } from "../../../src/store/index.ts";

const SINCE = "2026-12-01T12:00:00Z";
const keeper = (uid: string, init: KeeperInit | null) => ({ uid, init }) as StatusReport["keepers"][number];

describe("initLines", () => {
  const cases: [string, KeeperInit, string[]][] = [
    ["restoring", { dbUid: "d1", phase: "restoring", since: SINCE, detail: "running dataRestoreCommand" }, [`keeper k1, db d1: restoring since ${SINCE}: running dataRestoreCommand`]],
    [
      "recovering, with replay progress",
      { dbUid: "d1", phase: "recovering", since: SINCE, detail: "archive recovery to the target", replayedXLogPos: 0x1_0300_0028, lastReplayTime: "2026-12-01T10:59:58Z" },
      [`keeper k1, db d1: recovering since ${SINCE}: archive recovery to the target (replayed to 1/3000028, last replayed transaction 2026-12-01T10:59:58Z)`],
    ],
    [
      "failed, with the output's last lines",
      { dbUid: "d1", phase: "failed", since: SINCE, detail: "dataRestoreCommand exited with code 2", output: "tar: base.tar: Cannot open\n\ntar: Error is not recoverable: exiting now\n" },
      [`keeper k1, db d1: FAILED since ${SINCE}: dataRestoreCommand exited with code 2`, "  | tar: base.tar: Cannot open", "  | tar: Error is not recoverable: exiting now"],
    ],
    [
      "failed, a long output cut to its last lines",
      { dbUid: "d1", phase: "failed", since: SINCE, detail: "exit 1", output: Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n") },
      [`keeper k1, db d1: FAILED since ${SINCE}: exit 1`, ...Array.from({ length: INIT_OUTPUT_LINES }, (_, i) => `  | line ${50 - INIT_OUTPUT_LINES + i}`)],
    ],
    [
      "hostile text: control characters escaped",
      { dbUid: "d1", phase: "failed", since: SINCE, detail: "exit 1\r\u001b[2J", output: "\u001b]0;owned\u0007\tok\u009b31m" },
      [`keeper k1, db d1: FAILED since ${SINCE}: exit 1\\x0d\\x1b[2J`, "  | \\x1b]0;owned\\x07\tok\\x9b31m"],
    ],
  ];
  test.each(cases)("%s", (_name, init, want) => {
    expect(initLines([keeper("k0", null), keeper("k1", init)])).toEqual(want);
  });

  test("printable leaves ordinary text and tabs alone", () => {
    expect(printable("tar: x\tété ✓")).toBe("tar: x\tété ✓");
    expect(printable("\u0000\u007f")).toBe("\\x00\\x7f");
  });
});

describe("collectStatus with keepers initializing", () => {
  let kv: MemoryBackend;
  let store: Store;
  const clock = new FakeClock();
  beforeEach(() => {
    kv = new MemoryBackend(clock);
    store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  });
  afterEach(() => kv.close());

  test("each keeper's init is in the report and in its own section of the text; an invalid one is named, not shown", async () => {
    await store.putClusterData(newClusterData("cccc0001", { initMode: "pitr", pitrConfig: { dataRestoreCommand: "x" } }, new Date()), 0);
    const info = (uid: string, init?: unknown) =>
      store.setKeeperInfo(
        { infoUID: "i", uid, clusterUID: "cccc0001", bootUUID: "b", postgresBinaryVersion: { Maj: 15, Min: 4 }, postgresState: null, ...(init ? { init } : {}) } as KeeperInfo,
        20_000,
      );
    const failed: KeeperInit = { dbUid: "d1", phase: "failed", since: SINCE, detail: "dataRestoreCommand exited with code 2", output: "no such file\n" };
    await info("k1", failed);
    await info("k2");
    await info("k3", { ...failed, phase: "exploded" });
    const r = await collectStatus(store, new KvElection(kv, "stolon/cluster/c1/sentinel-leader", clock, 20_000));
    expect(r.keepers.map((k) => [k.uid, k.init])).toEqual([
      ["k1", failed],
      ["k2", null],
    ]);
    const text = renderStatusText(r);
    expect(text).toContain(`=== Initialization (pitr restore) ===\nkeeper k1, db d1: FAILED since ${SINCE}: dataRestoreCommand exited with code 2\n  | no such file`);
    expect(text).toContain(`keeper info "k3" ignored (treated as absent): init.phase: must be one of`);
    await info("k1");
    expect(renderStatusText(await collectStatus(store, new KvElection(kv, "stolon/cluster/c1/sentinel-leader", clock, 20_000)))).not.toContain("Initialization");
  });
});
