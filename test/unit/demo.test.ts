/**
 * The demo's pure parts: its env file (every value reaches the shell unchanged, however it is
 * spelt) and its start-up steps (done or not, the detail, and whose logs a timeout shows).
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderPgpass, shellQuote, shellWord, writeDemoEnv, type DemoEnv } from "../../scripts/demo-env.ts";
import { DEMO_STEPS, sentinelName, type Observation } from "../../scripts/demo-steps.ts";
import type { ClusterData } from "../../src/cluster/index.ts";
import type { HealthReport } from "../../src/lib/health.ts";
import { deepFreeze, steadyCluster } from "../harness/builders.ts";
import { keeperInfosFor } from "../harness/info-builders.ts";

describe("the env file", () => {
  test("shellQuote and shellWord: one word, as it was", () => {
    for (const s of ["plain", "with space", "it's", "$HOME `x` \\n \"q\"", ""]) {
      const r = Bun.spawnSync(["sh", "-c", `printf %s ${shellQuote(s)}`], { stdout: "pipe" });
      expect(r.stdout.toString()).toBe(s);
    }
    expect(shellWord("/tmp/stolon-demo/env.sh")).toBe("/tmp/stolon-demo/env.sh");
    expect(shellWord("/tmp/my demo")).toBe("'/tmp/my demo'");
  });

  test("sourced by sh, it sets every variable exactly and puts cmd/bin first on the PATH", () => {
    const dir = mkdtempSync(join(tmpdir(), "stolon-demo env 'x'-"));
    try {
      const e: DemoEnv = {
        dir,
        checkout: "/src/stolon $bun",
        clusterName: "demo",
        storeBackend: "etcdv3",
        storeEndpoints: "http://127.0.0.1:25450",
        pgHost: "127.0.0.1",
        pgPort: 25432,
        pgUser: "stolon",
        pgDatabase: "postgres",
        pgPassword: "pa:ss\\word'",
      };
      const path = writeDemoEnv(e);
      const r = Bun.spawnSync(["sh", "-c", `. ${shellWord(path)} && env`], { stdout: "pipe", env: { PATH: "/usr/bin:/bin" } });
      const env = Object.fromEntries(r.stdout.toString().trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
      expect(env).toMatchObject({
        PATH: "/src/stolon $bun/cmd/bin:/usr/bin:/bin",
        STOLONCTL_CLUSTER_NAME: "demo",
        STOLONCTL_STORE_BACKEND: "etcdv3",
        STOLONCTL_STORE_ENDPOINTS: "http://127.0.0.1:25450",
        PGHOST: "127.0.0.1",
        PGPORT: "25432",
        PGUSER: "stolon",
        PGDATABASE: "postgres",
        PGPASSFILE: join(dir, "pgpass"),
      });
      expect(renderPgpass(e)).toBe("127.0.0.1:25432:*:stolon:pa\\:ss\\\\word'\n");
      expect(statSync(join(dir, "pgpass")).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function report(component: string, uid: string, ok: boolean, reason: string): HealthReport {
  return { component, uid, live: { ok: true, reason: "all loops run" }, ready: { ok, reason }, loops: [], details: {} };
}

/** The steady cluster (master m on k1, standby s on k2, routed), everyone ready, sentinel1 leading. */
function steadyObservation(change: (cd: ClusterData) => void = () => {}, ready: Partial<Observation["ready"]> = {}): Observation {
  const cd = steadyCluster({}, { enabledProxies: ["p1"] });
  change(cd);
  return deepFreeze({
    cd,
    keepers: keeperInfosFor(cd),
    leaderUid: "s-uid-1",
    ready: {
      sentinel1: report("sentinel", "s-uid-1", true, "the store answers"),
      sentinel2: report("sentinel", "s-uid-2", true, "the store answers"),
      k1: report("keeper", "k1", true, "ok"),
      k2: report("keeper", "k2", true, "ok"),
      proxy: report("proxy", "p1", true, "routing"),
      ...ready,
    },
  });
}

