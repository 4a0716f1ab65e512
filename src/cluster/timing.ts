/**
 * Timing bounds that one component's safety relies on in another, in one place.
 *
 * The keeper fences its master, the sentinel fails a master or waits for a proxy, the proxy cuts
 * its clients: each does so after a delay, and the argument that no two masters take writes at
 * once is a chain of inequalities between those delays. They are written here once, as the
 * constants, `deriveTimings` (every derived period, from the spec's timings) and
 * `timingViolations` (every inequality, by name). A unit test checks them for the defaults and
 * for every combination of the extremes of the allowed ranges, so changing a constant or a
 * range that breaks the argument fails a test that names the rule. Pure: no I/O.
 *
 * The spec's own ranges are in spec.ts (SPEC_DURATION_BOUNDS); they are what makes the
 * inequalities hold for every spec validateSpec accepts.
 *
 * Left out on purpose: requestTimeout against sleepInterval (a keeper pass never overlaps the
 * next, so a request longer than the period only delays the next pass; the fence and the reports
 * run in their own loops and do not wait on PostgreSQL), and the proxy's --hold-timeout against
 * proxyTimeout (a held client is connected only to the master the proxy routes to, so a long hold
 * delays clients but cannot reach a deposed master).
 */
import { formatDuration } from "./duration.ts";

/**
 * The keeper renews its lease this often, whatever the sleepInterval, counted from the start of
 * one report to the start of the next (a slow report is followed by the next at once), and
 * publishes its info when it changed (src/keeper/report-info.ts). A renewal is a lease keep-alive,
 * which etcd answers from the leader's lease table without a raft proposal; readers tell the
 * keeper is alive from its lease (leaseSilenceMs in src/store/store.ts), not from new writes.
 */
export const KEEPER_REPORT_MS = 200;
/**
 * A change of WAL positions alone (xLogPos, replayedXLogPos, olderWalFile) is published at most
 * this often: they move with every write to the database. Any other change is published at once.
 */
export const KEEPER_POSITION_MS = 1000;
/**
 * A report waits this long for the PostgreSQL state, then publishes the last known one: on a
 * saturated node a state that takes longer is a report older, not a report later. The renewal is
 * sent before, beside the wait, so the wait does not delay it; it counts in the report cycle all
 * the same, for margin.
 */
export const KEEPER_STATE_WAIT_MS = 100;
/**
 * A master keeper that has had no lease renewal acknowledged for this long (counted from the
 * sending of the last acknowledged one; or failInterval/2 if smaller) fences its PostgreSQL. It
 * must stay below every delay after which the sentinel can elect another master: MASTER_SILENT_MS,
 * the info lease and staleness + failInterval. Three report periods: a renewal goes through no
 * raft proposal and no fsync, so a slow etcd disk, which once delayed reports (writes) by 500 ms
 * each, does not delay it (etcd 3.4; bench:soak --slow-etcd-disk measures it).
 */
export const KEEPER_FENCE_MS = 600;
/** How often the keeper and the proxy check their fencing deadline. */
export const FENCE_CHECK_MS = 100;
/**
 * What the argument allows for the fence itself to act once due: rewrite pg_hba.conf, reload,
 * terminate the client backends. Measured in tens of milliseconds on a busy 2-core machine.
 */
export const FENCE_ACTION_MS = 200;
/**
 * A master keeper whose lease etcd reads as not renewed for at least this long (leaseSilenceMs:
 * the remaining TTL is reported in whole seconds, so this is a whole number of seconds and the
 * true silence is longer) is failed at once when every live standby says its WAL receiver lost
 * the master too: two independent views of the same death, so no failInterval needs to pass. It
 * must come after the fence (at most KEEPER_FENCE_MS + FENCE_CHECK_MS + FENCE_ACTION_MS after the
 * sending of the last renewal), and with the standbys' STANDBY_RECEIVER_TIMEOUT_MS it is what a
 * node-loss failover waits for. The leading sentinel reads the lease every SILENCE_POLL_MS while
 * a standby reports a lost receiver.
 */
export const MASTER_SILENT_MS = 1000;
/** While a standby reports a lost WAL receiver, the leading sentinel reads the master's lease this often. */
export const SILENCE_POLL_MS = 100;
/**
 * The standbys' wal_receiver_timeout (postgresql.conf, a user value wins): a standby whose master
 * sends nothing for this long (not even the answer to the ping the receiver sends after half of
 * it) drops the connection and reports that it no longer receives WAL. With the master keeper
 * silent too, that is the second signal of the silent-master rule, so a master lost without a
 * closed connection (a frozen node, a network cut) is failed about this long after it went
 * silent instead of after failInterval. Not part of the safety argument: a shorter value cannot
 * elect a master earlier than MASTER_SILENT_MS, which the fence precedes.
 */
