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
 * Two masters: besides the workload through the proxy, a prober writes to every node directly
 * (as an ordinary role, the way a client that bypasses the proxy would), about 10 times a second,
 * and records which node acknowledged each write on which timeline. A write acknowledged on a
 * timeline after a write was acknowledged on a newer timeline, or one timeline written on two
 * nodes, means two masters took writes at the same time (see findTwoMasters).
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

const APP_USER = "app";
const APP_PASSWORD = "app-password";

export const FAULTS = ["kill-master", "stop-master", "partition-master", "kill-sentinel", "restart-etcd", "kill-proxy"] as const;
export type Fault = (typeof FAULTS)[number];

export interface FaultRow {
  fault: Fault;
  count: number;
  acknowledged: number;
  lost: number;
  recoverMs: number[];
  /** Direct writes acknowledged by a deposed master (see findTwoMasters) in this fault's windows. */
  twoMasters: number;
}

export interface FaultReport {
  rows: FaultRow[];
  acknowledged: number;
  lost: number;
  duplicates: number;
  masters: number;
  /** Direct writes acknowledged, on all nodes. */
  probes: number;
  /** Standbys copied again with pg_basebackup during the faults (pg_rewind is meant to do). */
  fullCopies: number;
  twoMasters: TwoMasters[];
}

/** A write acknowledged by a node when written to directly; start and end bracket its commit. */
export interface ProbeAck {
  node: string;
  timeline: number;
  start: number;
  end: number;
}

export interface TwoMasters {
  ack: ProbeAck;
  /** The write on a newer timeline (or on the same timeline, another node) that it conflicts with. */
  newer: ProbeAck;
}

/** pg_basebackup copies the keepers have logged so far. */
function fullCopies(lc: LocalCluster): number {
  return lc.keeperNames.reduce((n, k) => n + (lc.logOf(k).match(/copying it with pg_basebackup|copying the data with pg_basebackup instead/g)?.length ?? 0), 0);
}

/**
 * Writes that prove two masters took writes at once. Every promotion starts a new timeline, so
 * writes must move to ever newer timelines, each on one node:
 * - a write on timeline T whose request started after a write on a newer timeline was
 *   acknowledged: the old master committed it after the new one had taken writes;
 * - a timeline acknowledged writes on two nodes: two promotions from the same timeline.
 * Only definite cases count: a commit happens somewhere between the request's start and its end.
 */
