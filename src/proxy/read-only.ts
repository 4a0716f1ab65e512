/**
 * Where the proxy's read-only port sends connections (issue 18). Pure: no I/O, no timers, no
 * clock of its own (the caller passes `now`, monotonic ms); the Forwarder acts on the result.
 *
 * A db is eligible when the cluster data says it is a converged, healthy standby, with an
 * address, of the master this proxy routes to, and its keeper's latest report (fresh: the keeper
 * known alive within staleMs, from its lease) says PostgreSQL is healthy, streams WAL, and has
 * replayed to within the lag bound of the position the master's keeper last reported (fresh too). The lag is replay lag
 * (PostgresState.replayedXLogPos): a standby whose replay is paused keeps receiving WAL.
 *
 * "The master" is the db this proxy routes writes to (cd.proxy.spec.masterDbUid, through
 * proxyRoute): standbys must follow it, the lag is counted from its keeper's report, and it is
 * never a candidate. A db named by cd.cluster.status.master but not yet routed (a promotion in
 * progress) is excluded at once, like any db that is not a standby: a promoted standby is never
 * read from through this port until it is a standby again.
 *
 * A standby that fails only on its lag (over the bound, or unknown) or on a stale report keeps its
 * existing connections for graceMs (a late report, a burst of writes), remembered in
 * ReadOnlyMemory.badSince; any other failed rule cuts them at once.
 *
 * With no eligible standby, the policy's fallback: "master" sends new connections to the master.
 * Once a standby is eligible again the master is in neither set, so the connections the fallback
 * sent it are cut: the master does not keep read load. "hold" / "refuse": no target; the
 * Forwarder holds or refuses new clients.
 */
import { SPEC_DEFAULTS, nextAliveHistory, own, uidRecord, type AliveHistory, type ClusterData, type DB, type KeeperInfo, type PostgresState } from "../cluster/index.ts";
import { dbTarget, proxyRoute, type ProxyTarget } from "../cluster/proxy-target.ts";
import { formatBytes } from "../cluster/format.ts";

export type ReadOnlyFallback = "master" | "hold" | "refuse";
export const READ_ONLY_FALLBACKS: readonly ReadOnlyFallback[] = ["master", "hold", "refuse"];
/**
 * A keeper not known alive for longer than this (its lease, read in whole seconds, or a new
 * infoUID) has a report of unknown worth: its lease reads as not renewed for 2 s or more.
 */
export const READ_ONLY_STALE_MS = 1500;
/** The read-only port reads the cluster data, the keepers' infos and their leases this often. */
export const READ_ONLY_CHECK_MS = 500;
/** A standby over the lag bound (or with a stale report) keeps its connections this long. */
export const READ_ONLY_GRACE_MS = 1000;

export interface ReadOnlyPolicy {
  /** null: the spec's maxStandbyLag (spec default when unset). */
  maxLagBytes: number | null;
  fallback: ReadOnlyFallback;
  /** READ_ONLY_STALE_MS in real use. */
  staleMs: number;
  /** READ_ONLY_GRACE_MS in real use. */
  graceMs: number;
}

/**
 * Tracks, per keeper uid, when it was last known alive (monotonic ms, the caller's clock): now
 * minus its lease's reading when there is one (Store.leaseSilenceMs), else when its infoUID last
 * changed. The first sight of a keeper without a reading counts as a change.
 */
export class ReportAges {
  private readonly seen = new Map<string, AliveHistory>();

  /** Records the infos (and lease readings, by uid) read at `now`; forgets keepers not present. */
  observe(infos: Record<string, KeeperInfo>, now: number, silenceMs: Readonly<Record<string, number>> = {}): void {
    for (const uid of [...this.seen.keys()]) if (!Object.hasOwn(infos, uid)) this.seen.delete(uid);
    for (const [uid, info] of Object.entries(infos)) {
      this.seen.set(uid, nextAliveHistory(this.seen.get(uid), info.infoUID, own(silenceMs, uid), now));
    }
  }

  /** ms since this keeper was last known alive (see observe); null when never seen. */
  ageMs(keeperUid: string, now: number): number | null {
    const s = this.seen.get(keeperUid);
    return s ? Math.max(0, now - s.since) : null;
  }
}

export interface ReadOnlyMemory {
  /** db uid -> monotonic ms since which it is over the lag bound or stale */
  badSince: Record<string, number>;
}
/** Empty memory (its record has no prototype: db uids are plain keys). */
export const freshReadOnlyMemory = (): ReadOnlyMemory => ({ badSince: uidRecord<number>() });

export interface ReadOnlyCandidate {
  dbUid: string;
  keeperUid: string;
  /** master's reported xLogPos - this standby's replayedXLogPos (>= 0); null when unknown. */
  lagBytes: number | null;
  state: "eligible" | "grace" | "excluded";
  /** "eligible", or why not: the rule, in words ("unhealthy", "lag 20 MiB over the bound of 16 MiB", ...). */
  reason: string;
}

