/**
 * The cluster specification (stolon's ClusterSpec): field names, defaults, validation and the
 * rules for updating it. Pure: no I/O.
 *
 * Every field is optional in the stored JSON; `withDefaults` fills the rest. Durations are Go-style
 * strings. `validateSpec` reports every problem at once, each naming the field and the rule broken.
 */
import { SpecError } from "../lib/errors.ts";
import { boundsProblem, clampDuration, durationMs, formatDuration, MAX_DURATION_MS, parseDuration, type DurationBounds } from "./duration.ts";
import { deriveTimings, timingViolations, type SpecTimingsMs } from "./timing.ts";
// The sentinel copies these fields into every DB spec, which checkClusterData bounds the same way:
// a spec accepted here must never make the cluster data the sentinel writes unreadable.
import { isStolonSlot, MAX_SLOT_NAME_LENGTH, SLOT_PREFIX } from "./slot-names.ts";
import { MAX_LIST_LENGTH, MAX_PG_PARAMETER_LENGTH, MAX_PG_PARAMETERS, MAX_STRING_LENGTH } from "./info-check.ts";
import { isPlainObject } from "./plain-object.ts";
import { PG_PARAM_NAME_RE, UID_RE } from "./patterns.ts";

export type InitMode = "new" | "existing" | "pitr";
export type ClusterRole = "master" | "standby";
export type SUReplAccessMode = "all" | "strict";

export interface NewConfig {
  locale?: string;
  encoding?: string;
  dataChecksums?: boolean;
}
export interface ExistingConfig {
  keeperUID?: string;
}
export interface ArchiveRecoverySettings {
  restoreCommand?: string;
}
export interface RecoveryTargetSettings {
  recoveryTarget?: string;
  recoveryTargetLsn?: string;
  recoveryTargetName?: string;
  recoveryTargetTime?: string;
  recoveryTargetXid?: string;
  recoveryTargetTimeline?: string;
}
export interface PitrConfig {
  dataRestoreCommand?: string;
  archiveRecoverySettings?: ArchiveRecoverySettings;
  recoveryTargetSettings?: RecoveryTargetSettings;
  /**
   * Ours (not in stolon's format; only in the cluster spec, never copied into a db spec): a pitr
   * restore that failed on one keeper is tried on another, each keeper at most once. Default
   * false: the cluster stays initializing with the failure shown until an operator acts.
   */
  retryOnOtherKeeper?: boolean;
}
export interface StandbySettings {
  primaryConninfo?: string;
  primarySlotName?: string;
  recoveryMinApplyDelay?: string;
}
export interface StandbyConfig {
  standbySettings?: StandbySettings;
  archiveRecoverySettings?: ArchiveRecoverySettings;
}

/**
 * The spec as stored and as written by users: every field optional. A stored spec may also hold
 * null in any field (stolon writes `"additionalWalSenders": null` and `"automaticPgRestart": null`
 * for unset ones) and fields this version does not know: read it through withDefaults, which
 * drops both, and write back only what was read, changed where meant.
 */
export interface ClusterSpec {
  sleepInterval?: string;
  requestTimeout?: string;
  convergenceTimeout?: string;
  initTimeout?: string;
  syncTimeout?: string;
  dbWaitReadyTimeout?: string;
  failInterval?: string;
  deadKeeperRemovalInterval?: string;
  proxyCheckInterval?: string;
  proxyTimeout?: string;
  maxStandbys?: number;
  maxStandbysPerSender?: number;
  maxStandbyLag?: number;
  synchronousReplication?: boolean;
  minSynchronousStandbys?: number;
  maxSynchronousStandbys?: number;
  additionalWalSenders?: number;
  additionalMasterReplicationSlots?: string[] | null;
  usePgrewind?: boolean;
  initMode?: InitMode;
  existingConfig?: ExistingConfig;
  newConfig?: NewConfig;
  pitrConfig?: PitrConfig;
  mergePgParameters?: boolean;
  role?: ClusterRole;
  standbyConfig?: StandbyConfig;
  defaultSUReplAccessMode?: SUReplAccessMode;
  pgParameters?: Record<string, string> | null;
  pgHBA?: string[] | null;
  automaticPgRestart?: boolean;
}

