/**
 * The component runtime: how a keeper, sentinel or proxy process runs, in one place.
 *
 *   start:    admin listener (if --metrics-listen-address) -> component.run(signal)
 *   shutdown: the signal aborts -> component.run tears down what it owns and returns
 *             -> the teardown stack, in reverse (admin listener, then store client, ...)
 *
 * The admin listener stays up while the component shuts down, so /health and the keeper's
 * /primary answer (503) until the process is gone rather than refusing connections early.
 */
import { startAdminServer, type RouteHandler } from "./admin-server.ts";
import { ConfigError } from "./errors.ts";
import type { Component } from "./health.ts";
import type { Teardown } from "./lifecycle.ts";
import { parseListenAddress } from "./listen-address.ts";
import type { Logger } from "./log.ts";
import type { ComponentMetrics } from "./metrics.ts";

export interface RunComponentOptions {
  component: Component;
  metrics: ComponentMetrics;
  /** --metrics-listen-address; absent: no admin listener. */
  metricsListenAddress?: string;
  /** Routes added to the admin listener (the keeper's Patroni endpoints). */
  routes?: Record<string, RouteHandler>;
  /** Everything opened before (store client, ...): undone after the component returns. */
  teardown: Teardown;
  signal: AbortSignal;
  log: Logger;
}

export async function runComponent(o: RunComponentOptions): Promise<void> {
  try {
    if (o.metricsListenAddress !== undefined && o.metricsListenAddress !== "") {
      const address = parseListenAddress(o.metricsListenAddress);
      if ("error" in address) throw new ConfigError(`--metrics-listen-address: ${address.error}`);
      const server = startAdminServer({ address, registry: o.metrics.registry, health: () => o.component.health(), routes: o.routes, log: o.log });
      o.teardown.defer("the admin listener", () => server.stop());
    }
    await o.component.run(o.signal);
  } finally {
    await o.teardown.run();
  }
}
