/**
 * readHold: how the proxy reads a switchover's hold (the drain timeout, what is left of it, how
 * long held clients wait), and --drain-timeout.
 */
import { describe, expect, test } from "bun:test";
import type { ClusterData, ProxyHold, Switchover } from "../../../src/cluster/index.ts";
import { resolveProxyConfig } from "../../../src/proxy/config.ts";
import { readHold, SWITCHOVER_HOLD_MARGIN_MS, type HoldOptions } from "../../../src/proxy/hold.ts";
import { deepFreeze, steadyCluster } from "../../harness/builders.ts";

const NOW = Date.parse("2026-12-01T10:00:10Z");
const opts: HoldOptions = { holdMs: 4000, drainTimeoutMs: 5000, drainTimeoutGiven: false };

function cd(hold: ProxyHold | null, sw?: Partial<Switchover>): ClusterData {
  const c = steadyCluster();
  c.proxy.spec.hold = hold;
  if (sw) {
    c.switchover = {
      id: "sw1",
      requestedAt: "2026-12-01T10:00:00Z",
      timeout: "30s",
      drainTimeout: "5s",
      phase: "draining",
      phaseTime: "2026-12-01T10:00:00Z",
      steps: [],
      ...sw,
    };
  }
  return deepFreeze(c);
}
const hold = (o: Partial<ProxyHold> = {}): ProxyHold => ({ id: "sw1", since: "2026-12-01T10:00:08Z", drainTimeout: "5s", ...o });

describe("readHold", () => {
  test("no cluster data, no hold: null", () => {
    expect(readHold(null, opts, NOW)).toBeNull();
    expect(readHold(cd(null), opts, NOW)).toBeNull();
  });

  const cases: [string, ClusterData, Partial<HoldOptions>, { drainMs: number; drainLeftMs: number; holdMs: number; problems?: RegExp }][] = [
    ["the hold's drain timeout, 2 s of it gone", cd(hold(), {}), {}, { drainMs: 5000, drainLeftMs: 3000, holdMs: 30_000 + 5000 + SWITCHOVER_HOLD_MARGIN_MS }],
    ["a given --drain-timeout caps it", cd(hold({ drainTimeout: "10s" }), {}), { drainTimeoutMs: 3000, drainTimeoutGiven: true }, { drainMs: 3000, drainLeftMs: 1000, holdMs: 30_000 + 3000 + SWITCHOVER_HOLD_MARGIN_MS }],
    ["a default --drain-timeout does not cap it", cd(hold({ drainTimeout: "10s" }), {}), {}, { drainMs: 10_000, drainLeftMs: 8000, holdMs: 30_000 + 10_000 + SWITCHOVER_HOLD_MARGIN_MS }],
    ["a longer --drain-timeout leaves it", cd(hold(), {}), { drainTimeoutMs: 60_000, drainTimeoutGiven: true }, { drainMs: 5000, drainLeftMs: 3000, holdMs: 30_000 + 5000 + SWITCHOVER_HOLD_MARGIN_MS }],
    ["since in the future (clock skew): never more than the drain timeout", cd(hold({ since: "2026-12-01T10:05:00Z" }), {}), {}, { drainMs: 5000, drainLeftMs: 5000, holdMs: 50_000 }],
    ["since long gone: nothing left", cd(hold({ since: "2026-12-01T09:00:00Z" }), {}), {}, { drainMs: 5000, drainLeftMs: 0, holdMs: 50_000 }],
    ["drain timeout 0: cut at once", cd(hold({ drainTimeout: "0s" }), {}), {}, { drainMs: 0, drainLeftMs: 0, holdMs: 45_000 }],
    ["the switchover's timeout sets the hold time", cd(hold(), { timeout: "2m" }), {}, { drainMs: 5000, drainLeftMs: 3000, holdMs: 120_000 + 5000 + SWITCHOVER_HOLD_MARGIN_MS }],
    ["another switchover's timeout is not used", cd(hold(), { id: "sw0", timeout: "2m" }), {}, { drainMs: 5000, drainLeftMs: 3000, holdMs: 50_000 }],
    ["no switchover: its default timeout", cd(hold()), {}, { drainMs: 5000, drainLeftMs: 3000, holdMs: 50_000 }],
    ["a longer --hold-timeout wins", cd(hold(), {}), { holdMs: 600_000 }, { drainMs: 5000, drainLeftMs: 3000, holdMs: 600_000 }],
    ["an out-of-range drain timeout: --drain-timeout's value, and a problem", cd(hold({ drainTimeout: "2h" }), {}), {}, { drainMs: 5000, drainLeftMs: 3000, holdMs: 50_000, problems: /drainTimeout: "2h" is above the maximum/ }],
    ["an out-of-range timeout: the default, and a problem", cd(hold(), { timeout: "100ms" }), {}, { drainMs: 5000, drainLeftMs: 3000, holdMs: 50_000, problems: /switchover.timeout: "100ms" is below/ }],
    ["a huge timeout: the hold time stays bounded", cd(hold(), { timeout: "1h" }), {}, { drainMs: 5000, drainLeftMs: 3000, holdMs: 3_600_000 }],
  ];
  test.each(cases)("%s", (_name, data, o, want) => {
    const got = readHold(data, { ...opts, ...o }, NOW);
    expect(got).not.toBeNull();
    expect({ drainMs: got!.drainMs, drainLeftMs: got!.drainLeftMs, holdMs: got!.holdMs }).toEqual({ drainMs: want.drainMs, drainLeftMs: want.drainLeftMs, holdMs: want.holdMs });
    expect(got!.id).toBe("sw1");
    if (want.problems) expect(got!.problems.join("; ")).toMatch(want.problems);
    else expect(got!.problems).toEqual([]);
  });
});

describe("--drain-timeout", () => {
  const base = { "cluster-name": "c1", "store-backend": "etcdv3" };
  test("default 5s, not given", () => {
    const c = resolveProxyConfig(base, {});
    expect([c.drainTimeoutMs, c.drainTimeoutGiven]).toEqual([5000, false]);
  });
  test("from the flag or STPROXY_DRAIN_TIMEOUT", () => {
    expect(resolveProxyConfig({ ...base, "drain-timeout": "2s" }, {}).drainTimeoutMs).toBe(2000);
    const e = resolveProxyConfig(base, { STPROXY_DRAIN_TIMEOUT: "750ms" });
    expect([e.drainTimeoutMs, e.drainTimeoutGiven]).toEqual([750, true]);
  });
  test.each([["-1s", /must not be negative/], ["20m", /above the maximum of 10m0s/], ["5", /not a duration/], ["50ms", /below the minimum/]])("%s is refused", (v, re) => {
    expect(() => resolveProxyConfig({ ...base, "drain-timeout": v }, {})).toThrow(re);
  });
});