type Defaulted =
  | "sleepInterval" | "requestTimeout" | "convergenceTimeout" | "initTimeout" | "syncTimeout"
  | "dbWaitReadyTimeout" | "failInterval" | "deadKeeperRemovalInterval" | "proxyCheckInterval"
  | "proxyTimeout" | "maxStandbys" | "maxStandbysPerSender" | "maxStandbyLag" | "synchronousReplication"
  | "minSynchronousStandbys" | "maxSynchronousStandbys" | "additionalWalSenders"
  | "additionalMasterReplicationSlots" | "usePgrewind" | "mergePgParameters" | "role"
  | "defaultSUReplAccessMode" | "pgParameters" | "pgHBA" | "automaticPgRestart";

/** A spec with every defaulted field present. */
export type FullClusterSpec = ClusterSpec & { [K in Defaulted]-?: Exclude<ClusterSpec[K], undefined> } & {
  pgParameters: Record<string, string>;
};

/** Name of the fake standby put into synchronous_standby_names when too few real ones exist. */
export const FAKE_STANDBY_NAME = "stolonfakestandby";

/** Defaults. maxStandbyLag is 1 MiB as documented (stolon's code says 1024*1204, a typo). */
export const SPEC_DEFAULTS: Readonly<{ [K in Defaulted]: Exclude<ClusterSpec[K], undefined> }> = Object.freeze({
  // Faster than stolon's (5s, 20s, 5s, 15s): loops are watch-driven and these are safety nets;
  // see "Timings" in the README for the reasoning.
  sleepInterval: "1s",
  requestTimeout: "10s",
  convergenceTimeout: "30s",
  initTimeout: "5m",
  syncTimeout: "0s",
  dbWaitReadyTimeout: "60s",
  failInterval: "5s",
  deadKeeperRemovalInterval: "48h",
  proxyCheckInterval: "1s",
  proxyTimeout: "5s",
  maxStandbys: 20,
  maxStandbysPerSender: 3,
  maxStandbyLag: 1024 * 1024,
  synchronousReplication: false,
  minSynchronousStandbys: 1,
  maxSynchronousStandbys: 1,
  additionalWalSenders: 5,
  additionalMasterReplicationSlots: null,
  usePgrewind: false,
  mergePgParameters: true,
  role: "master",
  defaultSUReplAccessMode: "all",
  pgParameters: {},
  pgHBA: null,
  automaticPgRestart: false,
});

const SECOND = 1000;
const HOUR = 3600 * SECOND;

/**
 * The allowed range of every duration in the spec. The minimums keep loops from spinning and a
 * healthy master from fencing itself (failInterval >= 2s: see "a healthy master never fences" in
 * timing.ts); the maximums keep every timer below what setTimeout can take. stolon's own
 * defaults (5s, 20s, 15s, 10s, 30s, 5m, 30m, 60s, 48h) are inside every range, so specs written
 * for stolon stay valid. The cross-field rules are in timing.ts.
 */
export const SPEC_DURATION_BOUNDS = Object.freeze({
  /** The safety-net period of every loop, and the sentinel's status-write throttle. */
  sleepInterval: { minMs: 100, maxMs: HOUR },
  /** Each SQL request of the keeper to its PostgreSQL. */
  requestTimeout: { minMs: SECOND, maxMs: HOUR },
  convergenceTimeout: { minMs: SECOND, maxMs: MAX_DURATION_MS, zero: "no timeout" },
  initTimeout: { minMs: SECOND, maxMs: MAX_DURATION_MS, zero: "no timeout" },
  syncTimeout: { minMs: SECOND, maxMs: MAX_DURATION_MS, zero: "no timeout" },
  dbWaitReadyTimeout: { minMs: SECOND, maxMs: MAX_DURATION_MS },
  /** Also the keeper's info lease; under 2s a healthy master can fence itself. */
  failInterval: { minMs: 2 * SECOND, maxMs: 24 * HOUR },
  deadKeeperRemovalInterval: { minMs: SECOND, maxMs: MAX_DURATION_MS },
  /** Below proxyTimeout (a cross-field rule), whose maximum is 1h. */
  proxyCheckInterval: { minMs: 100, maxMs: 10 * 60 * SECOND },
  /** Under 1s a proxy's info lease (2 x proxyTimeout) would expire before the sentinel's wait. */
  proxyTimeout: { minMs: SECOND, maxMs: HOUR },
} satisfies Record<string, DurationBounds>);