export const STANDBY_RECEIVER_TIMEOUT_MS = 1000;
/** The keeper's info lease is failInterval, never shorter than this. */
export const KEEPER_MIN_LEASE_MS = 2000;
/**
 * A proxy whose lease etcd reads as not renewed for more than its proxyTimeout plus this margin
 * is no longer waited for. A proxy counts its proxyTimeout from the start of its last successful
 * check, which came before the renewal etcd saw, so by then it has cut its connections and
 * stopped routing (it checks every FENCE_CHECK_MS). The lease reads in whole seconds, so the wait
 * ends at the next whole second after this. stolon waits twice proxyTimeout, which delays a
 * failover by up to 10 s (with the defaults here) after a proxy died.
 */
export const PROXY_SILENT_MARGIN_MS = 1000;
/** The sentinel leader's lease: a dead leader is replaced within this. */
export const SENTINEL_ELECTION_TTL_MS = 5000;
/** The sentinel's info lives at least this long (or two sleepIntervals). */
export const SENTINEL_MIN_INFO_TTL_MS = 10_000;

/** The spec's timings in milliseconds (see specTimings in spec.ts). */
export interface SpecTimingsMs {
  readonly sleepIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly convergenceTimeoutMs: number;
  readonly initTimeoutMs: number;
  readonly syncTimeoutMs: number;
  readonly dbWaitReadyTimeoutMs: number;
  readonly failIntervalMs: number;
  readonly deadKeeperRemovalIntervalMs: number;
  readonly proxyCheckIntervalMs: number;
  readonly proxyTimeoutMs: number;
}

/** A master keeper fences after this long without renewing its info. */
export function keeperFenceAfterMs(failIntervalMs: number): number {
  return Math.min(KEEPER_FENCE_MS, failIntervalMs / 2);
}
/** The lease of a keeper's info: a keeper that stops reporting is gone from etcd after it. */
export function keeperLeaseMs(failIntervalMs: number): number {
  return Math.max(KEEPER_MIN_LEASE_MS, failIntervalMs);
}
/** The lease of a proxy's info, twice its proxyTimeout. */
export function proxyInfoTtlMs(proxyTimeoutMs: number): number {
  return 2 * proxyTimeoutMs;
}
/** The lease of a sentinel's info. */
export function sentinelInfoTtlMs(sleepIntervalMs: number): number {
  return Math.max(SENTINEL_MIN_INFO_TTL_MS, 2 * sleepIntervalMs);
}

/** Every period the safety argument uses, derived from the spec's timings and the constants. */
export interface DerivedTimings {
  /** Longest time between the sendings of two lease renewals of a healthy keeper (with margin). */
  keeperReportCycleMs: number;
  keeperFenceAfterMs: number;
  /** Latest moment (after the sending of the last acknowledged renewal) a cut-off master is fenced. */
  keeperFencedByMs: number;
  keeperLeaseMs: number;
  /** The sentinel fails a keeper whose lease has not been renewed for this long. */
  keeperStaleFailMs: number;
  masterSilentMs: number;
  /**
   * Not a safety bound: when, after its keeper's last renewal, a master lost whole without a
   * closed connection (a frozen node, a network cut) is failed by the silent-master rule; the
   * later of its two signals (see STANDBY_RECEIVER_TIMEOUT_MS).
   */
  nodeLossFailedByMs: number;
  proxyCheckIntervalMs: number;
  proxyTimeoutMs: number;
  /** Latest moment (after the start of its last successful check) a cut-off proxy has cut its clients. */
  proxyFencedByMs: number;
  /** The sentinel stops waiting for a silent proxy after this long. */
  proxySilentAfterMs: number;
  proxyInfoTtlMs: number;
}

export function deriveTimings(t: SpecTimingsMs): DerivedTimings {
  const fenceAfter = keeperFenceAfterMs(t.failIntervalMs);
  return {
    keeperReportCycleMs: KEEPER_REPORT_MS + KEEPER_STATE_WAIT_MS,
    keeperFenceAfterMs: fenceAfter,
    keeperFencedByMs: fenceAfter + FENCE_CHECK_MS + FENCE_ACTION_MS,
    keeperLeaseMs: keeperLeaseMs(t.failIntervalMs),
    keeperStaleFailMs: t.sleepIntervalMs + t.failIntervalMs,
    masterSilentMs: MASTER_SILENT_MS,
    nodeLossFailedByMs: Math.max(MASTER_SILENT_MS + SILENCE_POLL_MS, STANDBY_RECEIVER_TIMEOUT_MS + KEEPER_REPORT_MS + KEEPER_STATE_WAIT_MS),
    proxyCheckIntervalMs: t.proxyCheckIntervalMs,
    proxyTimeoutMs: t.proxyTimeoutMs,
    proxyFencedByMs: t.proxyTimeoutMs + FENCE_CHECK_MS + FENCE_ACTION_MS,
    proxySilentAfterMs: t.proxyTimeoutMs + PROXY_SILENT_MARGIN_MS,
    proxyInfoTtlMs: proxyInfoTtlMs(t.proxyTimeoutMs),
  };
}

