/**
 * The cross-component timing argument (src/cluster/timing.ts): its inequalities hold for the
 * defaults, for stolon's defaults and for every combination of the extremes of the allowed
 * ranges; a broken constant is reported by the rule's name.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import {
  DEFAULT_SPEC_TIMINGS,
  deriveTimings,
  durationMs,
  KEEPER_FENCE_MS,
  MASTER_SILENT_MS,
  SILENCE_POLL_MS,
  SPEC_DURATION_BOUNDS,
  specTimings,
  STANDBY_RECEIVER_TIMEOUT_MS,
  TIMING_RULES,
  timingViolations,
  validateSpec,
  type ClusterSpec,
  type SpecDurationField,
  type SpecTimingsMs,
} from "../../../src/cluster/index.ts";
import { formatDuration } from "../../../src/cluster/duration.ts";

/** The fields that enter the safety argument; the others are single-component timeouts. */
const ARGUMENT_FIELDS = ["sleepInterval", "failInterval", "proxyCheckInterval", "proxyTimeout"] as const satisfies readonly SpecDurationField[];

/**
 * Every combination of the minimum and maximum of each field of ARGUMENT_FIELDS, plus, for each,
 * the proxyCheckInterval just below the proxyTimeout (the edge of the cross-field rule).
 */
function extremeSpecs(): ClusterSpec[] {
  let specs: ClusterSpec[] = [{ initMode: "new" }];
  for (const f of ARGUMENT_FIELDS) {
    const b = SPEC_DURATION_BOUNDS[f];
    specs = specs.flatMap((s) => [{ ...s, [f]: formatDuration(b.minMs) }, { ...s, [f]: formatDuration(b.maxMs) }]);
  }
  const edge = specs.map((s) => ({ ...s, proxyCheckInterval: formatDuration(Math.min(durationMs(s.proxyTimeout!) - 1, SPEC_DURATION_BOUNDS.proxyCheckInterval.maxMs)) }));
  return [...specs, ...edge];
}

