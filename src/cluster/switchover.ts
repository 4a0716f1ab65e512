/**
 * A planned switchover (issue 17), carried out by decide(): the leader sentinel moves
 * cd.switchover through its phases, one named step each, pure.
 *
 *   requested    the target is checked (the named keeper, else the election's ranking); refused ->
 *                "failed"; accepted -> proxies told to hold new clients and drain (proxy.spec.hold)
 *   draining     every enabled proxy reports `drained: id`, or drainTimeout + proxyCheckInterval
 *                has passed since the hold began -> the master's spec gets stopForSwitchover
 *   stopping     the master's keeper reports the clean shutdown and its checkpoint LSN (stopLsn)
 *   catching-up  the target's reported xLogPos is past stopLsn: it has every acknowledged commit
 *   promoting    switchMaster made the target master and the old master its standby (same db, no
 *                copy); the hold stays until the proxy barrier routes to the new master, in the
 *                same write that releases it ->
 *   done
 *
 * Before the promotion, the timeout (from acceptance), a pause, the target turning ineligible or
 * the operator's cancel (cancelRequestedAt, from `stolonctl switchover --cancel`) roll back: stopForSwitchover cleared (the old master's keeper starts it again as master), the
 * hold released with masterDbUid unchanged. The master failing (its keeper) ends the switchover
 * "failed" and the ordinary failover rules apply. A phase whose condition already holds moves on
 * in the same tick (stopping -> catching-up -> promoting), so ticks do not stretch the write gap.
 */
import { masterDb } from "./cluster-data.ts";
import type { Tick } from "./decide.ts";
import { boundsProblem, clampDuration, parseDuration, type DurationBounds } from "./duration.ts";
import { lsnText } from "./format.ts";
import { switchoverInProgress } from "./planned-ops.ts";
import { chosenCandidate, rankCandidates } from "./rank.ts";
import {
  MAX_SWITCHOVER_STEPS,
  MAX_SWITCHOVER_TEXT_LENGTH,
  SWITCHOVER_DRAIN_TIMEOUT_BOUNDS,
  SWITCHOVER_TIMEOUT_BOUNDS,
  type DB,
  type Switchover,
  type SwitchoverPhase,
} from "./types.ts";

const iso = (t: Tick) => new Date(t.input.wallNow).toISOString();

/** The master is stopped (or being stopped) by the switchover that is running now. */
export function stoppedForSwitchover(t: Tick, master: DB): boolean {
  const sw = t.cd.switchover;
  return master.spec.stopForSwitchover !== undefined && switchoverInProgress(sw) && sw.id === master.spec.stopForSwitchover;
}

/**
 * A text cut to what the cluster data may hold: a reason may list every keeper, and cluster data
 * the checks refuse could be read by nobody.
 */
function clip(text: string): string {
  return text.length <= MAX_SWITCHOVER_TEXT_LENGTH ? text : `${text.slice(0, MAX_SWITCHOVER_TEXT_LENGTH - 3)}...`;
}

/** Moves to `phase`: phaseTime, a step line (the last MAX_SWITCHOVER_STEPS kept) and a note. */
function setPhase(t: Tick, sw: Switchover, phase: SwitchoverPhase, text: string, outcome?: string): void {
  sw.phase = phase;
  sw.phaseTime = iso(t);
  sw.steps = [...sw.steps, { time: sw.phaseTime, text: clip(text) }].slice(-MAX_SWITCHOVER_STEPS);
  if (outcome !== undefined) sw.outcome = clip(outcome);
  t.note(`switchover ${sw.id}: ${text}`);
}

/** Releases this switchover's hold (proxy generation bump): held clients go where masterDbUid says. */
function releaseHold(t: Tick, sw: Switchover): void {
  if (t.cd.proxy.spec.hold?.id !== sw.id) return;
  delete t.cd.proxy.spec.hold;
  t.cd.proxy.generation++;
}