export type SpecDurationField = keyof typeof SPEC_DURATION_BOUNDS;

// ---------------------------------------------------------------------------------------------
// Shape: a small schema walked once, so unknown fields and wrong types are reported by name.

type FieldSchema =
  | { t: "duration"; bounds: DurationBounds }
  | { t: "uint"; max: number }
  | { t: "bool" }
  | { t: "string" }
  | { t: "enum"; values: readonly string[] }
  | { t: "strings" }
  | { t: "map" }
  | { t: "object"; fields: Schema };
type Schema = Record<string, FieldSchema>;

const dur = (field: SpecDurationField): FieldSchema => ({ t: "duration", bounds: SPEC_DURATION_BOUNDS[field] });
const u16: FieldSchema = { t: "uint", max: 0xffff };
const u32: FieldSchema = { t: "uint", max: 0xffffffff };
const bool: FieldSchema = { t: "bool" };
const str: FieldSchema = { t: "string" };
const archiveRecovery: FieldSchema = { t: "object", fields: { restoreCommand: str } };

const SPEC_SCHEMA: Schema = {
  sleepInterval: dur("sleepInterval"),
  requestTimeout: dur("requestTimeout"),
  convergenceTimeout: dur("convergenceTimeout"),
  initTimeout: dur("initTimeout"),
  syncTimeout: dur("syncTimeout"),
  dbWaitReadyTimeout: dur("dbWaitReadyTimeout"),
  failInterval: dur("failInterval"),
  deadKeeperRemovalInterval: dur("deadKeeperRemovalInterval"),
  proxyCheckInterval: dur("proxyCheckInterval"),
  proxyTimeout: dur("proxyTimeout"),
  maxStandbys: u16,
  maxStandbysPerSender: u16,
  maxStandbyLag: u32,
  synchronousReplication: bool,
  minSynchronousStandbys: u16,
  maxSynchronousStandbys: u16,
  additionalWalSenders: u16,
  additionalMasterReplicationSlots: { t: "strings" },
  usePgrewind: bool,
  initMode: { t: "enum", values: ["new", "existing", "pitr"] },
  existingConfig: { t: "object", fields: { keeperUID: str } },
  newConfig: { t: "object", fields: { locale: str, encoding: str, dataChecksums: bool } },
  pitrConfig: {
    t: "object",
    fields: {
      dataRestoreCommand: str,
      archiveRecoverySettings: archiveRecovery,
      recoveryTargetSettings: {
        t: "object",
        fields: {
          recoveryTarget: str,
          recoveryTargetLsn: str,
          recoveryTargetName: str,
          recoveryTargetTime: str,
          recoveryTargetXid: str,
          recoveryTargetTimeline: str,
        },
      },
      retryOnOtherKeeper: bool,
    },
  },
  mergePgParameters: bool,
  role: { t: "enum", values: ["master", "standby"] },
  standbyConfig: {
    t: "object",
    fields: {
      standbySettings: {
        t: "object",
        fields: { primaryConninfo: str, primarySlotName: str, recoveryMinApplyDelay: str },
      },
      archiveRecoverySettings: archiveRecovery,
    },
  },
  defaultSUReplAccessMode: { t: "enum", values: ["all", "strict"] },
  pgParameters: { t: "map" },
  pgHBA: { t: "strings" },
  automaticPgRestart: bool,
};

