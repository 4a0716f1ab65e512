/**
 * Story of `stolonctl explain` (and `status --explain`) on a whole local cluster (etcd, three
 * keepers with priorities 1, 2 and 4, two sentinels, a proxy): on a steady cluster it shows
 * nothing to change and the candidate that would win; with both sentinels frozen and the master
 * lost, it shows the election the leader would make, and writes nothing.
 */
import { expect, test } from "bun:test";
import type { ClusterData } from "../../src/cluster/index.ts";
import { readClusterData } from "../harness/builders.ts";
import { waitFor } from "../harness/util.ts";
import { clusterForFile } from "./harness/cluster.ts";
import { runCmd } from "./harness/process.ts";

const PRIORITY: Record<string, number> = { keeper1: 1, keeper2: 2, keeper3: 4 };
const { lc } = clusterForFile("explain", {
  ports: [41000, 44000],
  spec: { initMode: "new", usePgrewind: true },
  keeperArgs: Object.fromEntries(Object.entries(PRIORITY).map(([k, p]) => [k, ["--priority", String(p)]])),
});
const ctl = (...args: string[]) => runCmd("stolonctl", [...lc.common, ...args]);
const cd = (): Promise<ClusterData> => readClusterData(lc.store);

interface Report {
  change: string;
  diff: string[];
  notes: string[];
  candidates: { keeperUid: string; chosen?: boolean; excludedBy?: string; rule?: string }[];
}

test("explain: nothing to change on a steady cluster and the candidate that would win; the election when the master is lost, with nothing written", async () => {
  const c0 = await lc.waitSettled(120_000);
  const old = c0.dbs[c0.cluster.status.master!]!.spec.keeperUID;
  const best = lc.keeperNames.filter((k) => k !== old).sort((a, b) => PRIORITY[b]! - PRIORITY[a]!)[0]!;
  await waitFor("priorities copied", async () => (await cd()).keepers[best]?.status.priority === PRIORITY[best], 20_000, 200);

  const text = await ctl("explain");
  expect(text.stderr).toBe("");
  expect(text.code).toBe(0);
  expect(text.stdout).toContain("empty sentinel memory");
  expect(text.stdout).toContain("=== Candidates for master");
  const steady = JSON.parse((await ctl("status", "--explain", "-f", "json")).stdout) as Report;
  expect(steady.change).not.toBe("decision");
  expect(steady.candidates.find((c) => c.chosen)?.keeperUid).toBe(best);

  // Both sentinels frozen: nobody acts; explain says what the leader would do.
  lc.kill("sentinel1", "SIGSTOP");
  lc.kill("sentinel2", "SIGSTOP");
  try {
    await lc.crashKeeper(old);
    const oldDb = c0.cluster.status.master!;
    // Its info key expires with its lease: from then on the master's keeper is gone.
    await waitFor("the old master's keeper info gone", async () => !(await lc.store.getKeepersInfo()).items[old], 30_000, 200);
    const before = await lc.store.getRawClusterData();
    const r = await ctl("explain", "-f", "json");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.change).toBe("decision");
    expect(report.diff.some((l) => l.startsWith("cluster status.master:") && l.includes(`"${oldDb}"`))).toBe(true);
    expect(report.notes.join("\n")).toContain(best);
    expect(report.candidates.find((c) => c.chosen)?.keeperUid).toBe(best);
    expect(await lc.store.getRawClusterData()).toEqual(before);
  } finally {
    lc.kill("sentinel1", "SIGCONT");
    lc.kill("sentinel2", "SIGCONT");
  }
  await waitFor("the new master", async () => {
    const c = await cd();
    return c.dbs[c.cluster.status.master ?? ""]?.spec.keeperUID === best;
  }, 60_000, 200);
  lc.startKeeper(old);
  await lc.waitSettled(180_000);
}, 300_000);
