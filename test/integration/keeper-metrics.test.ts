/**
 * The keepers' admin listeners on a real three-keeper cluster: /metrics carries every keeper
 * metric with the master's and the standbys' roles, /health and /ready answer 200 once the
 * cluster has settled, `promtool check metrics` accepts what each keeper exports, and the lag
 * figures follow a real lag (a standby whose WAL replay is paused while the master writes).
 */
import { describe, expect, test } from "bun:test";
import { clusterForFile } from "./harness/cluster.ts";
import { waitFor } from "../harness/util.ts";
import { checkMetrics, sampleOf } from "./harness/promtool.ts";

const { lc, portOf, query: sql } = clusterForFile("keeper-metrics", { ports: [17000, 20000], spec: { initMode: "new" } });

/** Every keeper metric of the design: none may be missing from a keeper's /metrics. */
const KEEPER_METRICS = [
  "stolon_keeper_clusterdata_last_valid_update_seconds",
  "stolon_keeper_target_role",
  "stolon_keeper_local_role",
  "stolon_keeper_needs_reload",
  "stolon_keeper_needs_restart",
  "stolon_keeper_last_sync_success_seconds",
  "stolon_keeper_sleep_interval",
  "stolon_keeper_shutdown_seconds",
  "stolon_keeper_postgres_healthy",
  "stolon_keeper_converged",
  "stolon_keeper_fenced",
  "stolon_keeper_serving_primary",
  "stolon_keeper_timeline",
  "stolon_keeper_wal_position_bytes",
  "stolon_keeper_replication_lag_bytes",
  "stolon_keeper_replication_lag_seconds",
  "stolon_keeper_max_standby_lag_bytes",
];

async function scrape(keeper: string): Promise<string> {
  const r = await fetch(`${lc.adminUrl(keeper)}/metrics`, { signal: AbortSignal.timeout(5000) });
  expect(r.status).toBe(200);
  return r.text();
}

/** The value of one sample (`name` or `name{labels}` exactly as exported), or null when absent. */
function sample(body: string, series: string): number | null {
  const v = sampleOf(body, series);
  return Number.isNaN(v) ? null : v;
}

/** What a keeper's metrics say, in the few numbers this test looks at. */
async function figures(keeper: string) {
  const b = await scrape(keeper);
  return {
    body: b,
    targetMaster: sample(b, 'stolon_keeper_target_role{role="master"}'),
    targetStandby: sample(b, 'stolon_keeper_target_role{role="standby"}'),
    localMaster: sample(b, 'stolon_keeper_local_role{role="master"}'),
    localStandby: sample(b, 'stolon_keeper_local_role{role="standby"}'),
    servingPrimary: sample(b, "stolon_keeper_serving_primary"),
    healthy: sample(b, "stolon_keeper_postgres_healthy"),
    converged: sample(b, "stolon_keeper_converged"),
    fenced: sample(b, "stolon_keeper_fenced"),
    lagBytes: sample(b, "stolon_keeper_replication_lag_bytes"),
    lagSeconds: sample(b, "stolon_keeper_replication_lag_seconds"),
  };
}

async function status(keeper: string, path: string): Promise<number> {
  const r = await fetch(`${lc.adminUrl(keeper)}${path}`, { signal: AbortSignal.timeout(5000) });
  await r.arrayBuffer();
  return r.status;
}


let masterKeeper = "";
let standbys: string[] = [];

