/**
 * The keepers' Patroni-compatible endpoints on a real three-keeper cluster (asynchronous, then
 * synchronous): /primary answers 200 on the master's keeper only, /replica on the streaming
 * standbys, /replica?lag= follows a real lag (a standby whose WAL replay is paused while the
 * master writes), /sync and /async follow the spec. Each keeper is asked on its own admin listener.
 */
import { describe, expect, test } from "bun:test";
import type { PatroniBody } from "../../src/keeper/patroni.ts";
import { clusterForFile } from "./harness/cluster.ts";
import { runCmd } from "./harness/process.ts";
import { waitFor } from "../harness/util.ts";

const { lc, portOf, query: sql } = clusterForFile("patroni", { ports: [14000, 17000], spec: { initMode: "new" } });

async function get(keeper: string, path: string): Promise<{ status: number; body: PatroniBody }> {
  const r = await fetch(`${lc.adminUrl(keeper)}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: (await r.json()) as PatroniBody };
}

/** The status each keeper answers on `path`, by keeper. */
async function statuses(path: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const k of lc.keeperNames) out[k] = (await get(k, path)).status;
  return out;
}


let masterKeeper = "";
let standbys: string[] = [];
const expectAll = (fn: (k: string) => number) => Object.fromEntries(lc.keeperNames.map((k) => [k, fn(k)]));

describe("Patroni endpoints on the keepers", () => {
  test("a settled asynchronous cluster: /primary, /master, /leader 200 only on the master's keeper; /replica and /async on the standbys; /read-only, /health, /liveness, /readiness on all", async () => {
    const cd = await lc.waitSettled(90_000);
    masterKeeper = cd.dbs[cd.cluster.status.master!]!.spec.keeperUID;
    standbys = lc.keeperNames.filter((k) => k !== masterKeeper);
    const onMaster = (k: string) => (k === masterKeeper ? 200 : 503);
    const onStandbys = (k: string) => (k === masterKeeper ? 503 : 200);
    // The standbys report streaming a moment after the cluster view settles.
    await waitFor("the standbys answer /replica 200", async () => JSON.stringify(await statuses("/replica")) === JSON.stringify(expectAll(onStandbys)), 30_000, 200);
    for (const path of ["/primary", "/master", "/leader"]) expect(await statuses(path)).toEqual(expectAll(onMaster));
    expect(await statuses("/replica")).toEqual(expectAll(onStandbys));
    expect(await statuses("/async")).toEqual(expectAll(onStandbys));
    expect(await statuses("/asynchronous")).toEqual(expectAll(onStandbys));
    expect(await statuses("/sync")).toEqual(expectAll(() => 503));
    for (const path of ["/read-only", "/health", "/liveness", "/readiness", "/ready"]) expect(await statuses(path)).toEqual(expectAll(() => 200));

    const m = await get(masterKeeper, "/primary");
    expect(m.body).toMatchObject({ role: "master", state: "running", keeper_uid: masterKeeper, cluster_name: lc.cluster, fenced: false, replication_lag_bytes: 0 });
    expect(m.body.timeline).toBeGreaterThanOrEqual(1);
    expect(m.body.wal_position).toBeGreaterThan(0);
    expect(m.body.db_uid).toBe(cd.cluster.status.master!);
    // The keeper's /health is Patroni's (PostgreSQL up, the same body), not the component report.
    expect((await get(masterKeeper, "/health")).body).toMatchObject({ role: "master", state: "running", reason: "PostgreSQL runs and answers" });
    const s = await get(standbys[0]!, "/replica");
    expect(s.body).toMatchObject({ role: "standby", state: "running", keeper_uid: standbys[0], timeline: m.body.timeline, synchronous: false });
    expect(s.body.wal_position).toBeGreaterThan(0);
    expect(typeof s.body.replication_lag_bytes).toBe("number");
  });

  test("a malformed ?lag= answers 400 with a sentence; an unknown path 404", async () => {
    for (const q of ["lag=16XB", "lag=-1", "lag=1e99", "lag=1&lag=2", "lag="]) {
      const r = await get(standbys[0]!, `/replica?${q}`);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatch(/^lag /);
    }
    expect((await fetch(`${lc.adminUrl(masterKeeper)}/primaryx`)).status).toBe(404);
  });

  test("a standby whose replay is paused while the master writes: /replica?lag=1 503, ?lag=1GB and no bound 200; caught up again after resume", async () => {
    const lagging = standbys[0]!;
    await sql(portOf(lagging), "select pg_wal_replay_pause()");
    try {
      await sql(portOf(masterKeeper), "create table filler as select g, repeat('x', 1000) as pad from generate_series(1, 8000) g");
      const r = await waitFor("a lag over 1 byte on the paused standby", async () => {
        const x = await get(lagging, "/replica?lag=1");
        return x.status === 503 && (x.body.replication_lag_bytes ?? 0) > 1024 * 1024 ? x : null;
      }, 30_000, 200);
      expect(r.body.reason).toMatch(/replication lag \d+ bytes is over 1 bytes/);
      expect((await get(lagging, "/replica?lag=1GB")).status).toBe(200);
      expect((await get(lagging, "/replica")).status).toBe(200);
      expect((await get(lagging, "/read-only?lag=1kB")).status).toBe(503);
      expect((await get(lagging, "/async?lag=1kB")).status).toBe(503);
      // The other standby replays and stays within a small bound.
      await waitFor("the other standby within 1MB", async () => (await get(standbys[1]!, "/replica?lag=1MB")).status === 200, 30_000, 200);
    } finally {
      await sql(portOf(lagging), "select pg_wal_replay_resume()");
    }
    await waitFor("the resumed standby within 1MB", async () => (await get(lagging, "/replica?lag=1MB")).status === 200, 30_000, 200);
  });

  test("synchronous replication: /sync 200 on the synchronous standby only, /async on the other", async () => {
    const upd = await runCmd("stolonctl", [...lc.common, "update", "--patch", '{"synchronousReplication":true,"minSynchronousStandbys":1,"maxSynchronousStandbys":1}']);
    expect(upd.code).toBe(0);
    const sync = await waitFor("one standby reported synchronous", async () => {
      const s = await statuses("/sync");
      const on = standbys.filter((k) => s[k] === 200);
      return on.length === 1 ? on[0]! : null;
    }, 60_000, 200);
    const other = standbys.find((k) => k !== sync)!;
    const want = {
      "/sync": expectAll((k) => (k === sync ? 200 : 503)),
      "/async": expectAll((k) => (k === other ? 200 : 503)),
      "/primary": expectAll((k) => (k === masterKeeper ? 200 : 503)),
      "/replica": expectAll((k) => (k === masterKeeper ? 503 : 200)),
    };
    const seen = async () => Object.fromEntries(await Promise.all(Object.keys(want).map(async (p) => [p, await statuses(p)] as const)));
    // The master converges to its new spec (synchronous_standby_names) a moment after the standby is named.
    await waitFor("the synchronous picture on every keeper", async () => JSON.stringify(await seen()) === JSON.stringify(want), 20_000, 200).catch(() => {});
    expect(await seen()).toEqual(want);
    expect((await get(sync, "/synchronous")).body.synchronous).toBe(true);
  });
});
