/**
 * Patroni-compatible health endpoints of the keeper, so HAProxy configurations and Kubernetes
 * probes written for Patroni work unchanged: `option httpchk GET /primary` sends writes only to
 * the keeper whose PostgreSQL is the elected, healthy, unfenced master.
 *
 * Pure: a KeeperStatus, a path and a query in; an HTTP status and a JSON body out. Every case
 * that is not plainly "yes" answers 503, so a load balancer that cannot tell stays away; a
 * malformed `?lag=` answers 400 with a sentence naming the problem (HAProxy treats it as down too).
 *
 * Differences from Patroni, on purpose:
 * - /primary also requires the keeper not to be fenced and its data to be the db the view elects:
 *   a master that the sentinel has replaced but that still runs (partitioned from etcd) must not
 *   take writes, and the keeper fences it (pg_hba.conf) for exactly that reason. It does not
 *   require the latest generation of the master's spec to be applied (see isServingPrimary).
 * - /health is Patroni's meaning (PostgreSQL up); the component's own liveness (its loops run)
 *   is /liveness. /ready is the generic component readiness and equals /readiness.
 * - `role` is stolon's word: "master" or "standby" (null when PostgreSQL does not run).
 */
import type { RouteHandler } from "../lib/admin-server.ts";
import { json } from "../lib/admin-server.ts";
import { describeError } from "../lib/errors.ts";
import type { Check } from "../lib/health.ts";
import { isServingPrimary, type KeeperStatus } from "./status.ts";

export type PatroniState = "running" | "stopped" | "starting" | "fenced" | "stopping";

export interface PatroniBody {
  role: KeeperStatus["localRole"];
  state: PatroniState;
  timeline: number;
  wal_position: number;
  replication_lag_bytes: number | null;
  replication_lag_seconds: number | null;
  keeper_uid: string;
  db_uid: string;
  cluster_name: string;
  synchronous: boolean;
  fenced: boolean;
  /** One sentence: why this answer (not in Patroni; checks ignore it, people read it). */
  reason: string;
  /** Only on a 400: what is wrong with the request. */
  error?: string;
}

export interface PatroniResponse {
  status: 200 | 400 | 503;
  body: PatroniBody;
}

/** Every path served, for the admin listener and its log line. */
export const PATRONI_PATHS = [
  "/primary",
  "/master",
  "/leader",
  "/replica",
  "/read-only",
  "/sync",
  "/synchronous",
  "/async",
  "/asynchronous",
  "/health",
  "/liveness",
  "/readiness",
] as const;

/**
 * PostgreSQL's memory units (1 kB = 1024 B, as postgresql.conf means them; Patroni parses
 * `?lag=` the same way), case-insensitive, plus the IEC spellings KiB, MiB, GiB, TiB.
 */
const LAG_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  kb: 1024,
  mb: 1024 ** 2,
  gb: 1024 ** 3,
  tb: 1024 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

export type LagParse = { ok: true; bytes: number } | { ok: false; problem: string };

/**
 * `?lag=` in bytes: a non-negative number, optionally with a fraction, and an optional unit
 * (B, kB, MB, GB, TB, KiB ... TiB; case-insensitive). Anything else, and anything past 2^53 bytes,
 * is refused with a sentence: a typo must not silently mean "no bound" or "zero".
 */
export function parseLag(raw: string): LagParse {
  const shown = raw.length > 40 ? `${JSON.stringify(raw.slice(0, 40))}...` : JSON.stringify(raw);
  const m = /^\s*(\d{1,20}(?:\.\d{1,20})?)\s*([a-z]*)\s*$/i.exec(raw);
  if (!m) {
    const why = raw.trim() === "" ? "it is empty" : /^\s*-/.test(raw) ? "it is negative" : "it is not a number of bytes";
    return { ok: false, problem: `lag ${shown} is not valid: ${why}; give bytes, optionally with a unit (B, kB, MB, GB, TB), e.g. lag=16MB` };
  }
  const unit = (m[2] ?? "").toLowerCase();
  const factor = LAG_UNITS[unit];
  if (factor === undefined) return { ok: false, problem: `lag ${shown} is not valid: unknown unit "${m[2]}"; use B, kB, MB, GB or TB (or KiB, MiB, GiB, TiB)` };
  const bytes = Math.floor(Number(m[1]) * factor);
  if (!Number.isSafeInteger(bytes)) return { ok: false, problem: `lag ${shown} is too large: at most ${Number.MAX_SAFE_INTEGER} bytes` };
  return { ok: true, bytes };
}

/** The keeper's state in Patroni's words. */
export function patroniState(s: KeeperStatus): PatroniState {
  if (s.shuttingDown) return "stopping";
  if (s.fenced) return "fenced";
  if (!s.postgresRunning) return "stopped";
  if (!s.postgresHealthy) return "starting";
  return "running";
}

function bodyOf(s: KeeperStatus, reason: string): PatroniBody {
  return {
    role: s.localRole,
    state: patroniState(s),
    timeline: s.timeline,
    wal_position: s.walPosition,
    replication_lag_bytes: s.replicationLagBytes,
    replication_lag_seconds: s.replicationLagSeconds,
    keeper_uid: s.uid,
    db_uid: s.dbUid,
    cluster_name: s.clusterName,
    synchronous: s.synchronous,
    fenced: s.fenced,
    reason,
  };
}

/**
 * null when this keeper is the master HAProxy may send writes to (isServingPrimary, the one
 * predicate behind /primary and stolon_keeper_serving_primary); else why not.
 */
