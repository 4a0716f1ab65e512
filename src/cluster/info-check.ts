/**
 * Checking what other processes wrote into etcd before anything acts on it. Pure.
 *
 * Keeper, proxy and sentinel infos are written by other processes (or by anyone with write access
 * to etcd), so each is checked against a schema of type and range before use: numbers finite,
 * non-negative integers below 2^53; uids as the keeper's uid rule; strings, lists and maps bounded.
 * An info that fails is not used: its readers treat it as absent (for the sentinel: no report from
 * that keeper or proxy this tick, see decide) and name it (kind, uid, problems), so the sentinel's
 * notes and `stolonctl status` show it.
 *
 * Fields this version does not know are let through untouched: a newer keeper or proxy may publish
 * more, and rejecting its whole info for that would fail a healthy member.
 *
 * uids from etcd become property names; the records that hold them are null-prototype objects
 * (uidRecord), so uids such as "__proto__" or "constructor" are plain keys, never inherited members.
 */
import { KEEPER_INIT_PHASES, MAX_KEEPER_INIT_OUTPUT_LENGTH, MAX_KEEPER_PRIORITY, type KeeperInfo, type ProxyInfo, type SentinelInfo } from "./types.ts";
import { isPlainObject } from "./plain-object.ts";
import { UID_RE } from "./patterns.ts";
import { parseDuration } from "./duration.ts";

/** Keeper, DB, proxy and sentinel uids: the keeper's --uid rule, at most PostgreSQL's NAMEDATALEN - 1. */
export const MAX_UID_LENGTH = 63;
/** Any other string field (addresses, system ids, WAL file names, timeline reasons, boot uuids). */
export const MAX_STRING_LENGTH = 1024;
/**
 * A pgParameters map: more entries than any postgresql.conf holds (PostgreSQL 15 has about 350
 * settings), values long enough for a long shared_preload_libraries or restore_command.
 */
export const MAX_PG_PARAMETERS = 1000;
export const MAX_PG_PARAMETER_LENGTH = 64 * 1024;
/** Timeline history entries: one per promotion, so far more than a cluster ever has. */
export const MAX_TIMELINES = 10_000;
/** Lists of uids or names (synchronous standbys, followers, enabled proxies, pg_hba lines). */
export const MAX_LIST_LENGTH = 1000;
/** PostgreSQL's own limit for a timeline ID is 2^32 - 1. */
const MAX_TIMELINE_ID = 0xffffffff;
/** Problems reported per checked value: a hostile value must not produce a hostile-sized message. */
export const MAX_PROBLEMS = 5;

// ---------------------------------------------------------------------------------------------
// A small schema: each field names its check; a missing required field and a null where null is
// not allowed are problems too. Every problem starts with the field's path.

type Check = (v: unknown, path: string, out: string[]) => void;
export interface Field {
  check: Check;
  required?: boolean;
  nullable?: boolean;
}
export type Schema = Readonly<Record<string, Field>>;

/** A value as it may be quoted in a problem: JSON, cut short. */
export function show(v: unknown): string {
  let s: string;
  try {
    s = v === undefined ? "undefined" : (JSON.stringify(v) ?? String(v));
  } catch {
    s = typeof v;
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** v[k] only when it is v's own property (never Object.prototype's). */
export function own<T>(rec: Readonly<Record<string, T>>, k: string): T | undefined {
  return Object.hasOwn(rec, k) ? rec[k] : undefined;
}

/** A null-prototype record, optionally filled from another record's own entries. */
export function uidRecord<T>(from?: Readonly<Record<string, T>> | null): Record<string, T> {
  const r = Object.create(null) as Record<string, T>;
  if (from) for (const [k, v] of Object.entries(from)) r[k] = v;
  return r;
}

export const uint =
  (max = Number.MAX_SAFE_INTEGER): Check =>
  (v, path, out) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > max)
      out.push(`${path}: must be an integer from 0 to ${max === Number.MAX_SAFE_INTEGER ? "2^53-1" : max}, got ${show(v)}`);
  };
