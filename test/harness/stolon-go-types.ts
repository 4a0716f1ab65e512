/**
 * Would stolon's Go code decode this JSON? The shapes of stolon v0.17's ClusterData and infos
 * (internal/cluster/cluster.go, member.go) as encoding/json reads them, so a test can check that
 * what this project writes is readable by stolon's keepers and by its `stolonctl clusterdata
 * write` (issue 16). Written from the documented field types, not from stolon's code.
 *
 * encoding/json's decoding rules applied: unknown fields are ignored; null is accepted for every
 * field (a nil pointer, slice or map, or no effect on a value) except a value Duration, whose
 * UnmarshalJSON is called with `null` and fails; a number must fit its Go integer type and have
 * no fraction or exponent; a time.Time must be an RFC 3339 string (never ""); a Duration must be
 * a string time.ParseDuration accepts.
 */

type GoType =
  | { k: "string" | "bool" | "time" | "duration" | "durationPtr" | "int64" | "uint64" | "uint16" | "uint32" | "int" }
  | { k: "struct"; fields: Record<string, GoType> }
  | { k: "slice" | "map"; of: GoType };

const t = (k: "string" | "bool" | "time" | "duration" | "durationPtr" | "int64" | "uint64" | "uint16" | "uint32" | "int"): GoType => ({ k });
const struct = (fields: Record<string, GoType>): GoType => ({ k: "struct", fields });
const slice = (of: GoType): GoType => ({ k: "slice", of });
const map = (of: GoType): GoType => ({ k: "map", of });
const str = t("string");
const strings = slice(str);
const stringMap = map(str);

const standbySettings = struct({ primaryConninfo: str, primarySlotName: str, recoveryMinApplyDelay: str });
const archiveRecoverySettings = struct({ restoreCommand: str });
const pitrConfig = struct({
  dataRestoreCommand: str,
  archiveRecoverySettings,
  recoveryTargetSettings: struct({
    recoveryTarget: str,
    recoveryTargetLsn: str,
    recoveryTargetName: str,
    recoveryTargetTime: str,
    recoveryTargetXid: str,
    recoveryTargetTimeline: str,
  }),
});
const newConfig = struct({ locale: str, encoding: str, dataChecksums: t("bool") });

const clusterSpec = struct({
  ...Object.fromEntries(
    [
      "sleepInterval",
      "requestTimeout",
      "convergenceTimeout",
      "initTimeout",
      "syncTimeout",
      "dbWaitReadyTimeout",
      "failInterval",
      "deadKeeperRemovalInterval",
      "proxyCheckInterval",
      "proxyTimeout",
    ].map((f) => [f, t("durationPtr")]),
  ),
  maxStandbys: t("uint16"),
  maxStandbysPerSender: t("uint16"),
  maxStandbyLag: t("uint32"),
  synchronousReplication: t("bool"),
  minSynchronousStandbys: t("uint16"),
  maxSynchronousStandbys: t("uint16"),
  additionalWalSenders: t("uint16"),
  additionalMasterReplicationSlots: strings,
  usePgrewind: t("bool"),
  initMode: str,
  mergePgParameters: t("bool"),
  role: str,
  newConfig,
  pitrConfig,
  existingConfig: struct({ keeperUID: str }),
  standbyConfig: struct({ standbySettings, archiveRecoverySettings }),
  defaultSUReplAccessMode: str,
  pgParameters: stringMap,
  pgHBA: strings,
  automaticPgRestart: t("bool"),
});

const timelinesHistory = slice(struct({ timelineID: t("uint64"), switchPoint: t("uint64"), reason: str }));
const postgresBinaryVersion = struct({ Maj: t("int"), Min: t("int") });

const dbSpec = struct({
  keeperUID: str,
  requestTimeout: t("duration"),
  maxStandbys: t("uint16"),
  synchronousReplication: t("bool"),
  usePgrewind: t("bool"),
  additionalWalSenders: t("uint16"),
  additionalReplicationSlots: strings,
  initMode: str,
  newConfig,
  pitrConfig,
  pgParameters: stringMap,
  pgHBA: strings,
  role: str,
  followConfig: struct({ type: str, dbuid: str, standbySettings, archiveRecoverySettings }),
  followers: strings,
  includePreviousConfig: t("bool"),
  synchronousStandbys: strings,
  externalSynchronousStandbys: strings,
});

const dbStatus = struct({
  healthy: t("bool"),
  currentGeneration: t("int64"),
  listenAddress: str,
  port: str,
  systemdID: str,
  timelineID: t("uint64"),
  xLogPos: t("uint64"),
  timelinesHistory,
  pgParameters: stringMap,
  synchronousStandbys: strings,
  olderWalFile: str,
});

const member = (spec: GoType, status: GoType) => struct({ uid: str, generation: t("int64"), changeTime: t("time"), spec, status });

