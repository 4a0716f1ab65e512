/**
 * Stories of maintenance mode (`stolonctl pause` / `resume`) on a whole local cluster (etcd, two
 * keepers, two sentinels, a proxy): a master whose keeper is SIGKILLed keeps its role and its
 * PostgreSQL while paused; a master lost whole is not failed over while paused, and is failed over
 * within the usual time after resume; a pause with --for ends by itself.
 */
import { describe, expect, test } from "bun:test";
import type { ClusterData } from "../../src/cluster/index.ts";
import { readClusterData } from "../harness/builders.ts";
import { waitFor } from "../harness/util.ts";
import { clusterForFile } from "./harness/cluster.ts";
import { runCmd } from "./harness/process.ts";

/** failInterval 3s (default 5s) keeps the waits of "no failover for longer than failInterval" short. */
const FAIL_MS = 3000;
const { lc, portOf, query: q } = clusterForFile("pause", { ports: [5500, 8000], keepers: 2, spec: { initMode: "new", usePgrewind: true, failInterval: "3s" } });
const ctl = (...args: string[]) => runCmd("stolonctl", [...lc.common, ...args]);
const cd = (): Promise<ClusterData> => readClusterData(lc.store);

async function settledMaster(): Promise<{ keeper: string; db: string }> {
  const c = await lc.waitSettled(120_000);
  const db = c.cluster.status.master!;
  return { keeper: c.dbs[db]!.spec.keeperUID, db };
}

/** The server behind the proxy takes a write; its port. */
async function writeThroughProxy(): Promise<number> {
  const r = await q<{ port: number }>(lc.ports.proxy, "insert into t values (default) returning inet_server_port() as port");
  return r[0]!.port;
}

/**
 * Waits until the sentinel has seen keeper `k` unhealthy (it reports health while paused) and then
 * for twice failInterval more, checking on the way that the master has not changed: the sentinel
 * would have failed it over by then if it were not paused.
 */
async function expectNoFailoverWhile(k: string, masterDb: string): Promise<void> {
  await waitFor(`keeper ${k} seen unhealthy`, async () => (await cd()).keepers[k]?.status.healthy === false, 30_000, 100);
  const until = Date.now() + 2 * FAIL_MS + 2000;
  while (Date.now() < until) {
    const c = await cd();
    expect(c.cluster.status.master).toBe(masterDb);
    expect(c.dbs[masterDb]?.spec.role).toBe("master");
    await Bun.sleep(250);
  }
}

describe("pause", () => {
  test("holds through a SIGKILL of the master's keeper: no failover, PostgreSQL keeps serving, the master comes back under its restarted keeper", async () => {
    const m = await settledMaster();
    await q(lc.ports.proxy, "create table if not exists t (id bigserial primary key)");
    const p = await ctl("pause", "--reason", "kernel upgrade");
    expect(p.code).toBe(0);
    const st = await ctl("status");
    expect(st.stdout.split("\n")[0]).toStartWith("PAUSED (maintenance mode");
    expect(st.stdout.split("\n")[0]).toContain("reason: kernel upgrade");

    const postmaster = lc.postmasterPid(m.keeper);
    lc.kill(m.keeper, "SIGKILL");
    await lc.exited(m.keeper);
    await expectNoFailoverWhile(m.keeper, m.db);
    // Its PostgreSQL, no longer watched by a keeper, still serves through the proxy.
    expect(lc.postmasterPid(m.keeper)).toBe(postmaster);
    expect(await writeThroughProxy()).toBe(portOf(m.keeper));
    // The sentinel says why nothing happens.
    expect((await cd()).lastDecision?.notes.join("\n") ?? "").toContain("paused");

    lc.startKeeper(m.keeper);
    expect((await settledMaster()).keeper).toBe(m.keeper);
    // The restarted keeper took the running PostgreSQL over rather than restarting it.
    expect(lc.postmasterPid(m.keeper)).toBe(postmaster);
    expect(await writeThroughProxy()).toBe(portOf(m.keeper));
    expect((await ctl("resume")).code).toBe(0);
    expect((await cd()).pause).toBeNull();
  }, 240_000);

  test("a master lost whole (keeper and PostgreSQL SIGKILLed) is not failed over while paused, and is within the usual time after resume", async () => {
    const m = await settledMaster();
    expect((await ctl("pause")).code).toBe(0);
    await lc.crashKeeper(m.keeper);
    await expectNoFailoverWhile(m.keeper, m.db);
    const t0 = Date.now();
    expect((await ctl("resume")).code).toBe(0);
    const other = await waitFor(
      "a new master after resume",
      async () => {
        const c = await cd();
        const k = c.dbs[c.cluster.status.master ?? ""]?.spec.keeperUID;
        return k && k !== m.keeper ? k : null;
      },
      30_000,
      100,
    );
    const elapsed = Date.now() - t0;
    // Its keeper has been gone for longer than failInterval already: the next tick fails it over.
    expect(elapsed).toBeLessThan(FAIL_MS + 10_000);
    expect(other).not.toBe(m.keeper);
    await waitFor("writes on the new master through the proxy", async () => (await writeThroughProxy()) === portOf(other), 60_000, 200);
    lc.startKeeper(m.keeper);
    await lc.waitSettled(180_000);
  }, 300_000);

  test("a pause with --for ends by itself: the sentinel clears it", async () => {
    await settledMaster();
    expect((await ctl("pause", "--for", "2s", "--reason", "short")).code).toBe(0);
    expect((await cd()).pause?.until).toBeDefined();
    await waitFor("the pause cleared by the sentinel", async () => !(await cd()).pause, 20_000, 200);
    expect((await ctl("status")).stdout.split("\n")[0]).toBe("=== Active sentinels ===");
  }, 60_000);
});