export const bool: Check = (v, path, out) => {
  if (typeof v !== "boolean") out.push(`${path}: must be true or false, got ${show(v)}`);
};
export const text =
  (max = MAX_STRING_LENGTH): Check =>
  (v, path, out) => {
    if (typeof v !== "string") out.push(`${path}: must be a string, got ${show(v)}`);
    else if (v.length > max) out.push(`${path}: longer than ${max} characters`);
  };
export const uid =
  (allowEmpty = false): Check =>
  (v, path, out) => {
    if (typeof v !== "string") out.push(`${path}: must be a uid string, got ${show(v)}`);
    else if (v === "" && allowEmpty) return;
    else if (v.length > MAX_UID_LENGTH || !UID_RE.test(v))
      out.push(`${path}: ${show(v)} is not a uid (${UID_RE.source}, at most ${MAX_UID_LENGTH} characters)`);
  };
export const oneOf =
  (values: readonly string[]): Check =>
  (v, path, out) => {
    if (typeof v !== "string" || !values.includes(v))
      out.push(`${path}: must be one of ${values.map((x) => `"${x}"`).join(", ")}, got ${show(v)}`);
  };
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
/** An RFC 3339 time string (what Go's time.Time decodes), as every time field of the cluster data holds. */
export const time: Check = (v, path, out) => {
  if (typeof v !== "string" || !RFC3339_RE.test(v) || !Number.isFinite(Date.parse(v)))
    out.push(`${path}: must be an RFC 3339 time such as "2026-01-02T03:04:05Z", got ${show(v)}`);
};
/**
 * A Go duration string. Only the syntax: the range is the reader's to check (the sentinel refuses
 * a switchover whose durations are out of range with a message, rather than have one bad field
 * make the whole cluster data unreadable).
 */
export const durationText: Check = (v, path, out) => {
  if (typeof v !== "string" || v.length > 64 || "error" in parseDuration(v))
    out.push(`${path}: must be a Go duration string such as "5s", got ${show(v)}`);
};
/** A keeper's --priority. */
export const priority = uint(MAX_KEEPER_PRIORITY);
/** A TCP port written as a decimal string (stolon's format). */
export const portText: Check = (v, path, out) => {
  const n = typeof v === "string" && /^[0-9]{1,5}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= 65535)) out.push(`${path}: must be a port number from "1" to "65535", got ${show(v)}`);
};
export const list =
  (item: Check, max = MAX_LIST_LENGTH): Check =>
  (v, path, out) => {
    if (!Array.isArray(v)) out.push(`${path}: must be a list, got ${show(v)}`);
    else if (v.length > max) out.push(`${path}: more than ${max} entries`);
    else v.forEach((x, i) => item(x, `${path}[${i}]`, out));
  };
/** An object of string values (pgParameters). */
export const stringMap =
  (maxEntries = MAX_PG_PARAMETERS, maxValue = MAX_PG_PARAMETER_LENGTH): Check =>
  (v, path, out) => {
    if (!isPlainObject(v)) return void out.push(`${path}: must be an object of string values, got ${show(v)}`);
    const entries = Object.entries(v);
    if (entries.length > maxEntries) return void out.push(`${path}: more than ${maxEntries} entries`);
    for (const [k, x] of entries) {
      if (k.length > MAX_STRING_LENGTH) out.push(`${path}: a key is longer than ${MAX_STRING_LENGTH} characters`);
      else text(maxValue)(x, `${path}.${k}`, out);
    }
  };
export const object =
  (schema: Schema): Check =>
  (v, path, out) =>
    checkObject(v, schema, path, out);

/** Checks the fields `schema` knows; other fields are let through. */
export function checkObject(v: unknown, schema: Schema, path: string, out: string[]): void {
  if (!isPlainObject(v)) return void out.push(`${path || "the value"}: must be an object, got ${show(v)}`);
  const prefix = path ? `${path}.` : "";
  for (const [k, f] of Object.entries(schema)) {
    const x = own(v, k);
    if (x === undefined) {
      if (f.required) out.push(`${prefix}${k}: required`);
    } else if (x === null) {
      if (!f.nullable) out.push(`${prefix}${k}: must not be null`);
    } else f.check(x, prefix + k, out);
  }
}