interface TimingRule {
  name: string;
  /** Spec fields a user can change to break the rule; validateSpec names the first. */
  fields: readonly string[];
  holds(d: DerivedTimings): boolean;
  /** The inequality with its numbers. */
  explain(d: DerivedTimings): string;
}

const ms = (n: number) => formatDuration(n);

/**
 * The inequalities. The keeper counts its fence from the sending of its last acknowledged lease
 * renewal, before etcd renewed the lease, so every delay after which the sentinel may elect
 * another master (read from the lease: never more than the time since etcd renewed it) must
 * exceed the fence's.
 */
const RULES: readonly TimingRule[] = [
  {
    name: "a healthy master never fences",
    fields: ["failInterval"],
    holds: (d) => d.keeperReportCycleMs < d.keeperFenceAfterMs,
    explain: (d) => `report cycle ${ms(d.keeperReportCycleMs)} must be shorter than the fence delay ${ms(d.keeperFenceAfterMs)} (failInterval/2, at most ${ms(KEEPER_FENCE_MS)})`,
  },
  {
    name: "fence before the silent-master rule",
    fields: [],
    holds: (d) => d.keeperFencedByMs < d.masterSilentMs,
    explain: (d) => `fenced by ${ms(d.keeperFencedByMs)} must be before the silent-master rule at ${ms(d.masterSilentMs)}`,
  },
  {
    name: "fence before lease expiry",
    fields: ["failInterval"],
    holds: (d) => d.keeperFencedByMs < d.keeperLeaseMs,
    explain: (d) => `fenced by ${ms(d.keeperFencedByMs)} must be before the keeper's lease expires at ${ms(d.keeperLeaseMs)}`,
  },
  {
    name: "fence before the stale-report failure",
    fields: ["failInterval"],
    holds: (d) => d.keeperFencedByMs < d.keeperStaleFailMs,
    explain: (d) => `fenced by ${ms(d.keeperFencedByMs)} must be before a keeper with unchanged reports is failed at ${ms(d.keeperStaleFailMs)} (sleepInterval + failInterval)`,
  },
  {
    name: "a reporting master is never silent",
    fields: [],
    holds: (d) => d.keeperReportCycleMs < d.masterSilentMs,
    explain: (d) => `report cycle ${ms(d.keeperReportCycleMs)} must be shorter than the silent-master rule's ${ms(d.masterSilentMs)}`,
  },
  {
    name: "two reports per lease",
    fields: ["failInterval"],
    holds: (d) => 2 * d.keeperReportCycleMs <= d.keeperLeaseMs,
    explain: (d) => `two report cycles (${ms(2 * d.keeperReportCycleMs)}) must fit in the keeper's lease of ${ms(d.keeperLeaseMs)}, so one slow report does not lose it`,
  },
  {
    name: "the silent-master rule is whole seconds",
    fields: [],
    holds: (d) => d.masterSilentMs > 0 && d.masterSilentMs % 1000 === 0,
    explain: (d) => `the silent-master rule's ${ms(d.masterSilentMs)} must be a whole number of seconds: etcd reports a lease's remaining TTL in whole seconds`,
  },
  {
    name: "proxy checks within its timeout",
    fields: ["proxyCheckInterval", "proxyTimeout"],
    holds: (d) => d.proxyCheckIntervalMs < d.proxyTimeoutMs,
    explain: (d) => `must be less than proxyTimeout (${ms(d.proxyCheckIntervalMs)} >= ${ms(d.proxyTimeoutMs)}): a proxy must check at least once before it gives up`,
  },
  {
    name: "proxy cut off before the sentinel stops waiting",
    fields: [],
    holds: (d) => d.proxyFencedByMs < d.proxySilentAfterMs,
    explain: (d) => `a cut-off proxy has closed its clients by ${ms(d.proxyFencedByMs)}, which must be before the sentinel stops waiting for it at ${ms(d.proxySilentAfterMs)} (proxyTimeout + ${ms(PROXY_SILENT_MARGIN_MS)})`,
  },
  {
    name: "proxy info outlives the sentinel's wait",
    fields: ["proxyTimeout"],
    holds: (d) => d.proxyInfoTtlMs >= d.proxySilentAfterMs,
    explain: (d) => `the proxy's info lease ${ms(d.proxyInfoTtlMs)} (2 x proxyTimeout) must last until the sentinel stops waiting at ${ms(d.proxySilentAfterMs)}; an earlier expiry lets the sentinel route before the proxy has cut its clients`,
  },
];

export interface TimingViolation {
  rule: string;
  fields: readonly string[];
  detail: string;
}

/** Every inequality that does not hold, by name; empty when the timings are safe. */
export function timingViolations(d: DerivedTimings): TimingViolation[] {
  return RULES.filter((r) => !r.holds(d)).map((r) => ({ rule: r.name, fields: r.fields, detail: r.explain(d) }));
}

/** The names of every rule, for tests and documentation. */
export const TIMING_RULES: readonly string[] = RULES.map((r) => r.name);
