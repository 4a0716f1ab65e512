/**
 * The routes the keeper adds to its admin listener (runComponent's `routes`), beside /metrics,
 * /health and /ready: the Patroni-compatible endpoints of src/keeper/patroni.ts. /health among
 * them means PostgreSQL up (Patroni's meaning); the keeper's own liveness is /liveness, and
 * /readiness is the same check as /ready.
 */
import type { RouteHandler } from "../lib/admin-server.ts";
import type { Keeper } from "./keeper.ts";
import { patroniRoutes } from "./patroni.ts";

export function keeperRoutes(keeper: Keeper): Record<string, RouteHandler> {
  return patroniRoutes(
    () => keeper.status(),
    () => keeper.health().live,
    () => keeper.health().ready,
  );
}
