/**
 * The sentinels' and the proxy's admin listeners on a real cluster: their /metrics pass
 * `promtool check metrics` (the one accepted finding is stolon's own stolon_sentinel_leader_count,
 * a gauge named like a counter, kept for stolon's dashboards), exactly one sentinel says it
 * leads, the proxy is ready and its connection and byte counters move when a client runs a query
 * through it.
 */
import { describe, expect, test } from "bun:test";
import { clusterForFile } from "./harness/cluster.ts";
import { waitFor } from "../harness/util.ts";
import { expectCleanMetrics, sampleOf } from "./harness/promtool.ts";

const { lc, sqlTo } = clusterForFile("sentinel-proxy-metrics", { ports: [47000, 50000], keepers: 2, spec: { initMode: "new" } });

async function metricsOf(name: string): Promise<string> {
  const r = await fetch(`${lc.adminUrl(name)}/metrics`);
  expect(r.status).toBe(200);
  return r.text();
}

const sample = sampleOf;

describe("sentinel and proxy metrics", () => {
  test("every sentinel's and the proxy's /metrics pass promtool check metrics", async () => {
    await lc.waitSettled(90_000);
    for (const name of ["sentinel1", "sentinel2", "proxy"]) {
      const text = await metricsOf(name);
      expect(text).toContain(`stolon_cluster_identifier{cluster_name="${lc.cluster}",component="${name.replace(/\d$/, "")}"} 1`);
      await expectCleanMetrics(text);
    }
  }, 120_000);

  test("exactly one sentinel is the leader; both are live and ready", async () => {
    await waitFor("one leader sentinel in the metrics", async () => {
      const leaders = await Promise.all(["sentinel1", "sentinel2"].map(async (n) => sample(await metricsOf(n), "stolon_sentinel_is_leader")));
      return leaders.sort().join(",") === "0,1";
    }, 30_000, 200);
    let leaderText = "";
    for (const n of ["sentinel1", "sentinel2"]) {
      const text = await metricsOf(n);
      if (sample(text, "stolon_sentinel_is_leader") === 1) leaderText = text;
      expect((await fetch(`${lc.adminUrl(n)}/health`)).status).toBe(200);
      expect((await fetch(`${lc.adminUrl(n)}/ready`)).status).toBe(200);
    }
    expect(sample(leaderText, "stolon_sentinel_leader_count")).toBeGreaterThanOrEqual(1);
    expect(sample(leaderText, 'stolon_sentinel_keepers{state="healthy"}')).toBe(2);
    expect(sample(leaderText, 'stolon_sentinel_decisions_total{kind="master"}')).toBeGreaterThanOrEqual(1);
    expect(sample(leaderText, "stolon_sentinel_last_cluster_check_success_seconds")).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(sample(leaderText, "stolon_sentinel_store_round_trip_seconds")).toBeGreaterThan(0);
  }, 60_000);

  test("the proxy is ready, and its connection and byte counters move with a query through it", async () => {
    const ready = await fetch(`${lc.adminUrl("proxy")}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { ready: { reason: string } }).ready.reason).toContain("routing to master db");
    const before = await metricsOf("proxy");
    expect(sample(before, "stolon_proxy_health")).toBe(1);
    expect(sample(before, "stolon_proxy_fenced")).toBe(0);
    const sql = sqlTo(lc.ports.proxy);
    try {
      const rows = await sql`select repeat('x', 100000) as big`;
      expect(rows[0]!.big).toHaveLength(100_000);
      const during = await metricsOf("proxy");
      expect(sample(during, "stolon_proxy_connections_active")).toBeGreaterThanOrEqual(1);
    } finally {
      await sql.end({ timeout: 1 });
    }
    const after = await metricsOf("proxy");
    expect(sample(after, "stolon_proxy_connections_total")).toBeGreaterThan(sample(before, "stolon_proxy_connections_total"));
    expect(sample(after, "stolon_proxy_server_to_client_bytes_total") - sample(before, "stolon_proxy_server_to_client_bytes_total")).toBeGreaterThan(100_000);
    expect(sample(after, "stolon_proxy_client_to_server_bytes_total")).toBeGreaterThan(sample(before, "stolon_proxy_client_to_server_bytes_total"));
  }, 60_000);
});
