/**
 * What the leader sentinel remembers between ticks: timers and histories that are observations,
 * not decisions, so they are kept in the process and not in etcd. A sentinel that (re)gains
 * leadership starts from freshMemory(): it trusts no timer another leader (or its own earlier
 * term) started.
 */
import { uidRecord } from "./info-check.ts";

/** When a component (keeper or proxy) was last known alive, and the infoUID seen then. */
export interface AliveHistory {
  infoUID: string;
  /** Monotonic ms. */
  since: number;
}

/**
 * A component's AliveHistory after reading its info at `now`: with a reading of its lease
 * (Store.leaseSilenceMs, ms without renewal), alive `silenceMs` ago; without one, alive now if
 * its infoUID changed (or it is seen for the first time), else `h` unchanged, as stolon's sentinel
 * reckons.
 */
export function nextAliveHistory(h: AliveHistory | undefined, infoUID: string, silenceMs: number | undefined, now: number): AliveHistory {
  if (silenceMs !== undefined) return { infoUID, since: now - silenceMs };
  return h && h.infoUID === infoUID ? h : { infoUID, since: now };
}

export interface SentinelMemory {
  /** True until the first tick of a leadership term has run. */
  fresh: boolean;
  /** Per keeper: the last infoUID seen and when the keeper was last known alive (monotonic ms: its lease's reading, else the infoUID's change). */
  keeperHistories: Record<string, AliveHistory>;
  /** Per keeper: since when its info has been stale. */
  keeperErrorSince: Record<string, number>;
  /** Per DB: since when it has been unhealthy or unreported. */
  dbErrorSince: Record<string, number>;
  /** Per DB: its last reported xlogpos and for how many ticks it has not moved. */
  dbXlog: Record<string, { xlogpos: number; count: number }>;
  /** Per DB: the generation it is converging to and since when. */
  dbConvergence: Record<string, { generation: number; since: number }>;
  /** Per proxy: the last infoUID seen and when it was last known alive (as keeperHistories). */
  proxyHistories: Record<string, AliveHistory>;
  /** Per DB: since when it has looked diverged from the master (removed once that lasts). */
  dbInvalidSince: Record<string, number>;
  /** Keepers failed by the silent-master rule, with the infoUID they were silent on: failed until it changes or their lease reads renewed. */
  keeperSilent: Record<string, string>;
  /** Keepers whose initdb did not complete in time, most recent last. */
  failedInit: string[];
  /**
   * initMode pitr: the keepers whose restore failed (reported by the keeper, or not done within
   * syncTimeout), for one cluster uid and one pitrConfig; another cluster (stolonctl init) or
   * another pitrConfig (stolonctl update) starts a new list. Kept in memory only: a new leader
   * may try a keeper again once.
   */
  pitrTried: PitrTried | null;
}

/** The keepers a pitr restore was tried on without success (see SentinelMemory.pitrTried). */
export interface PitrTried {
  clusterUID: string;
  /** The db pitrConfig they were tried with, as JSON. */
  config: string;
  keepers: string[];
}

/** How many failed-init keepers are remembered. */
export const FAILED_INIT_MEMORY = 8;

export function freshMemory(): SentinelMemory {
  return {
    fresh: true,
    keeperHistories: uidRecord(),
    keeperErrorSince: uidRecord(),
    dbErrorSince: uidRecord(),
    dbXlog: uidRecord(),
    dbConvergence: uidRecord(),
    proxyHistories: uidRecord(),
    keeperSilent: uidRecord(),
    dbInvalidSince: uidRecord(),
    failedInit: [],
    pitrTried: null,
  };
}

/**
 * A copy of `mem` whose per-uid records are null-prototype objects (uids come from etcd: a uid
 * such as "__proto__" must be a key like any other). structuredClone gives plain objects back,
 * so decide() calls this on the memory it is handed.
 */
export function cloneMemory(mem: SentinelMemory): SentinelMemory {
  const c = structuredClone(mem);
  return {
    ...c,
    keeperHistories: uidRecord(c.keeperHistories),
    keeperErrorSince: uidRecord(c.keeperErrorSince),
    dbErrorSince: uidRecord(c.dbErrorSince),
    dbXlog: uidRecord(c.dbXlog),
    dbConvergence: uidRecord(c.dbConvergence),
    proxyHistories: uidRecord(c.proxyHistories),
    keeperSilent: uidRecord(c.keeperSilent),
    dbInvalidSince: uidRecord(c.dbInvalidSince),
  };
}
