/**
 * The Forwarder's CPU, this checkout's ("new") against another checkout's ("old", e.g. the code
 * before a change), in one process on one PostgreSQL, alternating old/new run by run so both see
 * the same machine: pgbench -S (CPU per transaction), then psql pulling a large result of tiny
 * rows and one of wide rows (CPU per run). The CPU is this process's (the forwarders'), not
 * psql's or PostgreSQL's.
 *
 *   git worktree add /tmp/old <rev>  (or any checkout with node_modules)
 *   node_modules/.bin/bun bench/forwarder-ab.ts /tmp/old    (no bun on the PATH needed)
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Forwarder as New } from "../src/proxy/forwarder.ts";
import { createLogger } from "../src/lib/log.ts";
import { startStandalonePostgres, PG_BIN } from "../scripts/standalone-postgres.ts";

const base = process.argv[2];
if (!base) throw new Error("usage: node_modules/.bin/bun bench/forwarder-ab.ts <checkout of the old code>");
const { Forwarder: Old } = (await import(resolve(base, "src/proxy/forwarder.ts"))) as { Forwarder: typeof New };

const free = () => { const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }); const p = s.port; s.stop(true); return p; };
const root = mkdtempSync(join(tmpdir(), "fwd-ab-"));

chmodSync(root, 0o755);
const pgPort = free();
const pg = await startStandalonePostgres(join(root, "pg"), pgPort);
const log = createLogger("error");
const mk = (F: typeof New) => { const port = free(); const f = new F({ hostname: "127.0.0.1", port, holdMs: 2000, keepAliveIdleMs: 0, log }); f.listen(); f.setTarget({ dbUid: "d", host: "127.0.0.1", port: pgPort }); return { f, port }; };
const fw = { old: mk(Old), new: mk(New) };
const sqls: Record<string, string> = { tiny: "select generate_series(1, 2000000)", wide: "select i, repeat(md5(i::text), 30) from generate_series(1, 200000) i" };
async function run(port: number, sql: string) {
  const c0 = process.cpuUsage();
  const p = Bun.spawn([`${PG_BIN}/psql`, "-X", "-q", "-h", "127.0.0.1", "-p", String(port), "-U", "stolon", "-d", "postgres", "-c", sql], { stdout: "ignore", stderr: "inherit", env: { PATH: process.env.PATH ?? "" } });
  await p.exited;
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}
async function bench(port: number) {
  const c0 = process.cpuUsage();
  const p = Bun.spawn([`${PG_BIN}/pgbench`, "-n", "-S", "-M", "prepared", "-c", "8", "-T", "4", "-h", "127.0.0.1", "-p", String(port), "-U", "stolon", "postgres"], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "" } });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const c = process.cpuUsage(c0);
  const txns = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1]);
  return (c.user + c.system) / txns;
}
{
  const i = Bun.spawnSync([`${PG_BIN}/pgbench`, "-i", "-q", "-s", "2", "-h", "127.0.0.1", "-p", String(pgPort), "-U", "stolon", "postgres"], { env: { PATH: process.env.PATH ?? "" } });
  if (i.exitCode !== 0) throw new Error(i.stderr.toString());
  const r = { old: [] as number[], new: [] as number[] };
  for (let k = 0; k < 6; k++) for (const w of k % 2 === 0 ? (["old", "new"] as const) : (["new", "old"] as const)) r[w].push(await bench(fw[w].port));
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  console.log(`pgbench -S -M prepared -c 8: forwarder CPU µs per transaction, median of 6: old ${med(r.old).toFixed(2)}, new ${med(r.new).toFixed(2)} (${((med(r.new) / med(r.old) - 1) * 100).toFixed(1)}%); old ${r.old.map((x) => x.toFixed(1))}, new ${r.new.map((x) => x.toFixed(1))}`);
}
const res: Record<string, { old: number[]; new: number[] }> = {};
for (const kind of ["tiny", "wide"]) {
  res[kind] = { old: [], new: [] };
  for (let r = 0; r < 5; r++) {
    const order = r % 2 === 0 ? (["old", "new"] as const) : (["new", "old"] as const);
    for (const k of order) res[kind]![k].push(await run(fw[k].port, sqls[kind]!));
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
for (const [k, v] of Object.entries(res)) console.log(`${k}: forwarder CPU ms per run, median of 5: old ${med(v.old).toFixed(0)}, new ${med(v.new).toFixed(0)} (${(((med(v.new) / med(v.old)) - 1) * 100).toFixed(1)}%); old ${v.old.map((x) => x.toFixed(0))}, new ${v.new.map((x) => x.toFixed(0))}`);
fw.old.f.stopListening(); fw.old.f.cutAll(); fw.new.f.stopListening(); fw.new.f.cutAll();
await pg.stop();
rmSync(root, { recursive: true, force: true });
