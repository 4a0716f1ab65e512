/**
 * Switchover benchmark: a local cluster of 3 keepers, 2 sentinels and a proxy, and two clients
 * writing through the proxy, one row per transaction:
 *  - client A on one pooled connection (porsager postgres, max 1), as an application pool does;
 *  - client B opening a new connection for every transaction, as a short-lived job does.
 * Each run asks for `stolonctl switchover --wait` and measures, by the server each row landed on
 * (inet_server_port()):
 *  - the write gap: the last write acknowledged by the old master to the first one acknowledged
 *    by the new master (both clients);
 *  - client errors of A and of B during the run (a held connection is not an error; a refused or
 *    cut one is);
 *  - acknowledged writes lost: acknowledged ids missing from the new master after the run;
 *  - full copies: pg_basebackup runs the keepers logged during the run (and pg_rewind runs);
 * then the same for `stolonctl failkeeper` of the master, side by side.
 *
 *   npm run bench:switchover -- [--runs 20] [--failkeeper N (default 5)] [--sync] [--think-ms 0] [--base-port 26530] [--keep]
 *
 * --think-ms makes client A pause that long after each acknowledged write (default 0: its next
 * write goes out the instant the last one is answered, so the proxy's close of the drained
 * connection at that idle point races with it). --sync runs the cluster with synchronousReplication. --keep leaves the cluster's dir (logs
 * included) in place and prints where it is. Figures, never assertions: see the README.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalCluster, SU_PASSWORD } from "../scripts/local-cluster.ts";
import { connectTo, presentIds, ROW_TABLE_DDL, RowWriter, writeGap } from "../scripts/row-writers.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name}: "${args[i + 1] ?? ""}" is not a whole number`);
  return v;
};
const RUNS = opt("runs", 20);
const FAILKEEPER_RUNS = opt("failkeeper", 5);
const SYNC = args.includes("--sync");
/** A pause after each write of client A (0: back to back, the worst case for a drain). */
const THINK_MS = opt("think-ms", 0);
const dir = mkdtempSync(join(tmpdir(), "stolon-switchover-"));
const lc = new LocalCluster({
  dir,
  basePort: opt("base-port", 26530),
  spec: { initMode: "new", usePgrewind: true, synchronousReplication: SYNC },
  log: (m) => console.log(`  ${m}`),
});

interface RunFigures {
  gapMs: number;
  errorsA: number;
  errorsB: number;
  lost: number;
  basebackups: number;
  rewinds: number;
  /** Times a master fenced itself for not renewing its info (a loaded machine): its clients get errors then. */
  fences: number;
  ok: boolean;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0] ?? NaN, median: s[Math.floor(s.length / 2)] ?? NaN, max: s.at(-1) ?? NaN };
};
const fmtMs = (ms: number) => `${Math.round(ms)} ms`;

const target = { port: lc.ports.proxy, password: SU_PASSWORD };

const count = (text: string, needle: string) => text.split(needle).length - 1;
/** How many times the keepers logged `needle` so far (logs only grow). */
const logged = (needle: string) => lc.keeperNames.reduce((n, k) => n + count(lc.logOf(k), needle), 0);

async function waitFor<T>(what: string | (() => string), timeoutMs: number, f: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`${typeof what === "string" ? what : what()}: not within ${timeoutMs / 1000} s`);
    await Bun.sleep(20);
  }
}

/** `f` again until it answers (a master fenced for a moment refuses connections), for at most a minute. */
async function retrying<T>(what: string, f: () => Promise<T>): Promise<T> {
  let last: unknown;
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    try {
      return await f();
    } catch (err) {
      last = err;
      await Bun.sleep(200);
    }
  }
  throw new Error(`${what}: ${last instanceof Error ? last.message : String(last)}`);
}

/** Acknowledged ids found missing after an earlier run (each is counted once, in the run that lost it). */
const lostSoFar = new Set<number>();

/** What a stalled client was doing, and the TCP connections at the proxy's port (ss), for the error. */
function stallDetails(clients: RowWriter[]): string {
  const now = performance.now();
  const writes = clients.map((c) => `client ${c.name}: ${c.inFlight ? `write ${c.inFlight.id} waiting for ${Math.round(now - c.inFlight.since)} ms` : "no write in flight"}`);
  const ss = Bun.spawnSync(["ss", "-tnpoi", "state", "all", `( sport = :${lc.ports.proxy} or dport = :${lc.ports.proxy} )`], { stdout: "pipe", stderr: "pipe" });
  return `\n${writes.join("\n")}\nTCP at the proxy's port ${lc.ports.proxy}:\n${ss.stdout.toString()}${ss.stderr.toString()}`;
}

