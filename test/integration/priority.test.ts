/**
 * Story of failover priority (keeper --priority) on a whole local cluster (etcd, three keepers
 * with priorities 1, 3 and 5, two sentinels, a proxy): when the master is SIGKILLed with both
 * standbys close to it, the standby with the higher priority is elected, and the note names the
 * rule.
 */
import { expect, test } from "bun:test";
import type { ClusterData } from "../../src/cluster/index.ts";
import { readClusterData } from "../harness/builders.ts";
import { waitFor } from "../harness/util.ts";
import { clusterForFile } from "./harness/cluster.ts";

const PRIORITY: Record<string, number> = { keeper1: 1, keeper2: 3, keeper3: 5 };
const { lc, portOf, query: q } = clusterForFile("priority", {
  ports: [38000, 41000],
  spec: { initMode: "new", usePgrewind: true },
  keeperArgs: Object.fromEntries(Object.entries(PRIORITY).map(([k, p]) => [k, ["--priority", String(p)]])),
});
const cd = (): Promise<ClusterData> => readClusterData(lc.store);

test("SIGKILL of the master with both standbys close: the standby with the higher priority is elected, and the note says why", async () => {
  const c0 = await lc.waitSettled(120_000);
  const old = c0.dbs[c0.cluster.status.master!]!.spec.keeperUID;
  // The standbys, highest priority first: the first one must win.
  const [winner, loser] = lc.keeperNames.filter((k) => k !== old).sort((a, b) => PRIORITY[b]! - PRIORITY[a]!) as [string, string];
  // Both standbys have every row (no lag at all), so they are well within one WAL segment.
  await q(lc.ports.proxy, "create table if not exists t (id bigserial primary key)");
  await q(lc.ports.proxy, "insert into t select from generate_series(1, 100)");
  for (const k of [winner, loser])
    await waitFor(`100 rows on ${k}`, async () => (await q<{ n: number }>(portOf(k), "select count(*)::int as n from t"))[0]!.n === 100, 20_000, 100);
  // The priorities are published in the keepers' infos and copied for status.
  await waitFor("priorities in the cluster data", async () => {
    const c = await cd();
    return lc.keeperNames.every((k) => c.keepers[k]?.status.priority === PRIORITY[k]);
  }, 20_000, 200);

  await lc.crashKeeper(old);
  try {
    const c = await waitFor(
      "a new master",
      async () => {
        const c = await cd();
        const k = c.dbs[c.cluster.status.master ?? ""]?.spec.keeperUID;
        return k && k !== old ? c : null;
      },
      60_000,
      100,
    );
    expect(c.dbs[c.cluster.status.master!]!.spec.keeperUID).toBe(winner);
    // The leader logs every decision's notes (lastDecision may already hold a later one).
    const logs = lc.logOf("sentinel1") + lc.logOf("sentinel2");
    expect(logs).toContain(`highest priority ${PRIORITY[winner]}`);
  } finally {
    lc.startKeeper(old);
  }
  await lc.waitSettled(180_000);
}, 300_000);