export const GO_CLUSTER_DATA: GoType = struct({
  formatVersion: t("uint64"),
  changeTime: t("time"),
  cluster: member(clusterSpec, struct({ currentGeneration: t("int64"), phase: str, master: str })),
  keepers: map(
    member(
      struct({}),
      struct({
        healthy: t("bool"),
        lastHealthyTime: t("time"),
        bootUUID: str,
        postgresBinaryVersion,
        forceFail: t("bool"),
        canBeMaster: t("bool"),
        canBeSynchronousReplica: t("bool"),
      }),
    ),
  ),
  dbs: map(member(dbSpec, dbStatus)),
  proxy: member(struct({ masterDbUid: str, enabledProxies: strings }), struct({})),
});

export const GO_KEEPER_INFO: GoType = struct({
  infoUID: str,
  uid: str,
  clusterUID: str,
  bootUUID: str,
  postgresBinaryVersion,
  postgresState: struct({
    uid: str,
    generation: t("int64"),
    listenAddress: str,
    port: str,
    healthy: t("bool"),
    systemID: str,
    timelineID: t("uint64"),
    xLogPos: t("uint64"),
    timelinesHistory,
    pgParameters: stringMap,
    synchronousStandbys: strings,
    olderWalFile: str,
  }),
  canBeMaster: t("bool"),
  canBeSynchronousReplica: t("bool"),
});

export const GO_PROXY_INFO: GoType = struct({ infoUID: str, UID: str, Generation: t("int64"), ProxyTimeout: t("int64") });
export const GO_SENTINEL_INFO: GoType = struct({ UID: str });

const RANGES: Record<string, [bigint, bigint]> = {
  int: [-(2n ** 63n), 2n ** 63n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  uint16: [0n, 65535n],
  uint32: [0n, 2n ** 32n - 1n],
};

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
/** time.ParseDuration: an optional sign, then "0" or one or more decimal numbers with a unit. */
const GO_DURATION = /^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$/;

/** Where Go's encoding/json would fail (or misread) `v` as `type`: [] when it decodes. */
export function goDecodeProblems(v: unknown, type: GoType, path = ""): string[] {
  const at = path || "(top)";
  if (v === null) return type.k === "duration" ? [`${at}: null for a Duration value (its UnmarshalJSON fails)`] : [];
  switch (type.k) {
    case "string":
      return typeof v === "string" ? [] : [`${at}: ${JSON.stringify(v)} is not a string`];
    case "bool":
      return typeof v === "boolean" ? [] : [`${at}: ${JSON.stringify(v)} is not a bool`];
    case "time":
      return typeof v === "string" && RFC3339.test(v) ? [] : [`${at}: ${JSON.stringify(v)} is not an RFC 3339 time`];
    case "duration":
    case "durationPtr":
      return typeof v === "string" && GO_DURATION.test(v) ? [] : [`${at}: ${JSON.stringify(v)} is not a Go duration string`];
    case "int":
    case "int64":
    case "uint64":
    case "uint16":
    case "uint32": {
      const text = JSON.stringify(v);
      if (typeof v !== "number" || !/^-?\d+$/.test(text)) return [`${at}: ${text} is not a ${type.k}`];
      const [lo, hi] = RANGES[type.k]!;
      const n = BigInt(text);
      return n >= lo && n <= hi ? [] : [`${at}: ${text} is out of the range of ${type.k}`];
    }
    case "slice":
      if (!Array.isArray(v)) return [`${at}: ${JSON.stringify(v)} is not a list`];
      return v.flatMap((x, i) => goDecodeProblems(x, type.of, `${path}[${i}]`));
    case "map":
      if (typeof v !== "object" || Array.isArray(v)) return [`${at}: not an object`];
      return Object.entries(v as object).flatMap(([k, x]) => goDecodeProblems(x, type.of, `${path}.${k}`));
    case "struct":
      if (typeof v !== "object" || Array.isArray(v)) return [`${at}: not an object`];
      return Object.entries(v as object).flatMap(([k, x]) =>
        Object.hasOwn(type.fields, k) ? goDecodeProblems(x, type.fields[k]!, path ? `${path}.${k}` : k) : [],
      );
  }
}

/** The fields of `v` stolon's types do not have (ignored by Go): what this project adds. */
export function fieldsGoIgnores(v: unknown, type: GoType, path = ""): string[] {
  if (v === null || typeof v !== "object") return [];
  if (type.k === "slice" && Array.isArray(v)) return v.flatMap((x) => fieldsGoIgnores(x, type.of, `${path}[]`));
  if (type.k === "map") return Object.values(v).flatMap((x) => fieldsGoIgnores(x, type.of, `${path}.*`));
  if (type.k !== "struct") return [];
  return Object.entries(v).flatMap(([k, x]) => {
    const p = path ? `${path}.${k}` : k;
    return Object.hasOwn(type.fields, k) ? fieldsGoIgnores(x, type.fields[k]!, p) : [p];
  });
}