export interface ReadOnlyRoute {
  /** Where new connections may go (the Forwarder picks the least loaded). */
  pick: ProxyTarget[];
  /** Existing connections to these targets stay (pick plus standbys within their grace); all others are cut. */
  keep: ProxyTarget[];
  /** "master" when the fallback sent new connections to the master; null otherwise. */
  fallback: "master" | null;
  /** Every db other than the master, sorted by db uid. */
  candidates: ReadOnlyCandidate[];
  /** One line for logs when pick is empty or the fallback is used ("" otherwise). */
  reason: string;
}

export interface ReadOnlyInput {
  cd: ClusterData | null;
  proxyUid: string;
  infos: Record<string, KeeperInfo>;
  ages: ReportAges;
  now: number;
  policy: ReadOnlyPolicy;
}

/** What every db is judged against in one call. */
interface Context extends ReadOnlyInput {
  cd: ClusterData;
  master: DB;
  boundBytes: number;
  /** The master's reported position, or why it is unknown. */
  masterPos: { pos: number; unknown?: undefined } | { unknown: string };
}

interface Judged {
  candidate: ReadOnlyCandidate;
  target: ProxyTarget | null;
}

/** Where new read-only connections go and which existing ones stay; `mem` is updated in place. */
export function readOnlyRoute(input: ReadOnlyInput, mem: ReadOnlyMemory): ReadOnlyRoute {
  const route = proxyRoute(input.cd, input.proxyUid);
  const master = input.cd && route.target ? own(input.cd.dbs, route.target.dbUid) : undefined;
  if (!input.cd || !route.target || !master) return unrouted(input.cd, route.reason, mem);
  const cd = input.cd;
  const boundBytes = input.policy.maxLagBytes ?? cd.cluster.spec.maxStandbyLag ?? SPEC_DEFAULTS.maxStandbyLag;
  const ctx: Context = { ...input, cd, master, boundBytes, masterPos: masterPosition(input, master) };
  const judged = otherDbs(cd, master.uid).map((db) => judge(ctx, db, mem));
  forgetOthers(mem, new Set(judged.map((j) => j.candidate.dbUid)));
  return assemble(judged, route.target, input.policy.fallback);
}

/** No master routed (or no cluster data): nothing to read from, no fallback; every other db excluded. */
function unrouted(cd: ClusterData | null, why: string, mem: ReadOnlyMemory): ReadOnlyRoute {
  forgetOthers(mem, new Set());
  const excluded = (db: DB): ReadOnlyCandidate => ({ dbUid: db.uid, keeperUid: db.spec.keeperUID, lagBytes: null, state: "excluded", reason: why });
  const candidates = cd ? otherDbs(cd, cd.proxy.spec.masterDbUid, cd.cluster.status.master).map(excluded) : [];
  return { pick: [], keep: [], fallback: null, candidates, reason: `no read-only routing: ${why}` };
}

/** Every db but the masters named, sorted by uid (code units, so the order never depends on a locale). */
function otherDbs(cd: ClusterData, ...masterUids: (string | undefined)[]): DB[] {
  return Object.values(cd.dbs)
    .filter((db) => !masterUids.includes(db.uid))
    .sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
}

/** Drops the memory of every db not in `keepUids`. */
function forgetOthers(mem: ReadOnlyMemory, keepUids: ReadonlySet<string>): void {
  for (const uid of Object.keys(mem.badSince)) if (!keepUids.has(uid)) delete mem.badSince[uid];
}

/** The master keeper's reported WAL position, when its report is fresh and about the master db. */
function masterPosition(input: ReadOnlyInput, master: DB): Context["masterPos"] {
  const k = master.spec.keeperUID;
  const ps = own(input.infos, k)?.postgresState;
  if (!ps) return { unknown: `no report from the master's keeper ${k}` };
  if (ps.uid !== master.uid) return { unknown: `the master's keeper ${k} reports ${dbWords(ps)}, not ${master.uid}` };
  const age = input.ages.ageMs(k, input.now);
  if (age === null || age > input.policy.staleMs) return { unknown: `the report of the master's keeper ${k} is stale (${staleWords(age, input.policy.staleMs)})` };
  if (typeof ps.xLogPos !== "number") return { unknown: `the master's keeper ${k} reports no WAL position` };
  return { pos: ps.xLogPos };
}

/** One db against every rule, and its grace (in `mem`). */
function judge(ctx: Context, db: DB, mem: ReadOnlyMemory): Judged {
  const ps = reportedState(ctx, db);
  const lagBytes = ctx.masterPos.unknown === undefined && typeof ps?.replayedXLogPos === "number" ? Math.max(0, ctx.masterPos.pos - ps.replayedXLogPos) : null;
  const base = { dbUid: db.uid, keeperUid: db.spec.keeperUID, lagBytes };
  const target = dbTarget(db);
  const hard = clusterDataRule(ctx, db) ?? reportRule(ctx, db);
  if (hard !== null || !target || !ps) {
    delete mem.badSince[db.uid];
    return { candidate: { ...base, state: "excluded", reason: hard ?? "no valid address yet" }, target: null };
  }
  const soft = lagRule(ctx, db, ps, lagBytes);
  if (soft === null) {
    delete mem.badSince[db.uid];
    return { candidate: { ...base, state: "eligible", reason: "eligible" }, target };
  }
  const since = Object.hasOwn(mem.badSince, db.uid) ? mem.badSince[db.uid]! : (mem.badSince[db.uid] = ctx.now);
  const left = since + ctx.policy.graceMs - ctx.now;
  if (left > 0) return { candidate: { ...base, state: "grace", reason: `${soft} (its connections kept ${Math.ceil(left)} ms more)` }, target };
  return { candidate: { ...base, state: "excluded", reason: soft }, target: null };
}

