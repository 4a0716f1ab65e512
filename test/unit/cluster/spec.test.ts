import { describe, expect, test } from "bun:test";
import {
  checkClusterData,
  decide,
  freshMemory,
  newClusterData,
  parseClusterData,
  DEFAULT_SPEC_TIMINGS,
  durationMs,
  formatDuration,
  SPEC_DEFAULTS,
  SPEC_DURATION_BOUNDS,
  type DurationBounds,
  type SpecDurationField,
  parseSpec,
  specTimings,
  validateSpec,
  validateSpecUpdate,
  withDefaults,
  type ClusterSpec,
} from "../../../src/cluster/index.ts";
import { SpecError } from "../../../src/lib/errors.ts";

describe("withDefaults", () => {
  test("fills every default and keeps what was set", () => {
    const s = withDefaults({ initMode: "new", failInterval: "10s" });
    expect(s.failInterval).toBe("10s");
    expect(s.sleepInterval).toBe("1s");
    expect(s.maxStandbyLag).toBe(1048576);
    expect(s.proxyTimeout).toBe("5s");
    expect(s.pgParameters).toEqual({});
    expect(s.pgHBA).toBeNull();
    expect(s.mergePgParameters).toBe(true);
    expect(s.role).toBe("master");
    for (const k of Object.keys(SPEC_DEFAULTS)) expect(k in s).toBe(true);
  });

  test("returns a copy: the input is not modified and shares nothing", () => {
    const input: ClusterSpec = Object.freeze({ initMode: "new", pgParameters: Object.freeze({ a: "1" }) });
    const s = withDefaults(input);
    s.pgParameters.b = "2";
    expect(input.pgParameters).toEqual({ a: "1" });
  });

  test("timings come out in milliseconds", () => {
    const t = specTimings({ initMode: "new", sleepInterval: "1m30s", syncTimeout: "0" });
    expect(t.sleepIntervalMs).toBe(90_000);
    expect(t.syncTimeoutMs).toBe(0);
    expect(t.deadKeeperRemovalIntervalMs).toBe(48 * 3600_000);
  });
});

