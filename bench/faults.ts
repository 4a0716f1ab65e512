/**
 * Fault injection with an acknowledged-writes checker. A local cluster (3 keepers, 2 sentinels, a
 * proxy; every keeper reaches etcd through a relay that can be cut) runs a workload of short write
 * transactions through the proxy, remembering every acknowledged id. Faults are injected one at a
 * time, each followed by recovery (a master with every standby streaming again):
 *
 *   kill-master      SIGKILL of the master keeper and its postgres (the keeper is restarted)
 *   stop-master      SIGSTOP of both for 8 s, then SIGCONT
 *   partition-master the master keeper cut from etcd for 8 s
 *   kill-sentinel    SIGKILL of the leader sentinel (restarted)
 *   restart-etcd     etcd stopped and started again
 *   kill-proxy       SIGKILL of the proxy (restarted)
 *
 * Then a checker verifies, on the final master, that every acknowledged id is there (synchronous
 * mode: none may be lost; asynchronous mode: the number lost is reported) and that no id is there
 * twice, and prints: fault, count, acknowledged, lost, time to recover (what a client saw
 * acknowledged after it: the longest pause between two acknowledged writes around the fault).
 *
 *   npm run faults -- [--sync] [--repeat 2] [--only kill-master,partition-master]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createLogger } from "../src/lib/log.ts";
import { Forwarder } from "../src/proxy/forwarder.ts";
import { LocalCluster, SU_PASSWORD } from "../scripts/local-cluster.ts";

export const FAULTS = ["kill-master", "stop-master", "partition-master", "kill-sentinel", "restart-etcd", "kill-proxy"] as const;
export type Fault = (typeof FAULTS)[number];

export interface FaultRow {
  fault: Fault;
  count: number;
  acknowledged: number;
  lost: number;
  recoverMs: number[];
}

export interface FaultReport {
  rows: FaultRow[];
  acknowledged: number;
  lost: number;
  duplicates: number;
  masters: number;
}

interface Ack {
  id: number;
  at: number;
}

export async function runFaults(o: { dir: string; basePort: number; sync: boolean; faults: Fault[]; repeat: number; log?: (m: string) => void }): Promise<FaultReport> {
  const log = o.log ?? (() => {});
  const relays: Record<string, Forwarder> = {};
  const names = ["keeper1", "keeper2", "keeper3"];
  names.forEach((k, i) => {
    const fw = new Forwarder({ hostname: "127.0.0.1", port: o.basePort + 30 + i, holdMs: 1000, keepAliveIdleMs: 0, log: createLogger("error") });
    fw.setTarget({ dbUid: "etcd", host: "127.0.0.1", port: o.basePort + 20 });
    fw.listen();
    relays[k] = fw;
  });
  const lc = new LocalCluster({
    dir: o.dir,
    basePort: o.basePort,
    spec: o.sync ? { initMode: "new", usePgrewind: true, synchronousReplication: true, minSynchronousStandbys: 1, maxSynchronousStandbys: 1 } : { initMode: "new", usePgrewind: true },
    keeperEndpoints: Object.fromEntries(names.map((k, i) => [k, `http://127.0.0.1:${o.basePort + 30 + i}`])),
  });
  const acks: Ack[] = [];
  let stop = false;
  const sql = postgres({ host: "127.0.0.1", port: lc.ports.proxy, database: "postgres", username: "stolon", password: SU_PASSWORD, max: 1, connect_timeout: 10, fetch_types: false, onnotice: () => {} });
  try {
    await lc.start();
    await lc.waitSettled(120_000);
    await sql`create table w (id bigint primary key)`;
    const writer = (async () => {
      let id = 0;
      while (!stop) {
        id++;
        try {
          await sql`insert into w values (${id})`;
          acks.push({ id, at: performance.now() });
        } catch {
          await Bun.sleep(20);
        }
      }
    })();

    const windows: { fault: Fault; from: number; to: number; recoverMs: number }[] = [];
    /** The master's keeper, once settled (and, in synchronous mode, with a standby known in sync). */
    const masterKeeper = async () => {
      for (;;) {
        const c = await lc.waitSettled(120_000);
        const m = c.dbs[c.cluster.status.master!]!;
        if (!o.sync || (m.status.synchronousStandbys ?? []).length > 0) return m.spec.keeperUID;
        await Bun.sleep(200);
      }
    };
    for (let r = 0; r < o.repeat; r++) {
      for (const fault of o.faults) {
        const m = await masterKeeper();
        await Bun.sleep(1000);
        const from = performance.now();
        log(`${fault} (master ${m})`);
        switch (fault) {
          case "kill-master": {
            await lc.crashKeeper(m);
            lc.startKeeper(m);
            break;
          }
          case "stop-master": {
            // The keeper and every process of its server: SIGSTOP of the postmaster alone would
            // leave the backends serving.
            const pids = [lc.pid(m)!, ...lc.postgresPids(m)];
            for (const pid of pids) process.kill(pid, "SIGSTOP");
            await Bun.sleep(8000);
            for (const pid of pids.reverse()) {
              try {
                process.kill(pid, "SIGCONT");
              } catch {
                log(`  process ${pid} of ${m} was gone after the freeze`);
              }
            }
            break;
          }
          case "partition-master":
            relays[m]!.stopListening();
            relays[m]!.cutAll();
            await Bun.sleep(8000);
            relays[m]!.listen();
            break;
          case "kill-sentinel": {
            const uid = await lc.leader();
            const name = ["sentinel1", "sentinel2"].find((s) => lc.logOf(s).includes(`sentinel ${uid} starting`)) ?? "sentinel1";
            lc.kill(name, "SIGKILL");
            await lc.exited(name);
            lc.restart(name);
            break;
          }
          case "restart-etcd":
            lc.kill("etcd", "SIGTERM");
            await lc.exited("etcd");
            lc.restart("etcd");
            break;
          case "kill-proxy":
            lc.kill("proxy", "SIGKILL");
            await lc.exited("proxy");
            lc.restart("proxy");
            break;
        }
        // Recovered: a settled cluster taking writes again. The time to recover is the longest
        // pause between two acknowledged writes from the fault on: what a client saw.
        await lc.waitSettled(120_000);
        const settledAt = performance.now();
        const deadline = settledAt + 60_000;
        while (!acks.some((a) => a.at > settledAt) && performance.now() < deadline) await Bun.sleep(20);
        const to = performance.now();
        const seen = acks.filter((a) => a.at >= from - 1000 && a.at <= to).map((a) => a.at);
        let pause = seen.length === 0 ? NaN : 0;
        for (let i = 1; i < seen.length; i++) pause = Math.max(pause, seen[i]! - seen[i - 1]!);
        windows.push({ fault, from, to, recoverMs: pause });
      }
    }
    stop = true;
    await writer;
    let present: number[] = [];
    for (let i = 0; ; i++) {
      try {
        present = (await sql`select id from w`).map((r) => Number(r.id));
        break;
      } catch (err) {
        if (i >= 50) throw err;
        await Bun.sleep(200);
      }
    }
    const distinct = new Set(present);
    const lostIds = acks.filter((a) => !distinct.has(a.id));
    const c = await lc.waitSettled(120_000);
    const masters = Object.values(c.dbs).filter((d) => d.spec.role === "master").length;
    const rows: FaultRow[] = [];
    for (const f of o.faults) {
      const ws = windows.filter((w) => w.fault === f);
      // An acknowledged id belongs to the fault in whose window (since the previous fault ended) it was acknowledged.
      const inWindow = (a: Ack) => ws.some((w) => a.at <= w.to && a.at > (windows[windows.indexOf(w) - 1]?.to ?? 0));
      rows.push({
        fault: f,
        count: ws.length,
        acknowledged: acks.filter(inWindow).length,
        lost: lostIds.filter(inWindow).length,
        recoverMs: ws.map((w) => w.recoverMs),
      });
    }
    return { rows, acknowledged: acks.length, lost: lostIds.length, duplicates: present.length - distinct.size, masters };
  } finally {
    stop = true;
    await sql.end({ timeout: 1 }).catch(() => {});
    for (const fw of Object.values(relays)) {
      fw.stopListening();
      fw.cutAll();
    }
    await lc.stop();
  }
}