describe("keeper metrics and health", () => {
  test("a settled cluster: every keeper metric, the master's and the standbys' roles, /health and /ready 200, promtool accepts each /metrics", async () => {
    const cd = await lc.waitSettled(120_000);
    masterKeeper = cd.dbs[cd.cluster.status.master!]!.spec.keeperUID;
    standbys = lc.keeperNames.filter((k) => k !== masterKeeper);
    expect(standbys).toHaveLength(2);

    // Until each keeper has seen the settled view and a state answer (a report cycle or two).
    for (const k of lc.keeperNames) {
      const isMaster = k === masterKeeper;
      await waitFor(
        `${k}'s metrics say ${isMaster ? "master" : "standby"}, healthy and converged`,
        async () => {
          const f = await figures(k);
          return (
            f.targetMaster === (isMaster ? 1 : 0) &&
            f.targetStandby === (isMaster ? 0 : 1) &&
            f.localMaster === (isMaster ? 1 : 0) &&
            f.localStandby === (isMaster ? 0 : 1) &&
            f.healthy === 1 &&
            f.converged === 1 &&
            f.fenced === 0 &&
            f.servingPrimary === (isMaster ? 1 : 0) &&
            // A standby's lag is known once the sentinel has copied the master's position into the view.
            f.lagBytes !== null &&
            f.lagSeconds !== null
          );
        },
        30_000,
        200,
      );
    }

    for (const k of lc.keeperNames) {
      const b = await scrape(k);
      for (const name of KEEPER_METRICS) expect(b, `${k} exports ${name}`).toContain(`\n# TYPE ${name} gauge\n`);
      expect(sample(b, 'stolon_cluster_identifier{cluster_name="demo",component="keeper"}')).toBe(1);
      for (const loop of ["reconcile", "report", "fence"]) expect(sample(b, `stolon_loop_ticks_total{loop="${loop}"}`)).toBeGreaterThan(0);
      expect(sample(b, "stolon_keeper_timeline")).toBeGreaterThanOrEqual(1);
      expect(sample(b, "stolon_keeper_wal_position_bytes")).toBeGreaterThan(0);
      expect(sample(b, "stolon_keeper_sleep_interval")).toBe(1);
      expect(sample(b, "stolon_keeper_shutdown_seconds")).toBe(0);
      expect(sample(b, "stolon_keeper_max_standby_lag_bytes")).toBe(1024 * 1024);
      const now = Date.now() / 1000;
      expect(sample(b, "stolon_keeper_last_sync_success_seconds")).toBeWithin(now - 60, now + 1);
      expect(sample(b, "stolon_keeper_clusterdata_last_valid_update_seconds")).toBeWithin(now - 60, now + 1);
      if (k === masterKeeper) {
        expect(sample(b, "stolon_keeper_replication_lag_bytes")).toBe(0);
        expect(sample(b, "stolon_keeper_replication_lag_seconds")).toBe(0);
      }

      expect(await status(k, "/health"), `${k} /health`).toBe(200);
      expect(await status(k, "/ready"), `${k} /ready`).toBe(200);
      expect((await checkMetrics(b)).findings, `promtool check metrics on ${k}'s /metrics`).toEqual([]);
    }
  }, 180_000);

  test("a standby whose replay is paused while the master writes shows a lag in bytes and seconds, back to 0 once it replays", async () => {
    const k = standbys[0]!;
    // A transaction replayed first: its commit time is what the delay is measured from (a standby
    // that has replayed none since it started has no such time, and its delay is unknown).
    await sql(portOf(masterKeeper), "create table lag_probe (i int)");
    await waitFor(`lag_probe on ${k}`, async () => (await sql(portOf(k), "select to_regclass('lag_probe') is not null as ok"))[0]?.ok === true, 20_000, 100);
    await sql(portOf(k), "select pg_wal_replay_pause()");
    try {
      let last = {};
      await waitFor(
        `${k}'s lag in bytes and seconds above 0`,
        async () => {
          await sql(portOf(masterKeeper), "insert into lag_probe select generate_series(1, 1000)");
          const { body: _, ...f } = await figures(k);
          last = f;
          return (f.lagBytes ?? 0) > 0 && (f.lagSeconds ?? 0) > 0 ? f : null;
        },
        30_000,
        300,
      ).catch((err) => {
        throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}`);
      });
      // Still ready: a lagging standby is doing its job (it is the Patroni /replica?lag= that bounds lag).
      expect(await status(k, "/ready")).toBe(200);
    } finally {
      await sql(portOf(k), "select pg_wal_replay_resume()");
    }
    await waitFor(
      `${k}'s lag back to 0`,
      async () => {
        const f = await figures(k);
        return f.lagBytes === 0 && f.lagSeconds === 0;
      },
      30_000,
      200,
    );
  }, 90_000);
});