/** Where checkShape puts what it finds: shape problems, range problems, unknown field paths. */
interface ShapeSink {
  problems: string[];
  ranges: string[];
  unknown: string[];
}

/**
 * Checks the fields `schema` knows. JSON null on any field means "not set", as stolon's Go
 * types read it (a nil pointer, or no effect on a value field), so a spec stolon stored
 * (`"additionalWalSenders": null`, `"automaticPgRestart": null`) is valid here too. Fields
 * `schema` does not know are collected in `sink.unknown`: validateSpec decides whether they are
 * a problem (a typo in a spec a user gives) or kept as they are (a stored spec).
 */
function checkShape(value: Record<string, unknown>, schema: Schema, prefix: string, sink: ShapeSink): void {
  const { problems, ranges } = sink;
  for (const [key, v] of Object.entries(value)) {
    const path = prefix + key;
    const field = Object.hasOwn(schema, key) ? schema[key] : undefined;
    if (!field) {
      sink.unknown.push(path);
      continue;
    }
    if (v === null) continue;
    switch (field.t) {
      case "duration": {
        if (typeof v !== "string") {
          problems.push(`${path}: must be a duration string such as "5s", got ${JSON.stringify(v)}`);
          break;
        }
        const d = parseDuration(v);
        if ("error" in d) problems.push(`${path}: ${d.error}`);
        else {
          const out = boundsProblem(v, d.ms, field.bounds);
          if (out !== null) ranges.push(`${path}: ${out}`);
        }
        break;
      }
      case "uint":
        if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > field.max)
          problems.push(`${path}: must be an integer from 0 to ${field.max}, got ${JSON.stringify(v)}`);
        break;
      case "bool":
        if (typeof v !== "boolean") problems.push(`${path}: must be true or false, got ${JSON.stringify(v)}`);
        break;
      case "string":
        if (typeof v !== "string") problems.push(`${path}: must be a string, got ${JSON.stringify(v)}`);
        else if (v.length > MAX_PG_PARAMETER_LENGTH) problems.push(`${path}: longer than ${MAX_PG_PARAMETER_LENGTH} characters`);
        break;
      case "enum":
        if (typeof v !== "string" || !field.values.includes(v))
          problems.push(`${path}: must be one of ${field.values.map((x) => `"${x}"`).join(", ")}, got ${JSON.stringify(v)}`);
        break;
      case "strings":
        if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
          problems.push(`${path}: must be a list of strings`);
        else if (v.length > MAX_LIST_LENGTH) problems.push(`${path}: more than ${MAX_LIST_LENGTH} entries`);
        else if (v.some((x: string) => x.length > MAX_PG_PARAMETER_LENGTH))
          problems.push(`${path}: an entry is longer than ${MAX_PG_PARAMETER_LENGTH} characters`);
        break;
      case "map":
        if (!isPlainObject(v)) problems.push(`${path}: must be an object of string values`);
        else if (Object.keys(v).length > MAX_PG_PARAMETERS) problems.push(`${path}: more than ${MAX_PG_PARAMETERS} entries`);
        else
          for (const [k, mv] of Object.entries(v))
            if (typeof mv !== "string") problems.push(`${path}.${k}: must be a string, got ${JSON.stringify(mv)}`);
            else if (mv.length > MAX_PG_PARAMETER_LENGTH) problems.push(`${path}.${k}: longer than ${MAX_PG_PARAMETER_LENGTH} characters`);
            else if (k.length > MAX_STRING_LENGTH) problems.push(`${path}: a name is longer than ${MAX_STRING_LENGTH} characters`);
        break;
      case "object":
        if (!isPlainObject(v)) problems.push(`${path}: must be an object`);
        else checkShape(v, field.fields, `${path}.`, sink);
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * A deep copy of a plain JSON value without the object fields that are null: what stolon's Go
 * types make of them (unset). Lists and map values are copied as they are.
 */
function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => structuredClone(x));
  if (!isPlainObject(v)) return structuredClone(v);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = withoutNulls(x);
  return out;
}