/** Undoes what the switchover asked for (the stop, the hold) and ends it in `phase`. */
function end(t: Tick, sw: Switchover, phase: "failed" | "rolled-back", reason: string): void {
  const from = sw.fromDb ? t.cd.dbs[sw.fromDb] : undefined;
  const restart = from?.spec.stopForSwitchover === sw.id;
  if (restart) {
    delete from!.spec.stopForSwitchover;
    // Its PostgreSQL was down on purpose, maybe for longer than failInterval: its keeper gets a
    // whole failInterval from now to start it again before the db counts as failed (else the next
    // tick would fail over the master the rollback just gave back its role).
    t.mem.dbErrorSince[from!.uid] = t.now;
  }
  releaseHold(t, sw);
  const step = sw.phase;
  const master = masterDb(t.cd);
  const stays = phase === "rolled-back" && master ? `; ${t.name(master)} stays master` : "";
  const outcome = step === "requested" ? `refused: ${reason}` : `${phase === "failed" ? "failed" : "rolled back"} during ${step}: ${reason}${stays}`;
  const undo = [restart ? `db ${from!.uid} may start again` : "", sw.acceptedAt ? "proxies released" : ""].filter(Boolean).join(", ");
  setPhase(t, sw, phase, `${outcome}${undo ? ` (${undo})` : ""}`, outcome);
}

/** Ends a switchover that cannot be carried out in this phase of the cluster (initializing, no master). */
export function failUnstartedSwitchover(t: Tick, reason: string): void {
  const sw = t.cd.switchover;
  if (switchoverInProgress(sw)) end(t, sw, "failed", reason);
}

/** A duration of the request, or why it cannot be used. */
function requestDuration(name: string, raw: string, bounds: DurationBounds): string | null {
  const d = parseDuration(raw);
  if ("error" in d) return `${name}: ${d.error}`;
  const p = boundsProblem(raw, d.ms, bounds);
  return p ? `${name} ${p}` : null;
}

/** A duration of an accepted request (checked then), in ms. */
function acceptedMs(raw: string, bounds: DurationBounds): number {
  const d = parseDuration(raw);
  return "error" in d ? bounds.minMs : clampDuration(d.ms, bounds);
}

/** Why a request cannot start now, or null. */
function refusal(t: Tick, sw: Switchover, master: DB | undefined): string | null {
  if (t.pause) return "the cluster is paused";
  if (!master) return "the cluster has no master db";
  if (t.cd.keepers[t.keeperOf(master)]?.status.healthy !== true || master.status.healthy !== true)
    return `the master ${t.name(master)} is not healthy`;
  if (t.cd.proxy.spec.masterDbUid !== master.uid) return "the proxies do not route to the master yet (a master change is still settling)";
  return requestDuration("timeout", sw.timeout, SWITCHOVER_TIMEOUT_BOUNDS) ?? requestDuration("drainTimeout", sw.drainTimeout, SWITCHOVER_DRAIN_TIMEOUT_BOUNDS);
}

/** The target: the keeper named with --to, else the election's choice; or why there is none. */
function chooseTarget(t: Tick, sw: Switchover, master: DB): { db: DB; rule: string } | { refused: string } {
  if (sw.to !== undefined) {
    const to = sw.to;
    if (!t.cd.keepers[to]) return { refused: `keeper ${to} is not in the cluster` };
    const db = Object.values(t.cd.dbs).find((d) => t.keeperOf(d) === to);
    if (db?.uid === master.uid) return { refused: `keeper ${to} already holds the master (db ${master.uid})` };
    if (!db || !t.isStandbyType(db)) return { refused: `keeper ${to} has no standby db` };
    // Priority 0 is allowed here: it only keeps a keeper from being chosen automatically.
    const ex = t.exclusion(db, master);
    return ex === null ? { db, rule: `keeper ${to} named by the request` } : { refused: `keeper ${to} (db ${db.uid}) is not eligible: ${ex}` };
  }
  const ranking = rankCandidates(t.candidateEntries(master));
  const best = chosenCandidate(ranking);
  if (!best) {
    const why = ranking.map((c) => `keeper ${c.keeperUid} (db ${c.dbUid}): ${c.excludedBy}`).join("; ");
    return { refused: `no standby is eligible${why ? `: ${why}` : " (there is none)"}` };
  }
  return { db: t.cd.dbs[best.dbUid]!, rule: `chosen by the election's rule: ${best.rule}` };
}

function requested(t: Tick, sw: Switchover): void {
  const master = masterDb(t.cd);
  const refused = refusal(t, sw, master);
  if (refused !== null) return end(t, sw, "failed", refused);
  const target = chooseTarget(t, sw, master!);
  if ("refused" in target) return end(t, sw, "failed", target.refused);
  const now = iso(t);
  sw.acceptedAt = now;
  sw.fromDb = master!.uid;
  sw.toDb = target.db.uid;
  t.cd.proxy.spec.hold = { id: sw.id, since: now, drainTimeout: sw.drainTimeout };
  t.cd.proxy.generation++;
  setPhase(
    t,
    sw,
    "draining",
    `accepted: from ${t.name(master!)} to ${t.name(target.db)} (${target.rule}); proxies hold new connections and drain the open ones (drain timeout ${sw.drainTimeout}, timeout ${sw.timeout})`,
  );
}

