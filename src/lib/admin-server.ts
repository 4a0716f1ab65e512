/**
 * The admin HTTP listener of a component, on --metrics-listen-address (stolon's flag): /metrics
 * (Prometheus text format), /health and /ready, plus the routes a component adds (the keeper's
 * Patroni-compatible /primary, /replica ...). On Bun.serve; GET, HEAD and OPTIONS only (HAProxy's
 * httpchk sends OPTIONS unless told otherwise), no request body is read.
 */
import type { Registry } from "prom-client";
import { ConfigError, describeError } from "./errors.ts";
import type { HealthReport } from "./health.ts";
import type { ListenAddress } from "./listen-address.ts";
import type { Logger } from "./log.ts";

export type RouteHandler = (url: URL, req: Request) => Response | Promise<Response>;

export interface AdminServerOptions {
  address: ListenAddress;
  registry: Registry;
  health: () => HealthReport;
  /**
   * Extra routes by exact path. They may replace /health (the keeper answers it in Patroni's
   * meaning, PostgreSQL up, and serves its liveness as /liveness) but never /metrics or /ready.
   */
  routes?: Record<string, RouteHandler>;
  log: Logger;
}

export interface AdminServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  stop(): Promise<void>;
}

export function json(status: number, body: unknown): Response {
  return new Response(`${JSON.stringify(body)}\n`, { status, headers: { "content-type": "application/json" } });
}

export function startAdminServer(o: AdminServerOptions): AdminServer {
  const routes: Record<string, RouteHandler> = {
    "/health": () => {
      const h = o.health();
      return json(h.live.ok ? 200 : 503, h);
    },
    ...o.routes,
    "/metrics": async () => new Response(await o.registry.metrics(), { headers: { "content-type": o.registry.contentType } }),
    "/ready": () => {
      const h = o.health();
      return json(h.ready.ok ? 200 : 503, h);
    },
  };
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: o.address.hostname,
      port: o.address.port,
      // Health checks are small; anything big is not for us.
      maxRequestBodySize: 1024,
      async fetch(req) {
        if (req.method !== "GET" && req.method !== "HEAD" && req.method !== "OPTIONS")
          return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD, OPTIONS" } });
        // HAProxy's httpchk (and Patroni-era configurations) send HTTP/1.0 without a Host header;
        // Bun then gives a relative req.url ("/primary"), which new URL() alone refuses.
        const url = URL.parse(req.url, "http://localhost");
        if (!url) return new Response("bad request target\n", { status: 400 });
        const route = routes[url.pathname];
        if (!route) return new Response("not found\n", { status: 404 });
        try {
          return await route(url, req);
        } catch (err) {
          o.log.warn(`admin ${url.pathname}: ${describeError(err)}`);
          return json(500, { error: describeError(err) });
        }
      },
      error(err) {
        return json(500, { error: describeError(err) });
      },
    });
  } catch (err) {
    throw new ConfigError(`--metrics-listen-address ${o.address.hostname}:${o.address.port}: cannot listen: ${describeError(err)}`, { cause: err });
  }
  o.log.info(`metrics and health on http://${o.address.hostname}:${server.port} (/metrics, /health, /ready${Object.keys(o.routes ?? {}).length ? `, ${Object.keys(o.routes ?? {}).join(", ")}` : ""})`);
  return {
    port: server.port ?? o.address.port,
    stop: async () => {
      await server.stop(true);
    },
  };
}
