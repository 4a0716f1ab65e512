/**
 * Prometheus metrics on prom-client: one Registry per process, created with the component's
 * identity. What every component exports is registered here:
 *
 *  - stolon_cluster_identifier{cluster_name,component} 1 (stolon's: joins series of one cluster);
 *  - the process (CPU, memory, file descriptors) and event-loop lag: prom-client's defaults;
 *  - every runLoop's ticks, errors and tick durations (loopObserver).
 *
 * Components add their own metrics to the same registry. A value that is cheap to read but
 * changes often (bytes forwarded, connections) is read at scrape time with `collect`, never
 * counted on the hot path.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { TickObserver } from "./run-loop.ts";

export type ComponentName = "keeper" | "sentinel" | "proxy";

export interface ComponentMetrics {
  registry: Registry;
  /** Passed to runLoop as `observe`. */
  loopObserver: TickObserver;
}

/** Buckets for loop ticks and reconcile passes: from 1 ms to a minute (a pg_basebackup is longer). */
export const TICK_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** prom-client defaults whose names break the Prometheus naming conventions. */
const LINT_FAILING_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];
/**
 * prom-client defaults that cost more than they tell under Bun: the per-space heap figures come
 * from v8.getHeapSpaceStatistics(), which Bun emulates (most spaces read 0) at a cost that grows
 * with the heap, measured at 5 ms of a 7 ms scrape: 1.6% of the proxy's CPU under pgbench at one
 * scrape a second (bench:proxy --metrics-ab). nodejs_heap_size_total_bytes and
 * nodejs_heap_size_used_bytes (process.memoryUsage) stay.
 */
const COSTLY_DEFAULTS = ["nodejs_heap_space_size_total_bytes", "nodejs_heap_space_size_used_bytes", "nodejs_heap_space_size_available_bytes"];

export function createComponentMetrics(component: ComponentName, clusterName: string): ComponentMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  // Gauges named like counters: `promtool check metrics` rejects them, and they say little here.
  for (const name of [...LINT_FAILING_DEFAULTS, ...COSTLY_DEFAULTS]) registry.removeSingleMetric(name);
  new Gauge({
    name: "stolon_cluster_identifier",
    help: "Set to 1, is labelled with the cluster_name and component",
    labelNames: ["cluster_name", "component"],
    registers: [registry],
  }).set({ cluster_name: clusterName, component }, 1);

  const ticks = new Counter({ name: "stolon_loop_ticks_total", help: "Passes of each periodic loop", labelNames: ["loop"], registers: [registry] });
  const errors = new Counter({ name: "stolon_loop_errors_total", help: "Passes of each periodic loop that failed", labelNames: ["loop"], registers: [registry] });
  const duration = new Histogram({
    name: "stolon_loop_tick_duration_seconds",
    help: "Duration of each pass of each periodic loop",
    labelNames: ["loop"],
    buckets: TICK_BUCKETS_S,
    registers: [registry],
  });
  const lastSuccess = new Gauge({
    name: "stolon_loop_last_success_timestamp_seconds",
    help: "When each periodic loop last completed a pass without error, as seconds since the Unix epoch",
    labelNames: ["loop"],
    registers: [registry],
  });
  const loopObserver: TickObserver = (loop, durationMs, error) => {
    ticks.inc({ loop });
    duration.observe({ loop }, durationMs / 1000);
    if (error === null) lastSuccess.set({ loop }, Date.now() / 1000);
    else errors.inc({ loop });
  };
  return { registry, loopObserver };
}

/**
 * A counter whose value is a plain number the component keeps (bytes, connections, decisions),
 * read at scrape time: the component pays one addition, prom-client nothing until a scrape.
 */
export function counterOf(registry: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A gauge read at scrape time; NaN (unknown) exports no sample rather than a made-up value. */
export function gaugeOf(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      if (!Number.isNaN(v)) return this.set(v);
      // reset() puts an unlabelled gauge back to 0, a made-up value; emptying its (internal)
      // value map leaves the series without a sample. prom-client 15 is pinned; a unit test
      // (test/unit/sentinel/metrics.test.ts) sees it if this ever changes.
      (this as unknown as { hashMap: Record<string, unknown> }).hashMap = {};
    },
  });
}