/**
 * Why a running switchover (before the promotion) must stop now, and how, or null. The master
 * failing is "failed" (the ordinary rules take over); anything else is "rolled-back".
 */
function abortReason(t: Tick, sw: Switchover): { phase: "failed" | "rolled-back"; reason: string } | null {
  const master = masterDb(t.cd);
  if (!master || master.uid !== sw.fromDb)
    return { phase: "failed", reason: `the master changed to ${master ? t.name(master) : "none"} (the old master failed; ordinary failover)` };
  if (t.cd.keepers[t.keeperOf(master)]?.status.healthy !== true) return { phase: "failed", reason: `the master's keeper ${t.keeperOf(master)} failed` };
  if (t.pause) return { phase: "rolled-back", reason: "the cluster was paused" };
  const deadline = Date.parse(sw.acceptedAt ?? sw.requestedAt) + acceptedMs(sw.timeout, SWITCHOVER_TIMEOUT_BOUNDS);
  if (t.input.wallNow > deadline) return { phase: "rolled-back", reason: `the timeout of ${sw.timeout} passed before the promotion` };
  const target = sw.toDb ? t.cd.dbs[sw.toDb] : undefined;
  if (!target) return { phase: "rolled-back", reason: `the target db ${sw.toDb} is gone` };
  const ex = t.exclusion(target, master);
  if (ex !== null) return { phase: "rolled-back", reason: `the target ${t.name(target)} is no longer eligible: ${ex}` };
  return null;
}

/** The abort check of the phases before the promotion: true when the switchover ended here. */
function aborted(t: Tick, sw: Switchover): boolean {
  const a = abortReason(t, sw);
  if (a) end(t, sw, a.phase, a.reason);
  return a !== null;
}

function draining(t: Tick, sw: Switchover): void {
  if (aborted(t, sw)) return;
  const master = masterDb(t.cd)!;
  const enabled = t.cd.proxy.spec.enabledProxies ?? [];
  const waiting = enabled.filter((p) => t.proxiesInfo[p]?.drained !== sw.id);
  const since = Date.parse(t.cd.proxy.spec.hold?.since ?? sw.acceptedAt ?? sw.requestedAt);
  // Proxies that never answer are waited for no longer than the drain period plus one of their checks.
  const deadline = since + acceptedMs(sw.drainTimeout, SWITCHOVER_DRAIN_TIMEOUT_BOUNDS) + t.t.proxyCheckIntervalMs;
  if (waiting.length > 0 && t.input.wallNow < deadline) {
    t.note(`switchover ${sw.id}: waiting for proxies ${waiting.join(", ")} to drain (at most until ${new Date(deadline).toISOString()})`);
    return;
  }
  master.spec.stopForSwitchover = sw.id;
  const drained = waiting.length === 0 ? `every proxy drained (${enabled.join(", ") || "none enabled"})` : `drain period over, proxies ${waiting.join(", ")} not drained`;
  setPhase(t, sw, "stopping", `${drained}: stopping the master ${t.name(master)}`);
}

function stopping(t: Tick, sw: Switchover): void {
  if (aborted(t, sw)) return;
  const master = masterDb(t.cd)!;
  const st = t.keepersInfo[t.keeperOf(master)]?.postgresState;
  const stopped = st?.uid === master.uid ? st.stoppedForSwitchover : undefined;
  if (stopped?.id !== sw.id) {
    t.note(`switchover ${sw.id}: waiting for keeper ${t.keeperOf(master)} to stop db ${master.uid}`);
    return;
  }
  sw.stopLsn = stopped.lsn;
  setPhase(t, sw, "catching-up", `the master ${t.name(master)} stopped cleanly, its shutdown checkpoint at LSN ${lsnText(stopped.lsn)}`);
}

function catchingUp(t: Tick, sw: Switchover): void {
  if (aborted(t, sw)) return;
  const from = masterDb(t.cd)!;
  const to = t.cd.dbs[sw.toDb!]!;
  const pos = to.status.xLogPos ?? 0;
  const stopLsn = sw.stopLsn ?? Number.MAX_SAFE_INTEGER;
  if (!(pos > stopLsn)) {
    t.note(`switchover ${sw.id}: waiting for ${t.name(to)} to receive WAL past LSN ${lsnText(stopLsn)} (at ${lsnText(pos)})`);
    return;
  }
  promote(t, sw, from, to);
}