export const req = (check: Check, nullable = false): Field => ({ check, required: true, nullable });
export const opt = (check: Check, nullable = false): Field => ({ check, nullable });

/** At most MAX_PROBLEMS problems, and how many more there were. */
export function capProblems(problems: readonly string[]): string[] {
  if (problems.length <= MAX_PROBLEMS) return [...problems];
  return [...problems.slice(0, MAX_PROBLEMS), `and ${problems.length - MAX_PROBLEMS} more problems`];
}

// ---------------------------------------------------------------------------------------------
// The infos.

// stolon's keeper writes its infos with omitempty on nearly every field (member.go): a field left
// out is its Go zero value. So only what stolon always writes is required; the rest is optional
// here and filled in with its zero value (GO_ZEROS) before anything reads it.

export const TIMELINE_HISTORY_ENTRY: Schema = {
  timelineID: req(uint(MAX_TIMELINE_ID)),
  switchPoint: opt(uint()),
  reason: opt(text()),
};

const POSTGRES_STATE: Schema = {
  /** "" (left out by stolon) while the keeper has no DB. */
  uid: opt(uid(true)),
  generation: opt(uint()),
  listenAddress: opt(text()),
  port: opt(portText),
  healthy: opt(bool),
  systemID: opt(text()),
  timelineID: opt(uint(MAX_TIMELINE_ID)),
  xLogPos: opt(uint()),
  timelinesHistory: opt(list(object(TIMELINE_HISTORY_ENTRY), MAX_TIMELINES), true),
  pgParameters: opt(stringMap(), true),
  synchronousStandbys: req(list(uid()), true),
  olderWalFile: opt(text()),
  receivingWal: opt(bool),
  replayedXLogPos: opt(uint()),
  stoppedForSwitchover: opt(object({ id: req(uid()), lsn: req(uint()) })),
};

/** KeeperInfo.init: a pitr restore's progress or failure (ours). */
const KEEPER_INIT: Schema = {
  dbUid: req(uid()),
  phase: req(oneOf(KEEPER_INIT_PHASES)),
  since: req(time),
  detail: req(text()),
  output: opt(text(MAX_KEEPER_INIT_OUTPUT_LENGTH)),
  replayedXLogPos: opt(uint()),
  lastReplayTime: opt(time),
};

const KEEPER_INFO: Schema = {
  infoUID: req(text()),
  uid: req(uid()),
  clusterUID: req(text()),
  bootUUID: req(text()),
  postgresBinaryVersion: req(object({ Maj: req(uint(0xffff)), Min: req(uint(0xffff)) })),
  /** A nil pointer: left out by stolon, null by us. */
  postgresState: opt(object(POSTGRES_STATE), true),
  canBeMaster: opt(bool, true),
  canBeSynchronousReplica: opt(bool, true),
  priority: opt(priority),
  init: opt(object(KEEPER_INIT)),
};

/** The Go zero values of the fields stolon's keeper may leave out (omitempty). */
const KEEPER_INFO_ZEROS = { postgresState: null };
/** Also the state a keeper reports before its PostgreSQL answers (with its own uid, generation and address). */
export const POSTGRES_STATE_ZEROS = Object.freeze({
  uid: "",
  generation: 0,
  listenAddress: "",
  port: "",
  healthy: false,
  systemID: "",
  timelineID: 0,
  xLogPos: 0,
  timelinesHistory: null,
  pgParameters: null,
  olderWalFile: "",
});

/** `v` with `zeros` for the fields it lacks: `v` itself when it lacks none, else a shallow copy. */
function withZeros<T extends object>(v: T, zeros: object): T {
  const missing = Object.keys(zeros).filter((k) => !Object.hasOwn(v, k));
  if (missing.length === 0) return v;
  const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
  for (const k of missing) out[k] = (zeros as Record<string, unknown>)[k];
  return out as T;
}

