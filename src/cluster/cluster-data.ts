/**
 * Creating, parsing and checking ClusterData. Every reader goes through parseClusterData before it
 * acts, so an unknown formatVersion, a wrong shape or an invalid spec is refused with a message
 * that names the problem.
 */
import { ClusterDataError, describeError } from "../lib/errors.ts";
import { validateSpec, type ClusterSpec, type ValidateSpecOptions } from "./spec.ts";
import { GO_ZERO_TIME } from "./stolon-format.ts";
import {
  MAX_PG_PARAMETER_LENGTH,
  MAX_TIMELINES,
  TIMELINE_HISTORY_ENTRY,
  bool,
  capProblems,
  checkObject,
  durationText,
  list,
  object,
  oneOf,
  opt,
  own,
  priority,
  req,
  show,
  stringMap,
  text,
  time,
  uid,
  uidRecord,
  uint,
  type Schema,
} from "./info-check.ts";
import { isPlainObject } from "./plain-object.ts";
import { CURRENT_FORMAT_VERSION, MAX_SWITCHOVER_STEPS, MAX_SWITCHOVER_TEXT_LENGTH, SWITCHOVER_PHASES, type ClusterData, type DB } from "./types.ts";

/** A new cluster in phase "initializing" (stolon's NewClusterData(NewCluster(uid, spec))). */
export function newClusterData(uid: string, spec: ClusterSpec, now: Date): ClusterData {
  const t = now.toISOString();
  return {
    formatVersion: CURRENT_FORMAT_VERSION,
    changeTime: t,
    cluster: { uid, generation: 1, changeTime: t, spec: structuredClone(spec), status: { phase: "initializing" } },
    keepers: uidRecord(),
    dbs: uidRecord(),
    proxy: { generation: 1, changeTime: t, spec: {}, status: {} },
  };
}

/** The master's DB, when the cluster has one. */
export function masterDb(cd: ClusterData): DB | undefined {
  const uid = cd.cluster.status.master;
  return uid ? own(cd.dbs, uid) : undefined;
}

const isObj = isPlainObject;
/** A record key as it may appear in a message: cut short, unquoted. */
const keyName = (k: string) => show(k).replace(/^"|"$/g, "");