function notPrimary(s: KeeperStatus): string | null {
  if (isServingPrimary(s)) return null;
  if (s.shuttingDown) return "the keeper is shutting down";
  if (!s.postgresRunning) return "PostgreSQL is not running";
  if (!s.postgresHealthy) return "PostgreSQL does not answer";
  if (s.localRole !== "master") return "PostgreSQL is a standby";
  if (!s.elected) return "this keeper's db is not the elected master";
  if (s.fenced) return "the master is fenced (cut from etcd)";
  if (!s.holdsDb) return "the local data is not (yet) the db the cluster view elects";
  return "this keeper's PostgreSQL is not the serving master";
}

/** null when this keeper is a standby fit for reads within `lagBound` bytes (if given); else why not. */
function notReplica(s: KeeperStatus, lagBound: number | null): string | null {
  if (s.shuttingDown) return "the keeper is shutting down";
  if (!s.postgresRunning) return "PostgreSQL is not running";
  if (!s.postgresHealthy) return "PostgreSQL does not answer";
  if (s.localRole !== "standby") return "PostgreSQL is not a standby";
  if (s.targetRole !== "standby") return s.targetRole === "master" ? "the cluster view makes this db the master" : "the cluster view gives this db no standby role";
  if (!s.streaming) return "the standby is not streaming from the master";
  if (lagBound !== null) {
    if (s.replicationLagBytes === null) return `the replication lag is unknown, so it cannot be shown within ${lagBound} bytes`;
    if (s.replicationLagBytes > lagBound) return `the replication lag ${s.replicationLagBytes} bytes is over ${lagBound} bytes`;
  }
  return null;
}

function answer(s: KeeperStatus, not: string | null, yes: string): PatroniResponse {
  return not === null ? { status: 200, body: bodyOf(s, yes) } : { status: 503, body: bodyOf(s, not) };
}

/** The `?lag=` bound: null when absent, a problem when malformed or given more than once. */
function lagBoundOf(query: URLSearchParams): { bound: number | null } | { problem: string } {
  const all = query.getAll("lag");
  if (all.length === 0) return { bound: null };
  if (all.length > 1) return { problem: `lag is given ${all.length} times; give it once` };
  const p = parseLag(all[0] ?? "");
  return p.ok ? { bound: p.bytes } : { problem: p.problem };
}

/**
 * The answer for one Patroni path (see PATRONI_PATHS; /liveness and /readiness need the keeper's
 * checks and are answered by patroniRoutes, here they answer 503). Unknown paths answer 503.
 */
export function patroniResponse(s: KeeperStatus, path: string, query: URLSearchParams): PatroniResponse {
  switch (path) {
    case "/primary":
    case "/master":
    case "/leader":
      return answer(s, notPrimary(s), "this keeper's PostgreSQL is the elected master");
    case "/health":
      return answer(s, !s.postgresRunning ? "PostgreSQL is not running" : !s.postgresHealthy ? "PostgreSQL does not answer" : null, "PostgreSQL runs and answers");
  }
  const lag = lagBoundOf(query);
  const replicaPath = ["/replica", "/read-only", "/sync", "/synchronous", "/async", "/asynchronous"].includes(path);
  if (replicaPath && "problem" in lag) return { status: 400, body: { ...bodyOf(s, lag.problem), error: lag.problem } };
  const bound = "bound" in lag ? lag.bound : null;
  switch (path) {
    case "/replica":
      return answer(s, notReplica(s, bound), "this keeper's PostgreSQL is a streaming standby");
    case "/read-only": {
      if (notPrimary(s) === null) return answer(s, null, "this keeper's PostgreSQL is the elected master");
      return answer(s, notReplica(s, bound), "this keeper's PostgreSQL is a streaming standby");
    }
    case "/sync":
    case "/synchronous": {
      const not = notReplica(s, bound) ?? (s.synchronous ? null : "the standby is not synchronous");
      return answer(s, not, "this keeper's PostgreSQL is a synchronous standby");
    }
    case "/async":
    case "/asynchronous": {
      const not = notReplica(s, bound) ?? (s.synchronous ? "the standby is synchronous" : null);
      return answer(s, not, "this keeper's PostgreSQL is an asynchronous standby");
    }
    default:
      return { status: 503, body: bodyOf(s, `${path} is not a check this keeper answers`) };
  }
}

function checkResponse(s: KeeperStatus, check: Check): PatroniResponse {
  return { status: check.ok ? 200 : 503, body: bodyOf(s, check.reason) };
}

/**
 * The routes for the keeper's admin listener: every Patroni path, /liveness and /readiness from
 * the keeper's own checks. The status is read once per request, when it comes. A keeper that
 * cannot say (its status throws) answers 503 like every other "no": a load balancer must not
 * read a 500 as anything but down, and Patroni's checks only know 200 and 503.
 */
export function patroniRoutes(getStatus: () => KeeperStatus, liveness: () => Check, readiness: () => Check): Record<string, RouteHandler> {
  const routes: Record<string, RouteHandler> = {};
  for (const path of PATRONI_PATHS) {
    routes[path] = (url) => {
      let r: PatroniResponse;
      try {
        const s = getStatus();
        r = path === "/liveness" ? checkResponse(s, liveness()) : path === "/readiness" ? checkResponse(s, readiness()) : patroniResponse(s, path, url.searchParams);
      } catch (err) {
        return json(503, { reason: `the keeper cannot tell its status: ${describeError(err)}` });
      }
      return json(r.status, r.body);
    };
  }
  return routes;
}