/**
 * Returns the effective spec: a full, deep copy with every null dropped (unset, see checkShape)
 * and every default filled in. The stored spec stays as it was given: this copy is what the
 * components act on, never what they write back.
 */
export function withDefaults(spec: ClusterSpec): FullClusterSpec {
  const copy = withoutNulls(spec) as Record<string, unknown>;
  for (const [k, def] of Object.entries(SPEC_DEFAULTS)) {
    if (copy[k] === undefined) copy[k] = structuredClone(def);
  }
  return copy as unknown as FullClusterSpec;
}

/**
 * The paths of the fields in a spec that this version does not know ("foo", "newConfig.bar").
 * They are kept as they are in a stored spec (stolon ignores unknown fields, and a newer
 * version may have written them) and refused in a spec a user gives, where they are typos.
 */
export function unknownSpecFields(raw: unknown): string[] {
  if (!isPlainObject(raw)) return [];
  const sink: ShapeSink = { problems: [], ranges: [], unknown: [] };
  checkShape(raw, SPEC_SCHEMA, "", sink);
  return sink.unknown;
}

/** Options of validateSpec. */
export interface ValidateSpecOptions {
  /**
   * The spec is read back from the store, not given by a user. A duration out of its range is
   * then no problem (the daemons use it clamped, see specTimings, and say so with
   * specRangeNotes): a spec an older version accepted must not stop every component after an
   * upgrade, and a hostile one must not stop them either. Unknown fields are kept too.
   */
  stored?: boolean;
  /**
   * Unknown fields that are no problem: all of them (`true`: a stolon cluster data dump given to
   * `clusterdata write`), or these paths (those the stored spec already had, for `update`).
   */
  keepUnknown?: boolean | readonly string[];
}

/** The slot gets the stolon prefix, and the whole name must fit PostgreSQL's identifier length. */
const MAX_SLOT_SUFFIX = MAX_SLOT_NAME_LENGTH - SLOT_PREFIX.length;

/**
 * Every problem with a spec given as raw JSON, each naming the field and the rule broken.
 * An empty list means the spec is valid. Rules are checked on the spec with defaults applied.
 * Writers (init, update, clusterdata write, the sentinel's initial spec) check without
 * `stored`; see ValidateSpecOptions.
 */
export function validateSpec(raw: unknown, opts: ValidateSpecOptions = {}): string[] {
  if (!isPlainObject(raw)) return ["the cluster spec must be a JSON object"];
  const shapeProblems: string[] = [];
  const ranges = opts.stored ? [] : shapeProblems;
  const keep = opts.stored || opts.keepUnknown === true ? () => true : (p: string) => Array.isArray(opts.keepUnknown) && opts.keepUnknown.includes(p);
  // Fields with a wrong shape are left out of the rule checks below (as if unset), and rule
  // problems that involve them are dropped: each mistake is reported once, all of them at once.
  // A field is broken when checking it alone added a problem; each rule problem names the
  // fields it involves, so no message is matched against a field's name.
  const broken = new Set<string>();
  for (const [key, v] of Object.entries(raw)) {
    const before = shapeProblems.length;
    const sink: ShapeSink = { problems: shapeProblems, ranges, unknown: [] };
    checkShape({ [key]: v }, SPEC_SCHEMA, "", sink);
    for (const path of sink.unknown) if (!keep(path)) shapeProblems.push(`unknown field "${path}"`);
    if (shapeProblems.length > before) broken.add(key);
  }
  const usable = Object.fromEntries(Object.entries(raw).filter(([k]) => !broken.has(k)));
  const problems = ruleProblems(withDefaults(usable as ClusterSpec))
    .filter((p) => !p.fields.some((f) => broken.has(f)))
    .map((p) => p.text);
  return [...shapeProblems, ...problems];
}

/** A rule problem and the top-level spec fields it involves (any of them broken drops it). */
interface RuleProblem {
  text: string;
  fields: readonly string[];
}