// What the sentinel wrote about each keeper, DB and the proxies. Fields this version does not
// know pass (another version may add some); the known ones are checked by type and range, because
// keepers act on a DB spec (initMode, role, followConfig) and a hostile one must be refused whole.
// Fields copied from the cluster spec are bounded as validateSpec bounds them (64 KiB strings,
// 1000 entries), so a valid spec never makes the cluster data the sentinel writes unreadable.
const specText = text(MAX_PG_PARAMETER_LENGTH);
// Lists the sentinel builds from what it sees (followers, in-sync standbys, live proxies) have no
// bound here: many hostile infos must not make the sentinel write cluster data it cannot read back.
// etcd's value size limit bounds them.
const UNBOUNDED = Number.MAX_SAFE_INTEGER;
const archiveRecoverySettings = object({ restoreCommand: opt(specText) });
const followConfig = object({
  type: req(oneOf(["internal", "external"])),
  dbuid: opt(uid()),
  standbySettings: opt(object({ primaryConninfo: opt(specText), primarySlotName: opt(specText), recoveryMinApplyDelay: opt(specText) }), true),
  archiveRecoverySettings: opt(archiveRecoverySettings, true),
});
/** The first db of a pitr cluster: what the keeper restores and the recovery target it stops at. */
const pitrConfig = object({
  dataRestoreCommand: opt(specText),
  archiveRecoverySettings: opt(archiveRecoverySettings, true),
  recoveryTargetSettings: opt(
    object({
      recoveryTarget: opt(specText),
      recoveryTargetLsn: opt(specText),
      recoveryTargetName: opt(specText),
      recoveryTargetTime: opt(specText),
      recoveryTargetXid: opt(specText),
      recoveryTargetTimeline: opt(specText),
    }),
    true,
  ),
});
const DB_SPEC: Schema = {
  keeperUID: req(uid()),
  requestTimeout: opt(specText),
  maxStandbys: opt(uint(0xffff)),
  synchronousReplication: opt(bool),
  usePgrewind: opt(bool),
  additionalWalSenders: opt(uint(0xffff)),
  additionalReplicationSlots: opt(list(specText), true),
  initMode: req(oneOf(["none", "new", "existing", "pitr", "resync"])),
  newConfig: opt(object({ locale: opt(specText), encoding: opt(specText), dataChecksums: opt(bool) }), true),
  pitrConfig: opt(pitrConfig, true),
  pgParameters: opt(stringMap(), true),
  pgHBA: opt(list(specText), true),
  role: req(oneOf(["master", "standby"])),
  followConfig: opt(followConfig, true),
  followers: opt(list(uid(), UNBOUNDED), true),
  includePreviousConfig: opt(bool),
  synchronousStandbys: opt(list(uid(), UNBOUNDED), true),
  externalSynchronousStandbys: opt(list(specText), true),
  stopForSwitchover: opt(uid()),
};
const DB_STATUS: Schema = {
  healthy: opt(bool),
  currentGeneration: opt(uint()),
  listenAddress: opt(text()),
  port: opt(text()),
  systemdID: opt(text()),
  timelineID: opt(uint(0xffffffff)),
  xLogPos: opt(uint()),
  timelinesHistory: opt(list(object(TIMELINE_HISTORY_ENTRY), MAX_TIMELINES), true),
  pgParameters: opt(stringMap(), true),
  synchronousStandbys: opt(list(uid(), UNBOUNDED), true),
  olderWalFile: opt(text()),
};
const DB_SCHEMA: Schema = { uid: req(uid()), generation: req(uint()), spec: req(object(DB_SPEC)), status: req(object(DB_STATUS)) };
const KEEPER_SCHEMA: Schema = {
  uid: req(uid()),
  generation: opt(uint()),
  status: req(
    object({
      healthy: opt(bool),
      // A time.Time: Go leaves it as it is for null.
      lastHealthyTime: opt(text(), true),
      bootUUID: opt(text()),
      forceFail: opt(bool),
      // *bool in stolon: null is "not said" (may be master, may be a synchronous standby).
      canBeMaster: opt(bool, true),
      canBeSynchronousReplica: opt(bool, true),
      priority: opt(priority),
    }),
  ),
};
const PROXY_SCHEMA: Schema = {
  // omitempty in stolon: a new cluster's proxy (generation 0) has none (normalizeMembers sets it).
  generation: opt(uint()),
  spec: req(
    object({
      masterDbUid: opt(uid()),
      enabledProxies: opt(list(uid(), UNBOUNDED), true),
      hold: opt(object({ id: req(uid()), since: req(time), drainTimeout: req(durationText) }), true),
    }),
  ),
};
// Planned operations (issue 17). Outcome and step texts are the sentinel's sentences; the bound
// only keeps a hostile writer from making them huge.
const NOTE_TEXT = text(MAX_SWITCHOVER_TEXT_LENGTH);
const SWITCHOVER_SCHEMA: Schema = {
  id: req(uid()),
  requestedAt: req(time),
  to: opt(uid()),
  timeout: req(durationText),
  drainTimeout: req(durationText),
  phase: req(oneOf(SWITCHOVER_PHASES)),
  phaseTime: req(time),
  acceptedAt: opt(time),
  fromDb: opt(uid()),
  toDb: opt(uid()),
  stopLsn: opt(uint()),
  cancelRequestedAt: opt(time),
  steps: req(list(object({ time: req(time), text: req(NOTE_TEXT) }), MAX_SWITCHOVER_STEPS)),
  outcome: opt(NOTE_TEXT),
};
const PAUSE_SCHEMA: Schema = { since: req(time), until: opt(time), reason: opt(NOTE_TEXT) };

/** Problems with the keepers, dbs and proxy of a decoded cluster data (all of them, capped). */
function memberProblems(v: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [key, schema] of [["keepers", KEEPER_SCHEMA], ["dbs", DB_SCHEMA]] as const) {
    const m = v[key];
    if (!isObj(m)) continue;
    for (const [k, item] of Object.entries(m)) {
      const path = `${key}.${keyName(k)}`;
      checkObject(item, schema, path, out);
      if (isObj(item) && typeof item.uid === "string" && item.uid !== k) out.push(`${path}.uid: ${show(item.uid)} differs from its key`);
    }
  }
  if (isObj(v.proxy)) checkObject(v.proxy, PROXY_SCHEMA, "proxy", out);
  checkObject(v, { switchover: opt(object(SWITCHOVER_SCHEMA), true), pause: opt(object(PAUSE_SCHEMA), true) }, "", out);
  const status = (v.cluster as Record<string, unknown>).status as Record<string, unknown>;
  if (status.master !== undefined) uid()(status.master, "cluster.status.master", out);
  return capProblems(out);
}

