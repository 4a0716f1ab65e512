/**
 * The proxy's metrics, read at scrape time from the Proxy and its Forwarder's plain counters:
 * the data path pays one integer addition per callback and never calls prom-client
 * (src/lib/metrics.ts has the common ones: cluster identifier, process, event loop, loops).
 */
import type { Registry } from "prom-client";
import { counterOf, gaugeOf } from "../lib/metrics.ts";
import type { Proxy } from "./proxy.ts";

export function registerProxyMetrics(registry: Registry, proxy: Proxy): void {
  const f = proxy.forwarder;
  gaugeOf(registry, "stolon_proxy_health", "1 when the proxy is healthy and accepting connections: listening, routing to a master, not fenced", () => (proxy.serving ? 1 : 0));
  gaugeOf(registry, "stolon_proxy_clusterdata_last_valid_update_seconds", "When the proxy last read usable cluster data, as seconds since the Unix epoch (0: never)", () => proxy.lastValidClusterDataAt / 1000);
  gaugeOf(registry, "stolon_proxy_connections_active", "Client connections being forwarded to the master (or connecting to it)", () => f.connectionCount - f.heldCount);
  gaugeOf(registry, "stolon_proxy_connections_held", "Client connections waiting for a master to be routed (see --hold-timeout)", () => f.heldCount);
  counterOf(registry, "stolon_proxy_connections_total", "Client connections accepted", () => f.accepted);
  counterOf(registry, "stolon_proxy_connections_cut_total", "Connections the proxy closed on both sides at once: the master changed, the proxy fenced itself or stopped", () => f.cut);
  counterOf(registry, "stolon_proxy_connections_refused_total", "Clients refused with SQLSTATE 53300 (too many clients) or 57P03 (no master available)", () => f.refused);
  counterOf(registry, "stolon_proxy_client_to_server_bytes_total", "Bytes received from clients and forwarded to the master", () => f.clientToServerBytes);
  counterOf(registry, "stolon_proxy_server_to_client_bytes_total", "Bytes received from the master and forwarded to clients", () => f.serverToClientBytes);
  counterOf(registry, "stolon_proxy_target_changes_total", "Times the proxy's target changed (to another master, or to none)", () => f.targetChanges);
  gaugeOf(registry, "stolon_proxy_switchover_hold", "1 while a switchover's hold is in force: new clients wait, the connections open when it began are drained", () => (f.holdId !== null ? 1 : 0));
  gaugeOf(registry, "stolon_proxy_connections_draining", "Connections open when a switchover's hold began, not closed yet", () => f.drainingCount);
  counterOf(registry, "stolon_proxy_connections_drained_total", "Connections closed during a switchover's drain at an idle point (between transactions), at no cost to their client", () => f.drained);
  counterOf(registry, "stolon_proxy_connections_drain_cut_total", "Connections still open (in a transaction, or unreadable such as TLS) at the end of a switchover's drain time, and cut then", () => f.drainCut);
  gaugeOf(registry, "stolon_proxy_fenced", "1 while the proxy is fenced: no successful check for proxyTimeout, every connection cut", () => (proxy.isFenced ? 1 : 0));
}
