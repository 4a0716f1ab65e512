/**
 * What the leader sentinel remembers between ticks: timers and histories that are observations,
 * not decisions, so they are kept in the process and not in etcd. A sentinel that (re)gains
 * leadership starts from freshMemory(): it trusts no timer another leader (or its own earlier
 * term) started.
 */
export interface SentinelMemory {
  /** True until the first tick of a leadership term has run. */
  fresh: boolean;
  /** Per keeper: the last infoUID seen and when it first appeared (monotonic ms). */
  keeperHistories: Record<string, { infoUID: string; since: number }>;
  /** Per keeper: since when its info has been stale. */
  keeperErrorSince: Record<string, number>;
  /** Per DB: since when it has been unhealthy or unreported. */
  dbErrorSince: Record<string, number>;
  /** Per DB: its last reported xlogpos and for how many ticks it has not moved. */
  dbXlog: Record<string, { xlogpos: number; count: number }>;
  /** Per DB: the generation it is converging to and since when. */
  dbConvergence: Record<string, { generation: number; since: number }>;
  /** Per proxy: the last infoUID seen and when it first appeared. */
  proxyHistories: Record<string, { infoUID: string; since: number }>;
  /** Per DB: since when it has looked diverged from the master (removed once that lasts). */
  dbInvalidSince: Record<string, number>;
  /** Keepers failed by the silent-master rule, with the infoUID they were silent on: failed until it changes. */
  keeperSilent: Record<string, string>;
  /** Keepers whose initdb did not complete in time, most recent last. */
  failedInit: string[];
}

/** How many failed-init keepers are remembered. */
export const FAILED_INIT_MEMORY = 8;

export function freshMemory(): SentinelMemory {
  return {
    fresh: true,
    keeperHistories: {},
    keeperErrorSince: {},
    dbErrorSince: {},
    dbXlog: {},
    dbConvergence: {},
    proxyHistories: {},
    keeperSilent: {},
    dbInvalidSince: {},
    failedInit: [],
  };
}