/** A checked keeper info as every reader expects it: stolon's left-out fields as their zero values. */
function keeperInfoWithZeros(info: KeeperInfo): KeeperInfo {
  const ki = withZeros(info, KEEPER_INFO_ZEROS);
  if (ki.postgresState === null) return ki;
  const ps = withZeros(ki.postgresState, POSTGRES_STATE_ZEROS);
  const history = ps.timelinesHistory?.some((h) => h.switchPoint === undefined)
    ? ps.timelinesHistory.map((h) => withZeros(h, { switchPoint: 0 }))
    : ps.timelinesHistory;
  if (ps === ki.postgresState && history === ps.timelinesHistory) return ki;
  return { ...ki, postgresState: { ...ps, timelinesHistory: history } };
}

const PROXY_INFO: Schema = {
  infoUID: req(text()),
  UID: req(uid()),
  Generation: req(uint()),
  /** Nanoseconds; 2^53 ns is about 104 days. */
  ProxyTimeout: req(uint()),
  drained: opt(uid()),
};

const SENTINEL_INFO: Schema = { UID: req(uid()) };

export type InfoKind = "keeper" | "proxy" | "sentinel";

const INFO_SCHEMAS: Record<InfoKind, { schema: Schema; uidField: string }> = {
  keeper: { schema: KEEPER_INFO, uidField: "uid" },
  proxy: { schema: PROXY_INFO, uidField: "UID" },
  sentinel: { schema: SENTINEL_INFO, uidField: "UID" },
};

/** An info that was treated as absent, and why. */
export interface InvalidInfo {
  kind: InfoKind;
  /** The uid it was stored under (cut short in messages). */
  uid: string;
  problems: string[];
}

export type Checked<T> = { ok: true; info: T } | { ok: false; invalid: InvalidInfo };

function checkInfo<T>(kind: InfoKind, v: unknown, keyUid: string): Checked<T> {
  const { schema, uidField } = INFO_SCHEMAS[kind];
  const problems: string[] = [];
  checkObject(v, schema, "", problems);
  if (problems.length === 0 && (v as Record<string, unknown>)[uidField] !== keyUid)
    problems.push(`${uidField}: ${show((v as Record<string, unknown>)[uidField])} does not match the uid it is stored under`);
  if (problems.length > 0) return { ok: false, invalid: { kind, uid: keyUid, problems: capProblems(problems) } };
  return { ok: true, info: v as T };
}

/**
 * The info stored under keepers/info/<keyUid>, typed, or why it cannot be used. An info as
 * stolon's keeper writes it (fields left out by omitempty) is accepted and returned with those
 * fields set to their zero values (a copy; a complete info is returned as it is).
 */
export function checkKeeperInfo(v: unknown, keyUid: string): Checked<KeeperInfo> {
  const c = checkInfo<KeeperInfo>("keeper", v, keyUid);
  return c.ok ? { ok: true, info: keeperInfoWithZeros(c.info) } : c;
}
export const checkProxyInfo = (v: unknown, keyUid: string) => checkInfo<ProxyInfo>("proxy", v, keyUid);
export const checkSentinelInfo = (v: unknown, keyUid: string) => checkInfo<SentinelInfo>("sentinel", v, keyUid);

/** `keeper info "k3" ignored (treated as absent): xLogPos: must be ...; ...` */
export function describeInvalidInfo(i: InvalidInfo): string {
  return `${i.kind} info ${show(i.uid)} ignored (treated as absent): ${i.problems.join("; ")}`;
}

/** Notes for invalid infos, at most MAX_PROBLEMS of them (hostile keys must not flood the notes). */
export function invalidInfoNotes(invalid: readonly InvalidInfo[]): string[] {
  const notes = invalid.slice(0, MAX_PROBLEMS).map(describeInvalidInfo);
  if (invalid.length > MAX_PROBLEMS) notes.push(`and ${invalid.length - MAX_PROBLEMS} more invalid infos ignored`);
  return notes;
}