function ruleProblems(s: FullClusterSpec): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const add = (text: string, ...fields: string[]) => void problems.push({ text, fields });

  // Cross-component timing rules that a spec can break (timing.ts); each names its first field.
  for (const v of timingViolations(deriveTimings(specTimings(s))))
    if (v.fields.length > 0) add(`${v.fields[0]}: ${v.detail} (${v.rule})`, ...v.fields);
  if (s.maxStandbys < 1) add("maxStandbys: must be at least 1", "maxStandbys");
  if (s.maxStandbysPerSender < 1) add("maxStandbysPerSender: must be at least 1", "maxStandbysPerSender");
  if (s.maxStandbys >= 1 && s.maxStandbysPerSender > s.maxStandbys)
    add(`maxStandbysPerSender: must not exceed maxStandbys (${s.maxStandbysPerSender} > ${s.maxStandbys})`, "maxStandbysPerSender", "maxStandbys");
  if (s.maxSynchronousStandbys < 1) add("maxSynchronousStandbys: must be at least 1", "maxSynchronousStandbys");
  if (s.maxSynchronousStandbys < s.minSynchronousStandbys)
    add(
      `maxSynchronousStandbys: must be at least minSynchronousStandbys (${s.maxSynchronousStandbys} < ${s.minSynchronousStandbys})`,
      "maxSynchronousStandbys",
      "minSynchronousStandbys",
    );

  const seen = new Set<string>();
  for (const slot of s.additionalMasterReplicationSlots ?? []) {
    const p = `additionalMasterReplicationSlots: "${slot}"`;
    if (!UID_RE.test(slot)) add(`${p} must match ${UID_RE.source}`, "additionalMasterReplicationSlots");
    else if (isStolonSlot(slot)) add(`${p} must not start with "${SLOT_PREFIX}" (the prefix is added)`, "additionalMasterReplicationSlots");
    else if (slot.length > MAX_SLOT_SUFFIX) add(`${p} is longer than ${MAX_SLOT_SUFFIX} characters`, "additionalMasterReplicationSlots");
    if (seen.has(slot)) add(`${p} is listed twice`, "additionalMasterReplicationSlots");
    seen.add(slot);
  }

  for (const [k, v] of Object.entries(s.pgParameters)) {
    if (!PG_PARAM_NAME_RE.test(k)) add(`pgParameters: "${k}" is not a valid parameter name`, "pgParameters");
    if (/[\n\r\0]/.test(v)) add(`pgParameters.${k}: must not contain a newline or NUL`, "pgParameters");
  }
  for (const line of s.pgHBA ?? []) {
    if (/[\n\r\0]/.test(line)) add(`pgHBA: entry ${JSON.stringify(line)} must not contain a newline or NUL`, "pgHBA");
  }

  switch (s.initMode) {
    case undefined:
      add(`initMode: required, one of "new", "existing", "pitr"`, "initMode");
      break;
    case "new":
      if (s.role === "standby") add(`role: "standby" cannot be used with initMode "new" (use "pitr")`, "role", "initMode");
      break;
    case "existing":
      if (!s.existingConfig?.keeperUID) add(`existingConfig.keeperUID: required with initMode "existing"`, "existingConfig", "initMode");
      else if (!UID_RE.test(s.existingConfig.keeperUID))
        add(`existingConfig.keeperUID: "${s.existingConfig.keeperUID}" must match ${UID_RE.source}`, "existingConfig", "initMode");
      break;
    case "pitr":
      if (!s.pitrConfig?.dataRestoreCommand) add(`pitrConfig.dataRestoreCommand: required with initMode "pitr"`, "pitrConfig", "initMode");
      break;
  }

  const targets = s.pitrConfig?.recoveryTargetSettings;
  if (targets) {
    const set = (["recoveryTarget", "recoveryTargetLsn", "recoveryTargetName", "recoveryTargetTime", "recoveryTargetXid"] as const)
      .filter((k) => targets[k] !== undefined && targets[k] !== "");
    if (set.length > 1) add(`pitrConfig.recoveryTargetSettings: at most one recovery target may be set, got ${set.join(", ")}`, "pitrConfig");
    if (targets.recoveryTarget !== undefined && targets.recoveryTarget !== "immediate")
      add(`pitrConfig.recoveryTargetSettings.recoveryTarget: the only allowed value is "immediate"`, "pitrConfig");
    if (s.role === "standby") add(`pitrConfig.recoveryTargetSettings: not allowed with role "standby"`, "pitrConfig", "role");
  }

  if (s.role === "standby" && !s.standbyConfig?.standbySettings)
    add(`standbyConfig.standbySettings: required with role "standby"`, "standbyConfig", "role");

  return problems;
}