/** One master change by `how`; the figures of the run. */
async function run(how: "switchover" | "failkeeper", clients: RowWriter[]): Promise<RunFigures> {
  const cd = await lc.waitSettled(180_000);
  const master = cd.dbs[cd.cluster.status.master!]!;
  const oldPort = Number(master.status.port);
  // Both clients writing on the master before the change.
  const since = performance.now();
  await waitFor(
    () => `writes before the run (no write acknowledged for ${clients.filter((c) => !c.acks.some((a) => a.at > since)).map((c) => `client ${c.name}, ${c.errors} errors so far`).join("; ")})${stallDetails(clients)}`,
    30_000,
    () => (clients.every((c) => c.acks.some((a) => a.at > since)) ? true : undefined),
  );
  const errors0 = clients.map((c) => c.errors);
  const backups0 = logged("pg_basebackup from ");
  const rewinds0 = logged("pg_rewind from ");
  const fences0 = logged("fencing the master");
  const t0 = performance.now();
  const argv =
    how === "switchover"
      ? [...lc.cmd("stolonctl", []), "switchover", "--wait"]
      : [...lc.cmd("stolonctl", []), "failkeeper", master.spec.keeperUID];
  const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) console.log(`  ${how} exited ${code}: ${(out + err).trim().split("\n").slice(-3).join(" | ")}`);
  const all = () => clients.flatMap((c) => c.acks);
  const gap = await waitFor("a write acknowledged by the new master", 120_000, () => writeGap(all(), oldPort, t0) ?? undefined);
  // The old master back as a standby before the next run (and before counting copies).
  await lc.waitSettled(180_000);
  // Only writes acknowledged before the read starts are surely visible to it.
  const readAt = performance.now();
  const present = await retrying("reading the rows", () => presentIds(target));
  let lost = 0;
  const where: string[] = [];
  for (const c of clients)
    for (const a of c.acks)
      if (a.at < readAt && !present.has(a.id) && !lostSoFar.has(a.id)) {
        lostSoFar.add(a.id);
        lost++;
        if (where.length < 5) where.push(`${c.name} id ${a.id} on port ${a.port} at ${Math.round(a.at - t0)} ms`);
      }
  // Which writes, where and when (from the command's start): to tell a real loss from a race in the bench.
  if (lost > 0) console.log(`  lost: ${where.join("; ")} (old master port ${oldPort}, new master acked first at ${Math.round(gap.first.at - t0)} ms)`);
  return {
    gapMs: gap.gapMs,
    errorsA: clients[0]!.errors - errors0[0]!,
    errorsB: clients[1]!.errors - errors0[1]!,
    lost,
    basebackups: logged("pg_basebackup from ") - backups0,
    rewinds: logged("pg_rewind from ") - rewinds0,
    fences: logged("fencing the master") - fences0,
    ok: code === 0,
  };
}

function summary(name: string, rs: RunFigures[]): string[] {
  if (rs.length === 0) return [];
  const g = stats(rs.map((r) => r.gapMs));
  const sum = (f: (r: RunFigures) => number) => rs.reduce((n, r) => n + f(r), 0);
  return [
    `${name} (${rs.length} runs${rs.some((r) => !r.ok) ? `, ${rs.filter((r) => !r.ok).length} not ok` : ""}):`,
    `  write gap: min ${fmtMs(g.min)}, median ${fmtMs(g.median)}, max ${fmtMs(g.max)}`,
    `  client errors: A (pooled) ${sum((r) => r.errorsA)}, B (connection per transaction) ${sum((r) => r.errorsB)}`,
    `  acknowledged writes lost: ${sum((r) => r.lost)}`,
    `  full copies (pg_basebackup): ${sum((r) => r.basebackups)}; pg_rewind runs: ${sum((r) => r.rewinds)}`,
    `  fences of a master that could not renew its info in time (machine load): ${sum((r) => r.fences)}`,
  ];
}

async function main(): Promise<void> {
  const command = `npm run bench:switchover -- ${args.join(" ")}`.trim();
  console.log(`switchover benchmark: ${RUNS} switchover runs, ${FAILKEEPER_RUNS} failkeeper runs, ${SYNC ? "synchronous" : "asynchronous"} replication, client A pausing ${THINK_MS} ms between writes (Bun ${Bun.version})`);
  await lc.start();
  await lc.waitSettled(180_000);
  await retrying("creating the table", async () => {
    const setup = connectTo(target);
    try {
      await setup.unsafe(ROW_TABLE_DDL);
    } finally {
      await setup.end({ timeout: 1 });
    }
  });
  const clients = [new RowWriter("A", "pooled", target, THINK_MS), new RowWriter("B", "per-transaction", target)];
  for (const c of clients) c.start();
  const results: Record<"switchover" | "failkeeper", RunFigures[]> = { switchover: [], failkeeper: [] };
  const plan: ("switchover" | "failkeeper")[] = [...Array(RUNS).fill("switchover"), ...Array(FAILKEEPER_RUNS).fill("failkeeper")];
  for (const how of plan) {
    const r = await run(how, clients);
    results[how].push(r);
    console.log(
      `${how} ${results[how].length}: gap ${fmtMs(r.gapMs)}, errors A ${r.errorsA} B ${r.errorsB}, lost ${r.lost}, pg_basebackup ${r.basebackups}, pg_rewind ${r.rewinds}${r.fences ? `, master fenced ${r.fences} time(s) (no info renewed in time)` : ""}${r.ok ? "" : " (command failed)"}`,
    );
  }
  for (const c of clients) await c.stop();
  // The final check, over every write acknowledged in the whole benchmark.
  const present = await retrying("reading the rows", () => presentIds(target));
  const missing = clients.flatMap((c) => c.acks).filter((a) => !present.has(a.id)).length;
  console.log(["", ...summary("stolonctl switchover --wait", results.switchover), ...summary("stolonctl failkeeper <master>", results.failkeeper)].join("\n"));
  for (const c of clients) if (c.errorSamples.length) console.log(`client ${c.name} errors, first ones: ${c.errorSamples.join(" | ")}`);
  console.log(`writes acknowledged: A ${clients[0]!.acks.length}, B ${clients[1]!.acks.length}; missing from the master at the end: ${missing}`);
  console.log(`command: ${command}`);
}

try {
  await main();
} finally {
  await lc.stop();
  if (args.includes("--keep")) console.log(`cluster dir kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