describe("the timing inequalities", () => {
  test("hold for the default spec", () => {
    expect(timingViolations(deriveTimings(DEFAULT_SPEC_TIMINGS))).toEqual([]);
  });

  test("hold for stolon's defaults", () => {
    const stolon = { sleepInterval: "5s", failInterval: "20s", proxyCheckInterval: "5s", proxyTimeout: "15s", requestTimeout: "10s" };
    expect(timingViolations(deriveTimings(specTimings({ initMode: "new", ...stolon })))).toEqual([]);
  });

  const extremes = extremeSpecs();
  test(`hold for every combination of the extremes that validateSpec accepts (${extremes.length} combinations)`, () => {
    let accepted = 0;
    for (const spec of extremes) {
      const problems = validateSpec(spec);
      if (problems.length > 0) {
        // The only combination refused is a proxy that checks no more often than it times out.
        expect(problems).toEqual([expect.stringContaining("proxyCheckInterval: must be less than proxyTimeout")]);
        continue;
      }
      accepted++;
      expect({ spec, violations: timingViolations(deriveTimings(specTimings(spec))) }).toEqual({ spec, violations: [] });
    }
    expect(accepted).toBe(extremes.length - 4);
  });

  // Each case breaks the argument with numbers a changed constant or range would produce.
  const d = deriveTimings(DEFAULT_SPEC_TIMINGS);
  const broken: [string, Parameters<typeof timingViolations>[0], string][] = [
    ["the fence later than the silent-master rule (KEEPER_FENCE_MS 1s)", { ...d, keeperFenceAfterMs: 1000, keeperFencedByMs: 1300 }, "fence before the silent-master rule"],
    ["a silent-master rule quicker than the fence (MASTER_SILENT_MS 0.9s)", { ...d, masterSilentMs: 900 }, "fence before the silent-master rule"],
    ["a silent-master rule etcd's lease cannot tell (1.5s)", { ...d, masterSilentMs: 1500 }, "the silent-master rule is whole seconds"],
    ["a lease shorter than the fence", { ...d, keeperLeaseMs: 800 }, "fence before lease expiry"],
    ["a fence quicker than a report cycle (failInterval 0.5s)", { ...d, keeperFenceAfterMs: 250, keeperFencedByMs: 550 }, "a healthy master never fences"],
    ["a report period longer than the silent-master rule", { ...d, keeperReportCycleMs: MASTER_SILENT_MS + 100 }, "a reporting master is never silent"],
    ["one report per lease", { ...d, keeperLeaseMs: 1200, keeperReportCycleMs: 800 }, "two reports per lease"],
    ["staleness before the fence", { ...d, keeperStaleFailMs: 800 }, "fence before the stale-report failure"],
    ["a proxy margin smaller than the proxy's own check", { ...d, proxySilentAfterMs: d.proxyTimeoutMs + 100 }, "proxy cut off before the sentinel stops waiting"],
    ["a proxy info lease shorter than the sentinel's wait (proxyTimeout 500ms)", { ...d, proxyTimeoutMs: 500, proxyInfoTtlMs: 1000, proxySilentAfterMs: 1500, proxyFencedByMs: 800, proxyCheckIntervalMs: 100 }, "proxy info outlives the sentinel's wait"],
    ["a proxy checking less often than it times out", { ...d, proxyCheckIntervalMs: d.proxyTimeoutMs }, "proxy checks within its timeout"],
  ];
  test.each(broken)("fail by name: %s", (_name, timings, rule) => {
    const v = timingViolations(timings);
    expect(v.map((x) => x.rule)).toContain(rule);
    expect(TIMING_RULES).toContain(rule);
    expect(v.find((x) => x.rule === rule)!.detail).toMatch(/must/);
  });

  test("the fence delay is KEEPER_FENCE_MS over the whole failInterval range (failInterval/2 only below it), and always before the silent-master rule", () => {
    const t = (failInterval: number): SpecTimingsMs => ({ ...DEFAULT_SPEC_TIMINGS, failIntervalMs: failInterval });
    expect(deriveTimings(DEFAULT_SPEC_TIMINGS).keeperFenceAfterMs).toBe(KEEPER_FENCE_MS);
    expect(deriveTimings(t(SPEC_DURATION_BOUNDS.failInterval.maxMs)).keeperFenceAfterMs).toBe(KEEPER_FENCE_MS);
    expect(deriveTimings(t(SPEC_DURATION_BOUNDS.failInterval.minMs)).keeperFenceAfterMs).toBe(KEEPER_FENCE_MS);
    expect(deriveTimings(t(1000)).keeperFenceAfterMs).toBe(500);
    for (const f of [SPEC_DURATION_BOUNDS.failInterval.minMs, 2 * KEEPER_FENCE_MS, DEFAULT_SPEC_TIMINGS.failIntervalMs])
      expect(deriveTimings(t(f)).keeperFencedByMs).toBeLessThan(MASTER_SILENT_MS);
  });

  test("a master lost whole (no connection closed) is failed within 1.5 s of its keeper's last renewal with the defaults", () => {
    // The slower of the two signals of the silent-master rule: the keeper's silence (read from its
    // lease, polled every SILENCE_POLL_MS), and a standby whose receiver gave up
    // (STANDBY_RECEIVER_TIMEOUT_MS) and then reported (one report cycle).
    const d = deriveTimings(DEFAULT_SPEC_TIMINGS);
    expect(d.nodeLossFailedByMs).toBe(Math.max(MASTER_SILENT_MS + SILENCE_POLL_MS, STANDBY_RECEIVER_TIMEOUT_MS + d.keeperReportCycleMs));
    expect(d.nodeLossFailedByMs).toBeLessThanOrEqual(1500);
  });
});

describe("validateSpec and the timing rules", () => {
  test("a cross-field violation names the field, the numbers and the rule", () => {
    expect(validateSpec({ initMode: "new", proxyCheckInterval: "3s", proxyTimeout: "2s" })).toEqual([
      "proxyCheckInterval: must be less than proxyTimeout (3s >= 2s): a proxy must check at least once before it gives up (proxy checks within its timeout)",
    ]);
  });
});

describe("one source of truth", () => {
  const root = join(import.meta.dir, "../../..");
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
    });
  // The constants of timing.ts, and the names they had before they moved there.
  const names = [
    "KEEPER_REPORT_MS", "INFO_INTERVAL_MS", "KEEPER_STATE_WAIT_MS", "STATE_WAIT_MS", "KEEPER_FENCE_MS", "FENCE_CHECK_MS",
    "FENCE_ACTION_MS", "MASTER_SILENT_MS", "KEEPER_MIN_LEASE_MS", "PROXY_SILENT_MARGIN_MS", "SENTINEL_ELECTION_TTL_MS",
    "SENTINEL_MIN_INFO_TTL_MS", "STANDBY_RECEIVER_TIMEOUT_MS", "KEEPER_POSITION_MS", "SILENCE_POLL_MS",
  ];
  test("the cross-component timing constants are defined in timing.ts only", () => {
    const defining = new RegExp(`\\bconst (${names.join("|")})\\s*=`);
    const elsewhere = files(join(root, "src"))
      .filter((f) => !f.endsWith("src/cluster/timing.ts"))
      .filter((f) => defining.test(readFileSync(f, "utf8")))
      .map((f) => relative(root, f));
    expect(elsewhere).toEqual([]);
  });
});
