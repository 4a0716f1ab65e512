/**
 * The sentinel's and the proxy's metrics as scraped: every name of the shared design, read from
 * the components' plain numbers at scrape time; an unknown figure exports no sample.
 */
import { expect, test } from "bun:test";
import { createComponentMetrics } from "../../../src/lib/metrics.ts";
import { registerProxyMetrics, type Proxy } from "../../../src/proxy/index.ts";
import { DECISION_KINDS, registerSentinelMetrics, type SentinelStats } from "../../../src/sentinel/index.ts";

const lines = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));

test("sentinel: every metric, read at scrape time; no failover yet means no duration sample", async () => {
  const stats: SentinelStats = {
    isLeader: true,
    leaderCount: 2,
    lastClusterCheckSuccessWall: 1_700_000_000_500,
    decisions: Object.fromEntries(DECISION_KINDS.map((k, i) => [k, i])) as SentinelStats["decisions"],
    failovers: 0,
    lastFailoverDurationMs: NaN,
    lastFailoverWall: 0,
    keepersHealthy: 2,
    keepersUnhealthy: 1,
    storeRoundTripMs: 3,
    switchovers: { done: 0, failed: 0, "rolled-back": 0 },
    lastSwitchoverDurationMs: NaN,
    paused: false,
  };
  const m = createComponentMetrics("sentinel", "c1");
  registerSentinelMetrics(m.registry, { stats: () => stats });
  const first = lines(await m.registry.metrics());
  expect(first).toEqual(
    expect.arrayContaining([
      "stolon_sentinel_is_leader 1",
      "stolon_sentinel_leader_count 2",
      "stolon_sentinel_last_cluster_check_success_seconds 1700000000.5",
      'stolon_sentinel_decisions_total{kind="master"} 0',
      'stolon_sentinel_decisions_total{kind="status"} 6',
      "stolon_sentinel_failovers_total 0",
      "stolon_sentinel_last_failover_timestamp_seconds 0",
      'stolon_sentinel_keepers{state="healthy"} 2',
      'stolon_sentinel_keepers{state="unhealthy"} 1',
      "stolon_sentinel_store_round_trip_seconds 0.003",
    ]),
  );
  expect(first.filter((l) => l.startsWith("stolon_sentinel_last_failover_duration_seconds"))).toEqual([]);
  stats.failovers = 1;
  stats.lastFailoverDurationMs = 1500;
  stats.isLeader = false;
  const second = lines(await m.registry.metrics());
  expect(second).toEqual(expect.arrayContaining(["stolon_sentinel_failovers_total 1", "stolon_sentinel_last_failover_duration_seconds 1.5", "stolon_sentinel_is_leader 0"]));
});

test("proxy: every metric, from the Forwarder's counters at scrape time", async () => {
  const forwarder = { accepted: 5, cut: 2, refused: 1, clientToServerBytes: 100, serverToClientBytes: 2000, targetChanges: 3, connectionCount: 4, heldCount: 1, holdId: null, drainingCount: 0, drained: 0, drainCut: 0 };
  const proxy = { forwarder, serving: true, isFenced: false, lastValidClusterDataAt: 1_700_000_000_000 } as unknown as Proxy;
  const m = createComponentMetrics("proxy", "c1");
  registerProxyMetrics(m.registry, proxy);
  expect(lines(await m.registry.metrics())).toEqual(
    expect.arrayContaining([
      "stolon_proxy_health 1",
      "stolon_proxy_clusterdata_last_valid_update_seconds 1700000000",
      "stolon_proxy_connections_active 3",
      "stolon_proxy_connections_held 1",
      "stolon_proxy_connections_total 5",
      "stolon_proxy_connections_cut_total 2",
      "stolon_proxy_connections_refused_total 1",
      "stolon_proxy_client_to_server_bytes_total 100",
      "stolon_proxy_server_to_client_bytes_total 2000",
      "stolon_proxy_target_changes_total 3",
      "stolon_proxy_fenced 0",
    ]),
  );
  forwarder.accepted = 6;
  expect(lines(await m.registry.metrics())).toContain("stolon_proxy_connections_total 6");
});

test("proxy with --read-only-port: the same counters under stolon_proxy_read_only_*, the eligible standbys and the fallback", async () => {
  const counters = (n: number) => ({ accepted: n, cut: 1, refused: 0, clientToServerBytes: 10, serverToClientBytes: 20, targetChanges: 2, connectionCount: n, heldCount: 0, holdId: null, drainingCount: 0, drained: 0, drainCut: 0 });
  const ro = { forwarder: { ...counters(7), targets: [{ dbUid: "s1" }, { dbUid: "s2" }] }, lastRoute: { fallback: null } };
  const proxy = { forwarder: counters(3), readOnly: ro, serving: true, isFenced: false, lastValidClusterDataAt: 0 } as unknown as Proxy;
  const m = createComponentMetrics("proxy", "c1");
  registerProxyMetrics(m.registry, proxy);
  const out = lines(await m.registry.metrics());
  expect(out).toEqual(
    expect.arrayContaining([
      "stolon_proxy_connections_total 3",
      "stolon_proxy_read_only_connections_total 7",
      "stolon_proxy_read_only_connections_active 7",
      "stolon_proxy_read_only_connections_cut_total 1",
      "stolon_proxy_read_only_target_changes_total 2",
      "stolon_proxy_read_only_standbys_eligible 2",
      "stolon_proxy_read_only_fallback_master 0",
    ]),
  );
  ro.lastRoute.fallback = "master" as never;
  expect(lines(await m.registry.metrics())).toEqual(expect.arrayContaining(["stolon_proxy_read_only_standbys_eligible 0", "stolon_proxy_read_only_fallback_master 1"]));
});
