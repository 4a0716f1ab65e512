/**
 * The proxy's metrics, read at scrape time from the Proxy and its Forwarder's plain counters:
 * the data path pays one integer addition per callback and never calls prom-client
 * (src/lib/metrics.ts has the common ones: cluster identifier, process, event loop, loops).
 */
import type { Registry } from "prom-client";
import { counterOf, gaugeOf } from "../lib/metrics.ts";
import type { Forwarder } from "./forwarder.ts";
import type { Proxy } from "./proxy.ts";

export function registerProxyMetrics(registry: Registry, proxy: Proxy): void {
  const f = proxy.forwarder;
  gaugeOf(registry, "stolon_proxy_health", "1 when the proxy is healthy and accepting connections: listening, routing to a master, not fenced", () => (proxy.serving ? 1 : 0));
  gaugeOf(registry, "stolon_proxy_clusterdata_last_valid_update_seconds", "When the proxy last read usable cluster data, as seconds since the Unix epoch (0: never)", () => proxy.lastValidClusterDataAt / 1000);
  registerPortMetrics(registry, READ_WRITE, "the master", f);
  gaugeOf(registry, "stolon_proxy_switchover_hold", "1 while a switchover's hold is in force: new clients wait, the connections open when it began are drained", () => (f.holdId !== null ? 1 : 0));
  gaugeOf(registry, "stolon_proxy_connections_draining", "Connections open when a switchover's hold began, not closed yet", () => f.drainingCount);
  counterOf(registry, "stolon_proxy_connections_drained_total", "Connections closed during a switchover's drain at an idle point (between transactions), at no cost to their client", () => f.drained);
  counterOf(registry, "stolon_proxy_connections_drain_cut_total", "Connections still open (in a transaction, or unreadable such as TLS) at the end of a switchover's drain time, and cut then", () => f.drainCut);
  gaugeOf(registry, "stolon_proxy_fenced", "1 while the proxy is fenced: no successful check for proxyTimeout, every connection cut", () => (proxy.isFenced ? 1 : 0));
  const ro = proxy.readOnly;
  if (!ro) return;
  registerPortMetrics(registry, READ_ONLY, "a standby (the read-only port)", ro.forwarder);
  gaugeOf(registry, "stolon_proxy_read_only_standbys_eligible", "Standbys the read-only port sends new connections to now (0 while the fallback applies)", () =>
    ro.lastRoute?.fallback === "master" ? 0 : ro.forwarder.targets.length,
  );
  gaugeOf(registry, "stolon_proxy_read_only_fallback_master", "1 while no standby is eligible and --read-only-fallback master sends read-only clients to the master", () =>
    ro.lastRoute?.fallback === "master" ? 1 : 0,
  );
}

/** The names of the counters every listener has (written out: the monitoring test finds them in the source). */
interface PortMetricNames {
  active: string;
  held: string;
  total: string;
  cut: string;
  refused: string;
  toServer: string;
  toClient: string;
  targetChanges: string;
}

const READ_WRITE: PortMetricNames = {
  active: "stolon_proxy_connections_active",
  held: "stolon_proxy_connections_held",
  total: "stolon_proxy_connections_total",
  cut: "stolon_proxy_connections_cut_total",
  refused: "stolon_proxy_connections_refused_total",
  toServer: "stolon_proxy_client_to_server_bytes_total",
  toClient: "stolon_proxy_server_to_client_bytes_total",
  targetChanges: "stolon_proxy_target_changes_total",
};

/** The read-write port's names with read_only after stolon_proxy, so a dashboard shows both alike. */
const READ_ONLY: PortMetricNames = {
  active: "stolon_proxy_read_only_connections_active",
  held: "stolon_proxy_read_only_connections_held",
  total: "stolon_proxy_read_only_connections_total",
  cut: "stolon_proxy_read_only_connections_cut_total",
  refused: "stolon_proxy_read_only_connections_refused_total",
  toServer: "stolon_proxy_read_only_client_to_server_bytes_total",
  toClient: "stolon_proxy_read_only_server_to_client_bytes_total",
  targetChanges: "stolon_proxy_read_only_target_changes_total",
};

/** The counters every listener has, under `n`'s names. */
function registerPortMetrics(registry: Registry, n: PortMetricNames, to: string, f: Forwarder): void {
  const master = to === "the master";
  gaugeOf(registry, n.active, `Client connections being forwarded to ${to} (or connecting to it)`, () => f.connectionCount - f.heldCount);
  gaugeOf(registry, n.held, `Client connections waiting for ${to} to be routed (see --hold-timeout)`, () => f.heldCount);
  counterOf(registry, n.total, "Client connections accepted", () => f.accepted);
  counterOf(registry, n.cut, `Connections the proxy closed on both sides at once: ${to} changed or left the route, the proxy fenced itself or stopped`, () => f.cut);
  counterOf(registry, n.refused, `Clients refused with SQLSTATE 53300 (too many clients) or 57P03 (no ${master ? "master" : "standby"} available)`, () => f.refused);
  counterOf(registry, n.toServer, `Bytes received from clients and forwarded to ${to}`, () => f.clientToServerBytes);
  counterOf(registry, n.toClient, `Bytes received from ${to} and forwarded to clients`, () => f.serverToClientBytes);
  counterOf(registry, n.targetChanges, `Times the proxy's targets changed (${master ? "to another master, or to none" : "a standby added or removed"})`, () => f.targetChanges);
}