/**
 * Gives the keepers, dbs and proxy of a decoded cluster data the shape the readers rely on, the
 * way Go decodes what stolon wrote: a missing or null map is empty, a missing struct (a keeper's
 * or db's status, the proxy's spec and status) is its zero value, a missing proxy generation is 0,
 * a nil keeper spec (stolon never reads it) stays as it is. Throws for what Go would not decode.
 */
function normalizeMembers(v: Record<string, unknown>): void {
  for (const key of ["keepers", "dbs"] as const) {
    const m = v[key];
    if (m === undefined || m === null) v[key] = uidRecord();
    else if (!isObj(m)) throw new ClusterDataError(`cluster data field "${key}" is not an object`);
    else {
      for (const [uid, item] of Object.entries(m)) {
        const specOk = isObj(item) && (isObj(item.spec) || (key === "keepers" && (item.spec === undefined || item.spec === null)));
        if (!isObj(item) || !specOk || !(item.status === undefined || item.status === null || isObj(item.status)))
          throw new ClusterDataError(`cluster data ${key}.${keyName(uid)} is not a valid object (needs spec and status)`);
        if (item.status === undefined || item.status === null) item.status = {};
      }
      v[key] = uidRecord(m);
    }
  }
  if (v.proxy === undefined || v.proxy === null) v.proxy = { generation: 0, changeTime: GO_ZERO_TIME, spec: {}, status: {} };
  const proxy = v.proxy;
  if (!isObj(proxy)) throw new ClusterDataError(`cluster data field "proxy" is not a valid object`);
  for (const f of ["spec", "status"] as const) {
    if (proxy[f] === undefined || proxy[f] === null) proxy[f] = {};
    else if (!isObj(proxy[f])) throw new ClusterDataError(`cluster data field "proxy.${f}" is not an object`);
  }
  if (proxy.generation === undefined) proxy.generation = 0;
}

/**
 * Checks a decoded value and returns it typed; throws ClusterDataError naming the defects.
 * The keepers and dbs records of the result are null-prototype objects (see uidRecord), so a
 * lookup by any uid finds only what is stored.
 *
 * Cluster data as stolon's own sentinel writes it is accepted: null where its Go types allow nil,
 * fields left out by omitempty, unknown fields (kept: what the readers do not know they write
 * back as they found it). `opts` is passed on to validateSpec.
 */
export function checkClusterData(v: unknown, opts: ValidateSpecOptions = {}): ClusterData {
  if (!isObj(v)) throw new ClusterDataError("cluster data is not a JSON object");
  if (v.formatVersion !== CURRENT_FORMAT_VERSION)
    throw new ClusterDataError(
      `unsupported cluster data formatVersion ${JSON.stringify(v.formatVersion)} (this version understands ${CURRENT_FORMAT_VERSION})`,
    );
  const cluster = v.cluster;
  if (!isObj(cluster)) throw new ClusterDataError("cluster data has no cluster object");
  if (typeof cluster.uid !== "string" || cluster.uid === "") throw new ClusterDataError("cluster data has no cluster.uid");
  if (!isObj(cluster.status)) throw new ClusterDataError("cluster data has no cluster.status object");
  const problems = validateSpec(cluster.spec, opts);
  if (problems.length > 0) throw new ClusterDataError(`cluster data has an invalid spec: ${problems.join("; ")}`);
  normalizeMembers(v);
  const bad = memberProblems(v);
  if (bad.length > 0) throw new ClusterDataError(`cluster data is invalid, nothing in it can be acted on: ${bad.join("; ")}`);
  return v as unknown as ClusterData;
}

/**
 * Every reason not to act on `v`, without changing it: [] when checkClusterData would accept it.
 * decide() asks this first, so cluster data that did not come through the store is refused too.
 */
export function clusterDataProblems(v: unknown): string[] {
  try {
    checkClusterData(structuredClone(v), { stored: true });
    return [];
  } catch (err) {
    if (err instanceof ClusterDataError) return [err.message];
    throw err;
  }
}

/**
 * Decodes stored bytes; throws ClusterDataError for garbage, unknown versions and invalid specs
 * (durations out of range excepted: see validateSpec's `stored`).
 */
export function parseClusterData(text: string): ClusterData {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ClusterDataError(`cluster data is not valid JSON (${describeError(err)})`, { cause: err });
  }
  return checkClusterData(v, { stored: true });
}
