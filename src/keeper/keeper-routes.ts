/**
 * The routes the keeper adds to its admin listener (runComponent's `routes`), beside /metrics,
 * /health and /ready.
 */
import type { RouteHandler } from "../lib/admin-server.ts";
import type { Keeper } from "./keeper.ts";

// TODO(issue 14, Patroni endpoints): the Patroni-compatible routes of src/keeper/patroni.ts go
// here (/primary, /master, /leader, /replica, /read-only, /sync, /synchronous, /async,
// /asynchronous, /health, /liveness, /readiness), each answering patroniResponse(keeper.status(), ...).
export function keeperRoutes(_keeper: Keeper): Record<string, RouteHandler> {
  return {};
}