export function renderFaultTable(r: FaultReport): string {
  const fmt = (ms: number[]) => ms.map((x) => (Number.isNaN(x) ? "never" : `${(x / 1000).toFixed(1)}s`)).join(" ");
  return [
    "| fault | count | acknowledged | lost | time to recover |",
    "|---|---|---|---|---|",
    ...r.rows.map((x) => `| ${x.fault} | ${x.count} | ${x.acknowledged} | ${x.lost} | ${fmt(x.recoverMs)} |`),
    `| total | ${r.rows.reduce((n, x) => n + x.count, 0)} | ${r.acknowledged} | ${r.lost} | |`,
    "",
    `duplicate ids: ${r.duplicates}; masters at the end: ${r.masters}`,
  ].join("\n");
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const opt = (n: string) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : undefined);
  const faults = (opt("only")?.split(",") ?? [...FAULTS]) as Fault[];
  const bad = faults.filter((f) => !FAULTS.includes(f));
  if (bad.length) {
    console.error(`unknown fault(s) ${bad.join(", ")}; known: ${FAULTS.join(", ")}`);
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), "stolon-faults-"));
  const sync = args.includes("--sync");
  console.log(`fault injection: ${sync ? "synchronous" : "asynchronous"} replication, faults ${faults.join(", ")} x ${Number(opt("repeat") ?? 1)}`);
  try {
    const r = await runFaults({ dir, basePort: Number(opt("base-port") ?? 27430), sync, faults, repeat: Number(opt("repeat") ?? 1), log: (m) => console.log(`  ${m}`) });
    console.log(renderFaultTable(r));
    if (sync && r.lost > 0) process.exitCode = 1;
    if (r.duplicates > 0 || r.masters !== 1) process.exitCode = 1;
  } finally {
    if (args.includes("--keep")) console.log(`cluster dir kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
