/**
 * The initializing phase of `initMode: pitr`, a step of decide() handed the Tick (see decide.ts).
 *
 * As stolon (reference: "updateCluster, phase initializing"): one keeper, chosen as for `new`
 * (healthy, may be master, priority not 0, lowest uid), gets the first db with initMode pitr and the
 * spec's pitrConfig; in a standby cluster (spec.role "standby") that db is the standby leader
 * (role standby, followConfig external) instead of a master. The keeper restores and recovers;
 * once the db has converged and is healthy the cluster goes to phase normal, and the other keepers
 * then join as standbys by the usual rules.
 *
 * What stolon does not have: the wait is bounded by syncTimeout (0, the default, waits forever as
 * stolon does), and the keeper reports a failed restore in its info (KeeperInfo.init). A failure is
 * tried on another keeper only with pitrConfig.retryOnOtherKeeper (each keeper at most once);
 * without it the cluster stays as it is, the failure in the notes and in `stolonctl status`, until
 * an operator acts: `stolonctl init` again, or `stolonctl update` with another pitrConfig (which
 * replaces the db, so the keeper restores again with the new settings).
 */
import { masterDb } from "./cluster-data.ts";
import { lsnText } from "./format.ts";
import { uidRecord } from "./info-check.ts";
import { isPlainObject, jsonEqual } from "./plain-object.ts";
import type { Tick } from "./decide.ts";
import type { PitrConfig } from "./spec.ts";
import type { DB, KeeperInit } from "./types.ts";

/** How the notes that need an operator begin (see pitrAttentionNotes). */
const FAILED_NOTE = "pitr restore of ";
const STAYS_NOTE = "the cluster stays initializing until an operator acts";
const ALL_TRIED_NOTE = "initializing: every healthy keeper that can be master already failed the pitr restore";

/**
 * The notes of a tick that need an operator: a failed restore, the cluster left waiting for one.
 * A failure without retryOnOtherKeeper changes nothing in the cluster data, so the sentinel, which
 * logs a tick's notes with its write, logs these itself when they change.
 */
export function pitrAttentionNotes(notes: readonly string[]): string[] {
  return notes.filter((n) => n.startsWith(FAILED_NOTE) || n.startsWith(STAYS_NOTE) || n.startsWith(ALL_TRIED_NOTE));
}

/** The longest piece of a keeper's report (detail, output line) quoted in a note. */
const MAX_QUOTED = 300;
/** The most keepers remembered as tried (more than any cluster has). */
const MAX_TRIED = 1000;

/** One tick of the pitr initialization: create the first db, or watch it. */
export function pitrInitStep(t: Tick): void {
  let db = masterDb(t.cd);
  if (db && !jsonEqual(withoutNulls(db.spec.pitrConfig), withoutNulls(dbPitrConfig(t)))) {
    t.note(`pitrConfig changed while ${t.name(db)} was initializing: it is replaced by a new db, restored with the new settings`);
    forget(t);
    db = undefined;
  }
  if (!db) return createPitrDb(t);
  const failed = failedInit(t, db);
  if (failed) return restoreFailed(t, db, failed);
  checkPitrInitialized(t, db);
}

/** The db's pitrConfig: the cluster spec's, without what only the sentinel reads (retryOnOtherKeeper). */
function dbPitrConfig(t: Tick): PitrConfig {
  const { dataRestoreCommand, archiveRecoverySettings, recoveryTargetSettings } = t.spec.pitrConfig ?? {};
  return withoutNulls({ dataRestoreCommand, archiveRecoverySettings, recoveryTargetSettings }) as PitrConfig;
}

/**
 * A JSON value without its null and undefined fields (nested too), so that a pitrConfig as stored
 * (stolon leaves unset fields out, or writes null) compares equal to the one the spec gives.
 */
function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isPlainObject(v)) return v ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = withoutNulls(x);
  return out;
}

/** The keepers already tried for this cluster and pitrConfig (the memory of another one is dropped). */
function tried(t: Tick): string[] {
  const config = JSON.stringify(dbPitrConfig(t));
  const m = t.mem.pitrTried;
  if (!m || m.clusterUID !== t.cd.cluster.uid || m.config !== config) t.mem.pitrTried = { clusterUID: t.cd.cluster.uid, config, keepers: [] };
  return t.mem.pitrTried!.keepers;
}

function markTried(t: Tick, keeperUID: string): void {
  const keepers = [...tried(t).filter((k) => k !== keeperUID), keeperUID].slice(-MAX_TRIED);
  t.mem.pitrTried = { ...t.mem.pitrTried!, keepers };
}

/** The db and the master pointer gone: the next db starts from nothing. */
function forget(t: Tick): void {
  t.cd.dbs = uidRecord();
  delete t.cd.cluster.status.master;
}

/**
 * The keeper for the first db, or why there is none: healthy, may be master, priority not 0 (as
 * for `new`), lowest uid first; one not tried yet before one that was, and with
 * retryOnOtherKeeper never one that was.
 */