/** Validates raw JSON and returns it as a ClusterSpec; throws SpecError listing every problem. */
export function parseSpec(raw: unknown): ClusterSpec {
  const problems = validateSpec(raw);
  if (problems.length > 0) throw new SpecError(problems);
  return raw as ClusterSpec;
}

/** Problems with replacing `prev` by `next` in a running cluster (next must itself be valid). */
export function validateSpecUpdate(prev: ClusterSpec, next: ClusterSpec): string[] {
  const problems: string[] = [];
  if (prev.initMode !== next.initMode)
    problems.push(`initMode: cannot be changed by an update ("${prev.initMode}" -> "${next.initMode}"); use stolonctl init to re-initialize`);
  const prevRole = prev.role ?? SPEC_DEFAULTS.role;
  const nextRole = next.role ?? SPEC_DEFAULTS.role;
  if (prevRole === "master" && nextRole === "standby") problems.push(`role: cannot change from "master" to "standby"`);
  return problems;
}

/**
 * The spec's timings as milliseconds, for the loops, each clamped to its range (a stored spec
 * may hold a value out of range: see validateSpec's `stored`). The spec must otherwise be valid.
 */
export function specTimings(spec: ClusterSpec): SpecTimingsMs {
  const s = withDefaults(spec);
  const ms = (f: SpecDurationField) => clampDuration(durationMs(s[f]), SPEC_DURATION_BOUNDS[f]);
  return {
    sleepIntervalMs: ms("sleepInterval"),
    requestTimeoutMs: ms("requestTimeout"),
    convergenceTimeoutMs: ms("convergenceTimeout"),
    initTimeoutMs: ms("initTimeout"),
    syncTimeoutMs: ms("syncTimeout"),
    dbWaitReadyTimeoutMs: ms("dbWaitReadyTimeout"),
    failIntervalMs: ms("failInterval"),
    deadKeeperRemovalIntervalMs: ms("deadKeeperRemovalInterval"),
    proxyCheckIntervalMs: ms("proxyCheckInterval"),
    proxyTimeoutMs: ms("proxyTimeout"),
  };
}

/**
 * One sentence per duration of a stored spec that is out of its range, with the value used
 * instead ("failInterval: "1s" is below the minimum of 2s; using 2s"). The sentinel puts them in
 * its notes, so `stolonctl status` shows them until the spec is repaired.
 */
export function specRangeNotes(spec: ClusterSpec): string[] {
  const s = withDefaults(spec);
  const out: string[] = [];
  for (const f of Object.keys(SPEC_DURATION_BOUNDS) as SpecDurationField[]) {
    const raw = s[f];
    const d = parseDuration(raw);
    if ("error" in d) continue;
    const why = boundsProblem(raw, d.ms, SPEC_DURATION_BOUNDS[f]);
    if (why !== null)
      out.push(`spec ${f}: ${why}; using ${formatDuration(clampDuration(d.ms, SPEC_DURATION_BOUNDS[f]))} (fix it with stolonctl update)`);
  }
  return out;
}

/** The timings of the default spec: what every daemon starts from before it has read a spec. */
export const DEFAULT_SPEC_TIMINGS: SpecTimingsMs = Object.freeze(specTimings({}));