/** The target becomes master; the old master, the same db, becomes its standby (no new db, no copy). */
function promote(t: Tick, sw: Switchover, from: DB, to: DB): void {
  t.switchMaster(from, to);
  from.spec.role = "standby";
  from.spec.followConfig = { type: "internal", dbuid: to.uid };
  delete from.spec.stopForSwitchover;
  from.spec.synchronousReplication = false;
  from.spec.synchronousStandbys = [];
  from.spec.externalSynchronousStandbys = [];
  from.status.synchronousStandbys = [];
  t.setFollowers(to);
  setPhase(
    t,
    sw,
    "promoting",
    `${t.name(to)} has WAL past LSN ${lsnText(sw.stopLsn ?? 0)} (at ${lsnText(to.status.xLogPos ?? 0)}): promoting it; ${t.name(from)} follows it`,
  );
}

function promoting(t: Tick, sw: Switchover): void {
  const master = masterDb(t.cd);
  if (master?.uid !== sw.toDb)
    end(t, sw, "failed", `db ${sw.toDb} is no longer the master (now ${master ? t.name(master) : "none"}): the ordinary failover rules took over`);
}

const STEPS: Record<SwitchoverPhase, (t: Tick, sw: Switchover) => void> = {
  requested,
  draining,
  stopping,
  "catching-up": catchingUp,
  promoting,
  done: () => {},
  failed: () => {},
  "rolled-back": () => {},
};

/**
 * Clears a stopForSwitchover or a hold that no running switchover owns (a stale or hostile
 * write): a master must not stay down, nor clients held, for nothing.
 */
function clearStale(t: Tick): void {
  const sw = t.cd.switchover;
  const live = switchoverInProgress(sw) ? sw.id : null;
  for (const db of Object.values(t.cd.dbs)) {
    if (db.spec.stopForSwitchover === undefined || db.spec.stopForSwitchover === live) continue;
    t.note(`${t.name(db)}: stopForSwitchover ${db.spec.stopForSwitchover} cleared: no such switchover is running`);
    delete db.spec.stopForSwitchover;
  }
  const hold = t.cd.proxy.spec.hold;
  if (hold && hold.id !== live) {
    delete t.cd.proxy.spec.hold;
    t.cd.proxy.generation++;
    t.note(`proxy hold ${hold.id} released: no such switchover is running`);
  }
}

/** The switchover step of a normal tick, after the election (see the file comment). */
export function switchoverStep(t: Tick): void {
  clearStale(t);
  const sw = t.cd.switchover;
  // Cancelled by the operator: rolled back, unless the promotion has started (then it runs to its end).
  if (switchoverInProgress(sw) && sw.cancelRequestedAt !== undefined && sw.phase !== "promoting")
    end(t, sw, sw.phase === "requested" ? "failed" : "rolled-back", `cancelled by the operator at ${sw.cancelRequestedAt}`);
  for (let i = 0; i < STEPS_PER_TICK && switchoverInProgress(sw); i++) {
    const phase = sw.phase;
    STEPS[phase](t, sw);
    if (sw.phase === phase || sw.phase === "promoting") break;
  }
}
/** Phase steps run in one tick at most: requested -> draining -> stopping (no proxies), or stopping -> catching-up -> promoting. */
const STEPS_PER_TICK = 4;

/** promoting -> done, once the proxy barrier routed to the new master (in this tick's write). */
export function switchoverAfterBarrier(t: Tick): void {
  const sw = t.cd.switchover;
  if (sw?.phase !== "promoting" || !sw.toDb || t.cd.proxy.spec.masterDbUid !== sw.toDb) return;
  const from = sw.fromDb ? t.cd.dbs[sw.fromDb] : undefined;
  const to = t.cd.dbs[sw.toDb];
  if (!to) return;
  const ms = t.input.wallNow - Date.parse(sw.acceptedAt ?? sw.requestedAt);
  const outcome = `switched over from ${from ? t.name(from) : `db ${sw.fromDb}`} to ${t.name(to)} in ${ms} ms`;
  setPhase(t, sw, "done", `proxies route to the new master ${t.name(to)}: ${outcome}`, outcome);
}