const KEEPERS = ["k1", "k2"];
const step = (what: string) => DEMO_STEPS.find((s) => s.what === what)!;

describe("the start-up steps", () => {
  test("a settled cluster: every step is done, in order", () => {
    const o = steadyObservation();
    expect(DEMO_STEPS.map((s) => s.check(o, KEEPERS).result)).toEqual([
      "2/2 keepers registered",
      "sentinel leader: sentinel1",
      "master on k1",
      "1/1 standbys streaming from k1: k2",
      "proxy routing to the master on k1",
    ]);
    expect(DEMO_STEPS.every((s) => s.check(o, KEEPERS).done)).toBe(true);
  });

  test("a keeper not registered: the step waits on it and says why", () => {
    const o = { ...steadyObservation(), keepers: keeperInfosFor(steadyCluster(), ["k2"]), ready: { ...steadyObservation().ready, k2: null } };
    const c = step("the keepers to register").check(o, KEEPERS);
    expect(c).toMatchObject({ done: false, detail: "1/2; k2: no answer on its admin port", concerned: ["k2"] });
  });

  test("a sentinel leader is named by its /ready uid, or by its uid when none answers", () => {
    expect(sentinelName(steadyObservation(), "s-uid-2")).toBe("sentinel2");
    expect(sentinelName(steadyObservation(), "other")).toBe("other");
    expect(step("a sentinel leader").check({ ...steadyObservation(), leaderUid: null }, KEEPERS)).toMatchObject({ done: false, concerned: ["sentinel1", "sentinel2"] });
  });

  test("no master yet: waits on the sentinels and every keeper, with the leader's last decision", () => {
    const o = steadyObservation((cd) => {
      delete cd.cluster.status.master;
      cd.lastDecision = { time: "", sentinelUID: "s-uid-1", notes: ["no keeper can be master yet"] };
    });
    expect(step("a master").check(o, KEEPERS)).toEqual({
      done: false,
      result: "",
      detail: "none elected yet; leader's last decision: no keeper can be master yet",
      concerned: ["sentinel1", "k1", "k2"],
    });
  });

  test("a master elected but not converged (initdb running): waits on its keeper and the leader", () => {
    const o = steadyObservation((cd) => (cd.dbs.m!.status.currentGeneration = 0), { k1: report("keeper", "k1", false, "PostgreSQL is not running") });
    expect(step("a master").check(o, KEEPERS)).toMatchObject({
      done: false,
      detail: "k1 elected, its PostgreSQL not ready yet (initdb): k1: PostgreSQL is not running",
      concerned: ["k1", "sentinel1"],
    });
  });

  test("a standby not converged: the standbys and the proxy steps wait", () => {
    const o = steadyObservation((cd) => (cd.dbs.s!.status.healthy = false), { k2: report("keeper", "k2", false, "PostgreSQL is not running") });
    expect(step("the standbys to stream").check(o, KEEPERS)).toMatchObject({ done: false, detail: "0/1; k2: PostgreSQL is not running", concerned: ["k2", "sentinel1"] });
    expect(step("the proxy to route to the master").check(o, KEEPERS).done).toBe(false);
  });

  test("the proxy not ready, or the master not enabled for the proxies: the proxy step waits on it and the leader", () => {
    const notReady = steadyObservation(() => {}, { proxy: report("proxy", "p1", false, "no target") });
    expect(step("the proxy to route to the master").check(notReady, KEEPERS)).toMatchObject({ done: false, detail: "proxy: no target", concerned: ["proxy", "sentinel1"] });
    const notEnabled = steadyObservation((cd) => (cd.proxy.spec.enabledProxies = []));
    expect(step("the proxy to route to the master").check(notEnabled, KEEPERS).detail).toContain("the master is not enabled for the proxies yet");
  });
});