function chooseKeeper(t: Tick): { keeperUID: string } | { wait: string } {
  const { cd } = t;
  const done = tried(t);
  const fit = Object.keys(cd.keepers)
    .sort()
    .filter((k) => cd.keepers[k]!.status.healthy && cd.keepers[k]!.status.canBeMaster !== false && cd.keepers[k]!.status.priority !== 0);
  const keeperUID = fit.find((k) => !done.includes(k)) ?? (t.spec.pitrConfig?.retryOnOtherKeeper ? undefined : fit[0]);
  if (keeperUID !== undefined) return { keeperUID };
  if (fit.length === 0) return { wait: "initializing: no healthy keeper that can be master yet: waiting" };
  return {
    wait: `${ALL_TRIED_NOTE} (${fit.join(", ")}): waiting for another keeper, or fix the restore and run stolonctl init again`,
  };
}

/** The first db on the chosen keeper: a master, or the standby leader of a standby cluster. */
function createPitrDb(t: Tick): void {
  const { cd, spec } = t;
  const choice = chooseKeeper(t);
  if ("wait" in choice) return t.note(choice.wait);
  const { keeperUID } = choice;
  const standby = spec.role === "standby";
  const uid = t.addDb(keeperUID, {
    initMode: "pitr",
    pitrConfig: dbPitrConfig(t),
    role: standby ? "standby" : "master",
    followConfig: standby
      ? { type: "external", standbySettings: spec.standbyConfig?.standbySettings, archiveRecoverySettings: spec.standbyConfig?.archiveRecoverySettings }
      : null,
    includePreviousConfig: spec.mergePgParameters,
  });
  cd.cluster.status.master = uid;
  const what = standby ? "the standby leader (following the external source of standbyConfig)" : "the first master";
  t.note(`initializing the cluster (initMode pitr): db ${uid} on keeper ${keeperUID} will be restored (dataRestoreCommand) and become ${what}`);
}

/** The keeper's report that its restore of `db` failed, if it made one. */
function failedInit(t: Tick, db: DB): KeeperInit | undefined {
  const info = t.keepersInfo[db.spec.keeperUID];
  const init = info?.clusterUID === t.cd.cluster.uid ? info.init : undefined;
  return init?.dbUid === db.uid && init.phase === "failed" ? init : undefined;
}

/** A text from a keeper's report, on one line and cut short, for a note. */
function quote(s: string): string {
  const line = s.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return JSON.stringify(line.length > MAX_QUOTED ? `${line.slice(0, MAX_QUOTED - 3)}...` : line);
}

/** The last non-empty line of a command's output, or undefined. */
export function lastLine(output: string | undefined): string | undefined {
  return output?.split(/\r?\n/).reverse().find((l) => l.trim() !== "");
}

/** A failed restore: noted; tried on another keeper with retryOnOtherKeeper, else left as it is. */
function restoreFailed(t: Tick, db: DB, init: KeeperInit): void {
  const last = lastLine(init.output);
  t.note(`${FAILED_NOTE}${t.name(db)} failed (since ${init.since}): ${quote(init.detail)}${last !== undefined ? `; last output line: ${quote(last)}` : ""}`);
  if (!t.spec.pitrConfig?.retryOnOtherKeeper) {
    t.note(
      `${STAYS_NOTE}: fix the restore and run stolonctl init again, or change pitrConfig with stolonctl update (pitrConfig.retryOnOtherKeeper: true tries the other keepers)`,
    );
    return;
  }
  markTried(t, db.spec.keeperUID);
  forget(t);
  t.note(`${t.name(db)} removed: the restore is tried on another keeper (pitrConfig.retryOnOtherKeeper)`);
  createPitrDb(t);
}

/** Converged and healthy: phase normal. Not within syncTimeout: forgotten, to try again. */
function checkPitrInitialized(t: Tick, db: DB): void {
  const { cd, spec } = t;
  const c = t.convergence(db, t.t.syncTimeoutMs);
  if (c === "converged" && db.status.healthy) {
    db.spec.initMode = "none";
    db.spec.includePreviousConfig = false;
    if (spec.mergePgParameters && db.status.pgParameters) cd.cluster.spec.pgParameters = { ...db.status.pgParameters };
    cd.cluster.status.phase = "normal";
    const what = db.spec.role === "master" ? "the cluster is ready" : "the standby cluster is ready, its leader following the external source";
    t.note(`db ${db.uid} on keeper ${db.spec.keeperUID} is restored: ${what} (phase normal)`);
  } else if (c === "failed") {
    t.note(`${t.name(db)} did not finish its pitr restore and recovery within syncTimeout ${spec.syncTimeout}: trying again`);
    markTried(t, db.spec.keeperUID);
    forget(t);
    createPitrDb(t);
  } else {
    t.note(waitingNote(t, db));
  }
}

/** What the keeper reports of its restore, for the note while the cluster waits. */
function waitingNote(t: Tick, db: DB): string {
  const info = t.keepersInfo[db.spec.keeperUID];
  const init = info?.init?.dbUid === db.uid ? info.init : undefined;
  if (!init) return `waiting for ${t.name(db)} to restore and recover (initMode pitr)`;
  const replay = init.replayedXLogPos !== undefined ? `, replayed to ${lsnText(init.replayedXLogPos)}` : "";
  const last = init.lastReplayTime !== undefined ? `, last replayed transaction ${init.lastReplayTime}` : "";
  return `waiting for ${t.name(db)}: ${init.phase} since ${init.since}: ${quote(init.detail)}${replay}${last}`;
}