/** The PostgreSQL state db's keeper reports about that db; undefined when it reports none or another db's. */
function reportedState(ctx: Context, db: DB): PostgresState | undefined {
  const ps = own(ctx.infos, db.spec.keeperUID)?.postgresState;
  return ps && ps.uid === db.uid ? ps : undefined;
}

/** The cluster data's rules: a converged, healthy standby of the master, with an address. */
function clusterDataRule(ctx: Context, db: DB): string | null {
  const m = ctx.master.uid;
  if (db.uid === ctx.cd.cluster.status.master) return `the cluster's master (cluster status), not yet routed (the proxy routes to ${m})`;
  if (db.spec.role !== "standby") return `role ${db.spec.role}, not standby`;
  const f = db.spec.followConfig;
  if (!f) return `no follow config (not a standby of the master ${m})`;
  if (f.type !== "internal") return `follows an external source, not the master ${m}`;
  if (f.dbuid !== m) return `follows ${f.dbuid || "no db"}, not the master ${m}`;
  if (db.status.currentGeneration !== db.generation)
    return `not converged (generation ${db.status.currentGeneration ?? 0} reported, ${db.generation} wanted)`;
  if (db.status.healthy !== true) return "unhealthy";
  if (!dbTarget(db)) return "no valid address yet";
  return null;
}

/** The keeper report's rules (what it says, not how old it is): healthy and streaming. */
function reportRule(ctx: Context, db: DB): string | null {
  const k = db.spec.keeperUID;
  const info = own(ctx.infos, k);
  if (!info) return `no report from keeper ${k}`;
  const ps = info.postgresState;
  if (!ps || ps.uid !== db.uid) return `keeper ${k} reports ${ps ? dbWords(ps) : "no PostgreSQL state"}, not ${db.uid}`;
  if (ps.healthy !== true) return `keeper ${k} reports PostgreSQL unhealthy`;
  if (ps.receivingWal !== true) return `keeper ${k} reports no WAL streaming from the master`;
  return null;
}

/** The rules that allow a grace: a fresh report, a known lag, within the bound. */
function lagRule(ctx: Context, db: DB, ps: PostgresState, lagBytes: number | null): string | null {
  const k = db.spec.keeperUID;
  const age = ctx.ages.ageMs(k, ctx.now);
  if (age === null || age > ctx.policy.staleMs) return `the report of keeper ${k} is stale (${staleWords(age, ctx.policy.staleMs)})`;
  if (ctx.masterPos.unknown !== undefined) return `lag unknown: ${ctx.masterPos.unknown}`;
  if (typeof ps.replayedXLogPos !== "number" || lagBytes === null) return `lag unknown: keeper ${k} reports no replayed position`;
  if (lagBytes > ctx.boundBytes) return `lag ${bytes(lagBytes)} over the bound of ${bytes(ctx.boundBytes)}`;
  return null;
}

/** pick, keep and the fallback from the judged dbs. */
function assemble(judged: readonly Judged[], master: ProxyTarget, fallback: ReadOnlyFallback): ReadOnlyRoute {
  const candidates = judged.map((j) => j.candidate);
  const targets = (state: ReadOnlyCandidate["state"]) => judged.filter((j) => j.candidate.state === state && j.target).map((j) => j.target!);
  const pick = targets("eligible");
  const grace = targets("grace");
  if (pick.length > 0) return { pick, keep: [...pick, ...grace], fallback: null, candidates, reason: "" };
  const why =
    candidates.length === 0 ? "no standby" : `no eligible standby (${candidates.map((c) => `${c.dbUid}: ${c.reason}`).join("; ")})`;
  if (fallback === "master")
    return { pick: [master], keep: [master, ...grace], fallback: "master", candidates, reason: `${why}: new read-only connections go to the master ${master.dbUid}` };
  return { pick: [], keep: grace, fallback: null, candidates, reason: `${why}: new read-only connections are ${fallback === "hold" ? "held" : "refused"}` };
}

const dbWords = (ps: PostgresState) => (ps.uid ? `db ${ps.uid}` : "no db");
const staleWords = (age: number | null, staleMs: number) => (age === null ? "never seen" : `not known alive for ${Math.round(age)} ms, over ${staleMs} ms`);
/** "16 MiB", "1.5 MiB", "512 B". */
const bytes = (n: number) => formatBytes(n).replace(".0 ", " ");
