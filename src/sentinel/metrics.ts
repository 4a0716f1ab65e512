/**
 * The sentinel's metrics, read from Sentinel.stats() at scrape time (src/lib/metrics.ts has the
 * common ones: cluster identifier, process, event loop, loops).
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { counterOf, gaugeOf } from "../lib/metrics.ts";
import { DECISION_KINDS } from "./decision-kinds.ts";
import type { SentinelStats } from "./sentinel.ts";

const seconds = (ms: number) => ms / 1000;
/** A wall-clock time in unix seconds, 0 for never. */
const unix = (wallMs: number) => wallMs / 1000;

export function registerSentinelMetrics(registry: Registry, sentinel: { stats(): Readonly<SentinelStats> }): void {
  const s = () => sentinel.stats();
  gaugeOf(registry, "stolon_sentinel_last_cluster_check_success_seconds", "When this sentinel's last leader tick succeeded, as seconds since the Unix epoch (0: never)", () =>
    unix(s().lastClusterCheckSuccessWall),
  );
  gaugeOf(registry, "stolon_sentinel_is_leader", "1 while this sentinel is the elected leader, 0 otherwise", () => (s().isLeader ? 1 : 0));
  // stolon's name, kept for its dashboards: a gauge named like a counter (promtool's naming lint flags it).
  gaugeOf(registry, "stolon_sentinel_leader_count", "Times this sentinel was elected leader since it started", () => s().leaderCount);
  new Counter({
    name: "stolon_sentinel_decisions_total",
    help: "Cluster-view writes by this sentinel, by what they decided (one write may count several kinds; status: reported figures only)",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      this.reset();
      const d = s().decisions;
      for (const kind of DECISION_KINDS) this.inc({ kind }, d[kind]);
    },
  });
  counterOf(registry, "stolon_sentinel_failovers_total", "Cluster-view writes by this sentinel that replaced a master by another (not the first election)", () => s().failovers);
  gaugeOf(
    registry,
    "stolon_sentinel_last_failover_duration_seconds",
    "Seconds from the first leader tick that saw the old master failed (or failkeeper marked it) to the write electing the new one, for this sentinel's last failover (no sample when unknown)",
    () => seconds(s().lastFailoverDurationMs),
  );
  gaugeOf(registry, "stolon_sentinel_last_failover_timestamp_seconds", "When this sentinel last wrote a failover, as seconds since the Unix epoch (0: never)", () =>
    unix(s().lastFailoverWall),
  );
  new Gauge({
    name: "stolon_sentinel_keepers",
    help: "Keepers in the cluster view by health, as the leader sees them (0 on a sentinel that does not lead)",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.set({ state: "healthy" }, s().keepersHealthy);
      this.set({ state: "unhealthy" }, s().keepersUnhealthy);
    },
  });
  new Counter({
    name: "stolon_sentinel_switchovers_total",
    help: "Switchovers this sentinel ended, by outcome (done, failed: refused or its master failed, rolled_back)",
    labelNames: ["outcome"],
    registers: [registry],
    collect() {
      this.reset();
      const w = s().switchovers;
      this.inc({ outcome: "done" }, w.done);
      this.inc({ outcome: "failed" }, w.failed);
      this.inc({ outcome: "rolled_back" }, w["rolled-back"]);
    },
  });
  gaugeOf(
    registry,
    "stolon_sentinel_last_switchover_duration_seconds",
    "Seconds from acceptance to done of the last switchover this sentinel completed (no sample before the first)",
    () => seconds(s().lastSwitchoverDurationMs),
  );
  gaugeOf(registry, "stolon_sentinel_cluster_paused", "1 while the cluster data the leader last read is paused (stolonctl pause), 0 otherwise", () => (s().paused ? 1 : 0));
  gaugeOf(registry, "stolon_sentinel_store_round_trip_seconds", "Round trip of this sentinel's last cluster data read from the store, in seconds (no sample before the first)", () =>
    seconds(s().storeRoundTripMs),
  );
}