export function findTwoMasters(acks: readonly ProbeAck[]): TwoMasters[] {
  const out: TwoMasters[] = [];
  const owner = new Map<number, ProbeAck>();
  for (const a of [...acks].sort((x, y) => x.end - y.end)) {
    const first = owner.get(a.timeline);
    if (!first) owner.set(a.timeline, a);
    else if (first.node !== a.node) {
      out.push({ ack: a, newer: first });
      continue;
    }
    let newer: ProbeAck | undefined;
    for (const [tl, f] of owner) if (tl > a.timeline && f.end < a.start && (!newer || f.end < newer.end)) newer = f;
    if (newer) out.push({ ack: a, newer });
  }
  return out;
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
  const probes: ProbeAck[] = [];
  const probeErrors = new Map<string, number>();
  let stop = false;
  const connect = (port: number, user: string, password: string) =>
    postgres({ host: "127.0.0.1", port, database: "postgres", username: user, password, max: 1, connect_timeout: 5, fetch_types: false, onnotice: () => {} });
  const su = connect(lc.ports.proxy, "stolon", SU_PASSWORD);
  const sql = connect(lc.ports.proxy, APP_USER, APP_PASSWORD);
  const direct = lc.keeperNames.map((node, i) => ({ node, sql: connect(lc.ports.pg[i]!, APP_USER, APP_PASSWORD) }));
  try {
    await lc.start();
    await lc.waitSettled(120_000);
    const fullCopiesAtStart = fullCopies(lc);
    await su.unsafe(`create role ${APP_USER} login password '${APP_PASSWORD}'`);
    await su`create table w (id bigint primary key)`;
    await su`create table p (id bigint primary key, node text not null)`;
    await su.unsafe(`grant select, insert on w, p to ${APP_USER}`);
    await su.end({ timeout: 1 });
    // Direct writes to every node; only a master can acknowledge one. No statement timeout: a
    // cancelled wait for a synchronous standby still commits (with a warning).
    let probeId = 0;
    const probers = direct.map(async ({ node, sql: d }) => {
      while (!stop) {
        const start = performance.now();
        try {
          const [r] = await d`insert into p values (${++probeId}, ${node}) returning pg_walfile_name(pg_current_wal_lsn()) as f`;
          probes.push({ node, timeline: parseInt(String(r!.f).slice(0, 8), 16), start, end: performance.now() });
        } catch (err) {
          // a standby, a fenced or stopped node: not a master
          const msg = `${node}: ${(err as Error).message}`;
          if (!probeErrors.has(msg)) log(`  direct write refused: ${msg}`);
          probeErrors.set(msg, (probeErrors.get(msg) ?? 0) + 1);
        }
        await Bun.sleep(100);
      }
    });
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
            // The keeper and every process of its server, with no backend forked in between
            // left running (LocalCluster.freeze): SIGSTOP of the postmaster alone would leave the
            // backends serving.
            const pids = lc.freeze(m);
            await Bun.sleep(8000);
            for (const pid of lc.thaw(pids)) log(`  process ${pid} of ${m} was gone after the freeze`);
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
        let resumed = 0;
        for (let i = 1; i < seen.length; i++) {
          if (seen[i]! - seen[i - 1]! > pause) [pause, resumed] = [seen[i]! - seen[i - 1]!, seen[i]!];
        }
        // Wall-clock times, to line up with the components' logs (--keep).
        const wall = (t: number) => new Date(Date.now() - (performance.now() - t)).toISOString();
        log(`  longest pause ${(pause / 1000).toFixed(1)}s, from ${wall(resumed - pause)} to ${wall(resumed)}`);
        windows.push({ fault, from, to, recoverMs: pause });
      }
    }
    stop = true;
    await writer;
    for (const { sql: d } of direct) await d.end({ timeout: 1 }).catch(() => {});
    await Promise.all(probers);
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
    for (const node of lc.keeperNames) {
      const mine = probes.filter((p) => p.node === node);
      log(`direct writes acknowledged by ${node}: ${mine.length}${mine.length ? ` on timelines ${[...new Set(mine.map((p) => p.timeline))].join(", ")}` : ""}`);
    }
    for (const [msg, n] of probeErrors) log(`direct writes refused, ${n}x: ${msg}`);
    const twoMasters = findTwoMasters(probes);
    const rows: FaultRow[] = [];
    for (const f of o.faults) {
      const ws = windows.filter((w) => w.fault === f);
      // An acknowledged id belongs to the fault in whose window (since the previous fault ended) it was acknowledged.
      const inWindow = (a: { at: number }) => ws.some((w) => a.at <= w.to && a.at > (windows[windows.indexOf(w) - 1]?.to ?? 0));
      rows.push({
        fault: f,
        count: ws.length,
        acknowledged: acks.filter(inWindow).length,
        lost: lostIds.filter(inWindow).length,
        recoverMs: ws.map((w) => w.recoverMs),
        twoMasters: twoMasters.filter((t) => inWindow({ at: t.ack.end })).length,
      });
    }
    return {
      rows,
      acknowledged: acks.length,
      lost: lostIds.length,
      duplicates: present.length - distinct.size,
      masters,
      probes: probes.length,
      twoMasters,
      fullCopies: fullCopies(lc) - fullCopiesAtStart,
    };
  } finally {
    stop = true;
    await sql.end({ timeout: 1 }).catch(() => {});
    await su.end({ timeout: 1 }).catch(() => {});
    for (const { sql: d } of direct) await d.end({ timeout: 1 }).catch(() => {});
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
    "| fault | count | acknowledged | lost | two masters | time to recover |",
    "|---|---|---|---|---|---|",
    ...r.rows.map((x) => `| ${x.fault} | ${x.count} | ${x.acknowledged} | ${x.lost} | ${x.twoMasters} | ${fmt(x.recoverMs)} |`),
    `| total | ${r.rows.reduce((n, x) => n + x.count, 0)} | ${r.acknowledged} | ${r.lost} | ${r.twoMasters.length} | |`,
    "",
    `duplicate ids: ${r.duplicates}; masters at the end: ${r.masters}; direct writes acknowledged: ${r.probes}; full copies (pg_basebackup) after the start: ${r.fullCopies}`,
    ...r.twoMasters.map(
      (t) =>
        `two masters: ${t.ack.node} acknowledged a write on timeline ${t.ack.timeline} ${((t.ack.start - t.newer.end) / 1000).toFixed(2)}s after ${t.newer.node} had acknowledged one on timeline ${t.newer.timeline}`,
    ),
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
    if (r.duplicates > 0 || r.masters !== 1 || (sync && r.twoMasters.length > 0)) process.exitCode = 1;
  } finally {
    if (args.includes("--keep")) console.log(`cluster dir kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