describe("validateSpec", () => {
  const valid: [string, unknown][] = [
    ["minimal new", { initMode: "new" }],
    ["every duration form", { initMode: "new", sleepInterval: "500ms", failInterval: "1m30s", deadKeeperRemovalInterval: "1.5h", syncTimeout: "0" }],
    ["existing with a keeper", { initMode: "existing", existingConfig: { keeperUID: "keeper_1" } }],
    ["pitr", { initMode: "pitr", pitrConfig: { dataRestoreCommand: "cp -a /backup %d", recoveryTargetSettings: { recoveryTargetTime: "2026-01-01 00:00:00" } } }],
    ["pitr retried on another keeper", { initMode: "pitr", pitrConfig: { dataRestoreCommand: "x", retryOnOtherKeeper: true } }],
    ["standby cluster", { initMode: "pitr", role: "standby", pitrConfig: { dataRestoreCommand: "x" }, standbyConfig: { standbySettings: { primaryConninfo: "host=a" } } }],
    ["sync settings", { initMode: "new", synchronousReplication: true, minSynchronousStandbys: 0, maxSynchronousStandbys: 2 }],
    ["pg parameters and hba", { initMode: "new", pgParameters: { max_connections: "150", "auto_explain.log_min_duration": "1s" }, pgHBA: ["host all all 10.0.0.0/8 md5"] }],
    ["null for nullable fields", { initMode: "new", pgHBA: null, additionalMasterReplicationSlots: null, pgParameters: null, newConfig: null }],
    // Issue 16: null is "unset" on every field, as stolon's Go types read it (it used to be refused on scalars).
    ["null scalar", { initMode: "new", failInterval: null, additionalWalSenders: null, automaticPgRestart: null }],
    ["extra slots", { initMode: "new", additionalMasterReplicationSlots: ["replslot01", "debezium"] }],
  ];
  test.each(valid)("valid: %s", (_name, spec) => {
    expect(validateSpec(spec)).toEqual([]);
  });

  const invalid: [string, unknown, string[]][] = [
    ["not an object", [1], ["the cluster spec must be a JSON object"]],
    ["initMode missing", {}, ["initMode: required"]],
    ["unknown initMode", { initMode: "clone" }, [`initMode: must be one of "new", "existing", "pitr", got "clone"`]],
    ["unknown top-level field, by name", { initMode: "new", failIntervall: "5s" }, [`unknown field "failIntervall"`]],
    ["unknown nested field, by path", { initMode: "new", newConfig: { locale: "C", checksums: true } }, [`unknown field "newConfig.checksums"`]],
    ["bad duration", { initMode: "new", failInterval: "10x" }, [`failInterval: "10x" is not a duration`]],
    ["number for a duration", { initMode: "new", sleepInterval: 5 }, ["sleepInterval: must be a duration string"]],
    ["negative duration", { initMode: "new", convergenceTimeout: "-1s" }, ["convergenceTimeout: must not be negative"]],
    ["zero loop interval", { initMode: "new", sleepInterval: "0s" }, ["sleepInterval: must be greater than zero"]],
    ["proxyCheckInterval >= proxyTimeout", { initMode: "new", proxyCheckInterval: "15s", proxyTimeout: "15s" }, ["proxyCheckInterval: must be less than proxyTimeout"]],
    ["maxStandbys 0", { initMode: "new", maxStandbys: 0 }, ["maxStandbys: must be at least 1"]],
    ["maxStandbysPerSender 0", { initMode: "new", maxStandbysPerSender: 0 }, ["maxStandbysPerSender: must be at least 1"]],
    ["more per sender than slots", { initMode: "new", maxStandbys: 2, maxStandbysPerSender: 3 }, ["maxStandbysPerSender: must not exceed maxStandbys"]],
    ["uint16 overflow", { initMode: "new", additionalWalSenders: 70000 }, ["additionalWalSenders: must be an integer from 0 to 65535"]],
    ["fractional count", { initMode: "new", maxStandbys: 1.5 }, ["maxStandbys: must be an integer"]],
    ["negative lag", { initMode: "new", maxStandbyLag: -1 }, ["maxStandbyLag: must be an integer from 0 to 4294967295"]],
    ["bool as string", { initMode: "new", usePgrewind: "true" }, ["usePgrewind: must be true or false"]],
    ["min > max sync", { initMode: "new", minSynchronousStandbys: 2, maxSynchronousStandbys: 1 }, ["maxSynchronousStandbys: must be at least minSynchronousStandbys"]],
    ["max sync 0", { initMode: "new", minSynchronousStandbys: 0, maxSynchronousStandbys: 0 }, ["maxSynchronousStandbys: must be at least 1"]],
    ["existing without keeper", { initMode: "existing" }, ["existingConfig.keeperUID: required"]],
    ["existing with a bad keeper uid", { initMode: "existing", existingConfig: { keeperUID: "Keeper-1" } }, ["existingConfig.keeperUID: \"Keeper-1\" must match"]],
    ["pitr without a restore command", { initMode: "pitr" }, ["pitrConfig.dataRestoreCommand: required"]],
    ["retryOnOtherKeeper not a boolean", { initMode: "pitr", pitrConfig: { dataRestoreCommand: "x", retryOnOtherKeeper: "yes" } }, ["pitrConfig.retryOnOtherKeeper: must be true or false"]],
    ["two recovery targets", { initMode: "pitr", pitrConfig: { dataRestoreCommand: "x", recoveryTargetSettings: { recoveryTargetXid: "1", recoveryTargetLsn: "0/1" } } }, ["at most one recovery target"]],
    ["new standby cluster", { initMode: "new", role: "standby", standbyConfig: { standbySettings: {} } }, [`role: "standby" cannot be used with initMode "new"`]],
    ["standby without standbyConfig", { initMode: "pitr", role: "standby", pitrConfig: { dataRestoreCommand: "x" } }, ["standbyConfig.standbySettings: required"]],
    ["bad role", { initMode: "new", role: "replica" }, [`role: must be one of "master", "standby"`]],
    ["bad access mode", { initMode: "new", defaultSUReplAccessMode: "none" }, [`defaultSUReplAccessMode: must be one of "all", "strict"`]],
    ["slot with the stolon_ prefix", { initMode: "new", additionalMasterReplicationSlots: ["stolon_x"] }, [`must not start with "stolon_"`]],
    ["slot with bad characters", { initMode: "new", additionalMasterReplicationSlots: ["Slot-1"] }, ["must match ^[a-z0-9_]+$"]],
    ["slot twice", { initMode: "new", additionalMasterReplicationSlots: ["a", "a"] }, ["is listed twice"]],
    ["hba line with a newline", { initMode: "new", pgHBA: ["host all all 0.0.0.0/0 md5\nhost all all ::0/0 trust"] }, ["must not contain a newline"]],
    ["pg parameter value with a newline", { initMode: "new", pgParameters: { work_mem: "4MB\nfsync = off" } }, ["pgParameters.work_mem: must not contain a newline"]],
    ["pg parameter name injection", { initMode: "new", pgParameters: { "a = 1 #": "x" } }, [`pgParameters: "a = 1 #" is not a valid parameter name`]],
    ["non-string pg parameter", { initMode: "new", pgParameters: { max_connections: 100 } }, ["pgParameters.max_connections: must be a string"]],
    ["null pg parameter value", { initMode: "new", pgParameters: { max_connections: null } }, ["pgParameters.max_connections: must be a string"]],
  ];
  test.each(invalid)("invalid: %s", (_name, spec, expected) => {
    const problems = validateSpec(spec);
    expect(problems).toHaveLength(expected.length);
    expected.forEach((e, i) => expect(problems[i]).toContain(e));
  });

  test("reports every problem at once", () => {
    const problems = validateSpec({ initMode: "new", failInterval: "x", bogus: 1, maxStandbys: -1, usePgrewind: 1 });
    expect(problems).toHaveLength(4);
    expect(problems.join("\n")).toContain("failInterval");
    expect(problems.join("\n")).toContain(`unknown field "bogus"`);
    expect(problems.join("\n")).toContain("maxStandbys");
    expect(problems.join("\n")).toContain("usePgrewind");
  });

  test("reports shape and rule problems together, each once", () => {
    expect(validateSpec({ initMode: "new", failInterval: "x", maxStandbys: 0 })).toEqual([
      `failInterval: "x" is not a duration (use Go syntax such as "500ms", "5s", "1m30s", "48h")`,
      "maxStandbys: must be at least 1",
    ]);
    // proxyTimeout is broken, so the rule comparing it with proxyCheckInterval is not reported too.
    expect(validateSpec({ initMode: "new", proxyTimeout: "soon", proxyCheckInterval: "20s" })).toHaveLength(1);
  });

  test("reports every rule broken at once", () => {
    const problems = validateSpec({ initMode: "existing", proxyCheckInterval: "20s", maxStandbys: 0, maxSynchronousStandbys: 0 });
    expect(problems.length).toBeGreaterThanOrEqual(4);
  });

  test("parseSpec throws a SpecError carrying the problems", () => {
    let err: unknown;
    try {
      parseSpec({ initMode: "new", nope: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).problems).toEqual([`unknown field "nope"`]);
    expect((err as SpecError).message).toBe(`invalid cluster spec: unknown field "nope"`);
  });
});

describe("validateSpecUpdate", () => {
  const cases: [string, ClusterSpec, ClusterSpec, string[]][] = [
    ["same", { initMode: "new" }, { initMode: "new", failInterval: "3s" }, []],
    ["initMode changed", { initMode: "new" }, { initMode: "existing", existingConfig: { keeperUID: "k1" } }, ["initMode: cannot be changed"]],
    ["master -> standby (explicit)", { initMode: "pitr", role: "master" }, { initMode: "pitr", role: "standby" }, [`role: cannot change from "master" to "standby"`]],
    ["master (default) -> standby", { initMode: "pitr" }, { initMode: "pitr", role: "standby" }, [`role: cannot change from "master" to "standby"`]],
    ["standby -> master (promote)", { initMode: "pitr", role: "standby" }, { initMode: "pitr", role: "master" }, []],
  ];
  test.each(cases)("%s", (_n, prev, next, expected) => {
    const problems = validateSpecUpdate(prev, next);
    expect(problems).toHaveLength(expected.length);
    expected.forEach((e, i) => expect(problems[i]).toContain(e));
  });
});

describe("duration bounds", () => {
  const fields = Object.keys(SPEC_DURATION_BOUNDS) as SpecDurationField[];
  test("every duration field of the spec has bounds", () => {
    const durations = Object.entries(SPEC_DEFAULTS).filter(([, v]) => typeof v === "string" && /^\d/.test(v)).map(([k]) => k);
    expect([...fields].sort() as string[]).toEqual(durations.sort());
  });

  // Field, value, the words the problem must contain.
  const cases: [SpecDurationField, string, string][] = fields.flatMap((f): [SpecDurationField, string, string][] => {
    const b: DurationBounds = SPEC_DURATION_BOUNDS[f];
    const min = formatDuration(b.minMs);
    const max = formatDuration(b.maxMs);
    return [
      [f, formatDuration(b.minMs - 1), `${f}: "${formatDuration(b.minMs - 1)}" is below the minimum of ${min}`],
      [f, formatDuration(b.maxMs + 1000), `${f}: "${formatDuration(b.maxMs + 1000)}" is above the maximum of ${max}`],
      [f, "1ns", `${f}: "1ns" is below the minimum of ${min}`],
      [f, "2562047h", `${f}: "2562047h" is above the maximum of ${max}`],
      [f, "596h", `${f}: "596h" is above the maximum of ${max}`],
    ];
  });
  test.each(cases)("%s = %s is refused", (field, value, expected) => {
    expect(validateSpec({ initMode: "new", [field]: value })).toEqual([expect.stringContaining(expected)]);
  });

  test.each(fields)("%s accepts its minimum and its maximum", (f) => {
    const b = SPEC_DURATION_BOUNDS[f];
    // proxyCheckInterval must stay below proxyTimeout: give the largest proxyTimeout with it.
    const other = f === "proxyCheckInterval" ? { proxyTimeout: "1h" } : f === "proxyTimeout" ? { proxyCheckInterval: "100ms" } : {};
    expect(validateSpec({ initMode: "new", ...other, [f]: formatDuration(b.minMs) })).toEqual([]);
    expect(validateSpec({ initMode: "new", ...other, [f]: formatDuration(b.maxMs) })).toEqual([]);
  });

  test("0 is allowed where it means no timeout, and named in the problem", () => {
    expect(validateSpec({ initMode: "new", syncTimeout: "0s", convergenceTimeout: "0", initTimeout: "0s" })).toEqual([]);
    expect(validateSpec({ initMode: "new", syncTimeout: "1ms" })).toEqual([`syncTimeout: "1ms" is below the minimum of 1s (or 0 for no timeout)`]);
    expect(validateSpec({ initMode: "new", failInterval: "0s" })).toEqual([`failInterval: must be greater than zero (at least 2s), got "0s"`]);
  });

  test("a failInterval under 2s is refused (a healthy master would fence itself)", () => {
    expect(validateSpec({ initMode: "new", failInterval: "1500ms" })).toEqual([`failInterval: "1500ms" is below the minimum of 2s`]);
  });

  test("stolon's own defaults stay valid", () => {
    const stolon: ClusterSpec = {
      initMode: "new",
      sleepInterval: "5s",
      requestTimeout: "10s",
      convergenceTimeout: "30s",
      initTimeout: "5m",
      syncTimeout: "30m",
      dbWaitReadyTimeout: "60s",
      failInterval: "20s",
      deadKeeperRemovalInterval: "48h",
      proxyCheckInterval: "5s",
      proxyTimeout: "15s",
    };
    expect(validateSpec(stolon)).toEqual([]);
  });

  test("every bad duration is reported at once", () => {
    const p = validateSpec({ initMode: "new", sleepInterval: "1ns", requestTimeout: "2562047h", failInterval: "1s", proxyTimeout: "10ms" });
    expect(p.map((x) => x.split(":")[0]).sort()).toEqual(["failInterval", "proxyTimeout", "requestTimeout", "sleepInterval"]);
  });

  test("the daemons' starting timings are the default spec's", () => {
    expect(DEFAULT_SPEC_TIMINGS).toEqual(specTimings({}));
    expect(DEFAULT_SPEC_TIMINGS.proxyTimeoutMs).toBe(durationMs(SPEC_DEFAULTS.proxyTimeout));
  });
});

describe("a stored spec with a duration out of range (written by an older version, or by hand in etcd)", () => {
  const stored = { initMode: "new", failInterval: "1s", sleepInterval: "1ns", proxyTimeout: "2562047h" } as const;

  test("a user's spec is refused, a stored one is read", () => {
    expect(validateSpec(stored).join("\n")).toMatch(/failInterval: "1s" is below the minimum of 2s/);
    expect(validateSpec(stored, { stored: true })).toEqual([]);
    // Syntax and every other rule still apply to a stored spec.
    expect(validateSpec({ ...stored, failInterval: "soon" }, { stored: true })).toEqual([
      `failInterval: "soon" is not a duration (use Go syntax such as "500ms", "5s", "1m30s", "48h")`,
    ]);
    expect(validateSpec({ ...stored, maxStandbys: 0 }, { stored: true })).toContain("maxStandbys: must be at least 1");
  });

  test("the daemons use each value clamped to its range, so no loop spins and no timer overflows", () => {
    const t = specTimings(stored);
    expect(t.failIntervalMs).toBe(SPEC_DURATION_BOUNDS.failInterval.minMs);
    expect(t.sleepIntervalMs).toBe(SPEC_DURATION_BOUNDS.sleepInterval.minMs);
    expect(t.proxyTimeoutMs).toBe(SPEC_DURATION_BOUNDS.proxyTimeout.maxMs);
    expect(specTimings({ initMode: "new", convergenceTimeout: "0" }).convergenceTimeoutMs).toBe(0);
  });

  test("the sentinel's notes name each one with the value used; cluster data holding it is read but not written by clusterdata write", () => {
    const cd = newClusterData("c1", stored as ClusterSpec, new Date(0));
    expect(() => checkClusterData(structuredClone(cd))).toThrow(/failInterval: "1s" is below the minimum of 2s/);
    expect(parseClusterData(JSON.stringify(cd)).cluster.spec.failInterval).toBe("1s");
    const out = decide({ clusterData: parseClusterData(JSON.stringify(cd)), keepersInfo: {}, proxiesInfo: {}, memory: freshMemory(), now: 1_000_000, wallNow: 0, sentinelUID: "s1", newUid: () => "u1" });
    expect(out.notes).toContain(`spec failInterval: "1s" is below the minimum of 2s; using 2s (fix it with stolonctl update)`);
    expect(out.notes).toContain(`spec proxyTimeout: "2562047h" is above the maximum of 1h0m0s; using 1h0m0s (fix it with stolonctl update)`);
    expect(out.notes.join("\n")).not.toMatch(/nothing decided/);
  });
});
