/** The keeper's metrics, read at scrape time from a KeeperStatus and the keeper's figures. */
import { describe, expect, test } from "bun:test";
import { Registry } from "prom-client";
import { FakeClock } from "../../../src/lib/clock.ts";
import { registerKeeperMetrics, type KeeperFigures } from "../../../src/keeper/metrics.ts";
import type { KeeperStatus } from "../../../src/keeper/status.ts";
import { masterStatus } from "../../harness/status-builders.ts";

const master: KeeperStatus = masterStatus({ clusterUID: "cu", dbUid: "d1", walPosition: 123456789, clusterDataValidAt: 1_700_000_000_500 });
const figures: KeeperFigures = { sleepIntervalMs: 5000, needsReload: true, needsRestart: false, lastSyncSuccessAt: 1_700_000_001_000, shutdownAt: 0 };

/** The scrape, as `name{labels} value` lines without HELP/TYPE. */
async function scrape(s: KeeperStatus, f: KeeperFigures = figures): Promise<string[]> {
  const registry = new Registry();
  registerKeeperMetrics(registry, () => s, () => f);
  return (await registry.metrics()).split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

describe("registerKeeperMetrics", () => {
  test("a serving master: every metric, stolon's names first", async () => {
    expect(await scrape(master)).toEqual([
      "stolon_keeper_clusterdata_last_valid_update_seconds 1700000000.5",
      'stolon_keeper_target_role{role="master"} 1',
      'stolon_keeper_target_role{role="standby"} 0',
      'stolon_keeper_local_role{role="master"} 1',
      'stolon_keeper_local_role{role="standby"} 0',
      "stolon_keeper_needs_reload 1",
      "stolon_keeper_needs_restart 0",
      "stolon_keeper_last_sync_success_seconds 1700000001",
      "stolon_keeper_sleep_interval 5",
      "stolon_keeper_shutdown_seconds 0",
      "stolon_keeper_postgres_healthy 1",
      "stolon_keeper_converged 1",
      "stolon_keeper_fenced 0",
      "stolon_keeper_serving_primary 1",
      "stolon_keeper_timeline 3",
      "stolon_keeper_wal_position_bytes 123456789",
      "stolon_keeper_replication_lag_bytes 0",
      "stolon_keeper_replication_lag_seconds 0",
      "stolon_keeper_max_standby_lag_bytes 1048576",
    ]);
  });

  test("a standby whose lag is unknown exports no lag sample; a stopped instance has no local role", async () => {
    const lines = await scrape({ ...master, targetRole: "standby", localRole: null, elected: false, replicationLagBytes: null, replicationLagSeconds: null });
    expect(lines).toContain('stolon_keeper_target_role{role="standby"} 1');
    expect(lines).toContain('stolon_keeper_local_role{role="master"} 0');
    expect(lines).toContain('stolon_keeper_local_role{role="standby"} 0');
    expect(lines.filter((l) => l.startsWith("stolon_keeper_replication_lag"))).toEqual([]);
    expect(lines).toContain("stolon_keeper_serving_primary 0");
  });

  test.each([
    ["fenced", { fenced: true }],
    ["its data is not the elected db", { converged: false, holdsDb: false }],
    ["unhealthy", { postgresHealthy: false }],
    ["not elected", { elected: false }],
    ["running as a standby", { localRole: "standby" }],
    ["shutting down", { shuttingDown: true }],
  ] as const)("serving_primary is 0 when %s", async (_name, change) => {
    expect(await scrape({ ...master, ...change })).toContain("stolon_keeper_serving_primary 0");
  });

  test("values follow the keeper between scrapes (read at scrape time), one status() per scrape", async () => {
    const registry = new Registry();
    const clock = new FakeClock();
    let s: KeeperStatus = { ...master, replicationLagBytes: 10 };
    let reads = 0;
    registerKeeperMetrics(registry, () => (reads++, s), () => figures, clock);
    expect(await registry.metrics()).toContain("\nstolon_keeper_replication_lag_bytes 10\n");
    expect(reads).toBe(1);
    s = { ...master, replicationLagBytes: null };
    await clock.advance(1000);
    expect(await registry.metrics()).not.toContain("\nstolon_keeper_replication_lag_bytes ");
    s = { ...master, replicationLagBytes: 20 };
    await clock.advance(1000);
    expect(await registry.metrics()).toContain("\nstolon_keeper_replication_lag_bytes 20\n");
    expect(reads).toBe(3);
  });
});
