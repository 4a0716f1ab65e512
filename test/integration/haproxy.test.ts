/**
 * The HAProxy story: the pattern Patroni made common, with stolon's keepers as the health source.
 * A real haproxy in TCP mode sends every connection to the keeper whose admin listener answers
 * GET /primary with 200. Writes go through it continuously while the master keeper and its
 * PostgreSQL are SIGKILLed: they resume on the new master, none lands on the old one, and the old
 * master, restarted as a standby, is never marked up, nor the new master marked down meanwhile.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type postgres from "postgres";
import { SU_PASSWORD } from "../../scripts/local-cluster.ts";
import { clusterForFile } from "./harness/cluster.ts";
import { findBinary, own } from "./harness/process.ts";
import { waitFor } from "../harness/util.ts";
import { superuserSql } from "./harness/sql.ts";

const { lc, sqlTo, portOf } = clusterForFile("haproxy", { ports: [11000, 14000], spec: { initMode: "new", usePgrewind: true } });

// Two ports of the cluster's window of 40 that LocalCluster leaves unused.
const haproxyPort = lc.o.basePort + 36;
const statsPort = lc.o.basePort + 37;

function haproxyConfig(): string {
  const servers = lc.keeperNames.map((k) => `  server ${k} 127.0.0.1:${portOf(k)} check port ${lc.ports.metrics[k]}`);
  return [
    "global",
    "  maxconn 200",
    "defaults",
    "  mode tcp",
    "  timeout connect 2s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  timeout check 1s",
    "frontend pg",
    `  bind 127.0.0.1:${haproxyPort}`,
    "  default_backend masters",
    "backend masters",
    "  option httpchk GET /primary",
    "  http-check expect status 200",
    // A master that stops answering 200 is down after two checks (~400 ms); its sessions are cut,
    // so a client on it reconnects (to the new master) instead of hanging on.
    "  default-server inter 200ms fall 2 rise 1 on-marked-down shutdown-sessions",
    ...servers,
    "listen stats",
    "  mode http",
    `  bind 127.0.0.1:${statsPort}`,
    "  stats enable",
    "  stats uri /stats",
    "",
  ].join("\n");
}

let haproxy: Subprocess | null = null;
afterAll(async () => {
  if (!haproxy) return;
  haproxy.kill("SIGTERM");
  const t = setTimeout(() => haproxy?.kill("SIGKILL"), 5000);
  await haproxy.exited;
  clearTimeout(t);
});

/** Starts haproxy in the foreground (-db), owned by this file; its config and log in the test dir. */
function startHaproxy(): void {
  const bin = findBinary("haproxy", ["/usr/sbin"]);
  const dir = join(lc.o.dir, "haproxy");
  mkdirSync(dir, { recursive: true });
  const cfg = join(dir, "haproxy.cfg");
  writeFileSync(cfg, haproxyConfig());
  const check = Bun.spawnSync([bin, "-c", "-f", cfg], { stdout: "pipe", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`haproxy -c refused ${cfg}: ${check.stderr.toString()}${check.stdout.toString()}`);
  const log = Bun.file(join(dir, "haproxy.log"));
  haproxy = Bun.spawn([bin, "-db", "-f", cfg], { stdin: "ignore", stdout: log, stderr: log });
  own(haproxy);
}

/**
 * Each backend server's state as haproxy's stats page says it (UP, DOWN, ...), by keeper; with
 * `withCheck`, followed by its last check's result (check_status, check_code, last_chk).
 */
async function serverStates(withCheck = false): Promise<Record<string, string>> {
  const csv = await (await fetch(`http://127.0.0.1:${statsPort}/stats;csv`, { signal: AbortSignal.timeout(2000) })).text();
  const [head, ...lines] = csv.trim().split("\n");
  const cols = (head ?? "").replace(/^# /, "").split(",");
  const [px, sv, st] = [cols.indexOf("pxname"), cols.indexOf("svname"), cols.indexOf("status")];
  const check = ["check_status", "check_code", "last_chk"].map((c) => cols.indexOf(c));
  const out: Record<string, string> = {};
  for (const l of lines) {
    const f = l.split(",");
    if (f[px] !== "masters" || !lc.keeperNames.includes(f[sv] ?? "")) continue;
    out[f[sv]!] = (f[st] ?? "") + (withCheck ? ` (last check: ${check.map((i) => f[i] ?? "").join(" ")})` : "");
  }
  return out;
}

/** Waits until haproxy marks `keeper` up and every other keeper down; a timeout names what it saw. */
async function waitOnlyUp(keeper: string, timeoutMs: number): Promise<void> {
  const want = JSON.stringify(Object.fromEntries(lc.keeperNames.map((n) => [n, n === keeper ? "UP" : "DOWN"])));
  let last = "nothing yet";
  try {
    await waitFor(`haproxy marks only ${keeper} up`, async () => (last = JSON.stringify(await serverStates())) === want, timeoutMs, 100);
  } catch (err) {
    throw new Error(`${String(err)}; haproxy last said ${last}; see ${join(lc.o.dir, "haproxy", "haproxy.log")}`);
  }
}

interface Ack {
  id: number;
  /** The PostgreSQL port that committed it (inet_server_port()): which keeper's PostgreSQL. */
  port: number;
  startedAt: number;
  ackedAt: number;
}

/**
 * Writes one row at a time through haproxy until `stop` (or a bound on rows and time), one
 * connection reused until it fails; every acknowledged write records the server that committed it.
 */
class Writer {
  readonly acks: Ack[] = [];
  errors = 0;
  private stopped = false;
  private nextId = 1;
  readonly done: Promise<void>;

  constructor(maxRows: number, maxMs: number) {
    this.done = this.run(maxRows, Date.now() + maxMs);
  }

  private client(): postgres.Sql {
    return superuserSql(haproxyPort, SU_PASSWORD, { connect_timeout: 2 });
  }

  private async run(maxRows: number, deadline: number): Promise<void> {
    let sql = this.client();
    while (!this.stopped && this.acks.length < maxRows && Date.now() < deadline) {
      const id = this.nextId++;
      const startedAt = Date.now();
      let timer: Timer | undefined;
      try {
        const write = sql`insert into h (id) values (${id}) returning inet_server_port() as port`;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("write timed out")), 3000);
        });
        const rows = await Promise.race([write, timeout]);
        this.acks.push({ id, port: Number(rows[0]!.port), startedAt, ackedAt: Date.now() });
        // Paced: the machine is shared, and 200 writes a second time the failover well enough.
        await Bun.sleep(5);
      } catch {
        this.errors++;
        void sql.end({ timeout: 0 }).catch(() => {});
        sql = this.client();
        await Bun.sleep(20);
      } finally {
        clearTimeout(timer);
      }
    }
    await sql.end({ timeout: 1 }).catch(() => {});
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  on(port: number): Ack[] {
    return this.acks.filter((a) => a.port === port);
  }
}

describe("HAProxy in front of the keepers' /primary", () => {
  test("SIGKILL of the master keeper and its postgres: writes through haproxy resume on the new master, none lands on the old one, and the old master rejoining as a standby is never marked up", async () => {
    const cd = await lc.waitSettled(90_000);
    const old = cd.dbs[cd.cluster.status.master!]!.spec.keeperUID;
    const oldPort = portOf(old);
    const q = sqlTo(oldPort);
    await q`create table h (id bigint primary key)`;
    await q.end({ timeout: 1 });

    startHaproxy();
    // haproxy starts every server up until its checks say otherwise.
    await waitOnlyUp(old, 20_000);

    const w = new Writer(200_000, 150_000);
    try {
      await waitFor("50 writes through haproxy", () => w.acks.length >= 50, 20_000, 20);
      const killStart = Date.now();
      await lc.crashKeeper(old);
      const killed = Date.now();

      const first = await waitFor("a write through haproxy on a new master", () => w.acks.find((a) => a.startedAt >= killStart && a.port !== oldPort), 60_000, 10);
      const newKeeper = lc.keeperNames.find((k) => portOf(k) === first.port)!;
      console.log(`haproxy: ${first.ackedAt - killStart} ms from SIGKILL of ${old} to the first write through haproxy on ${newKeeper} (${w.errors} failed writes meanwhile)`);
      await waitOnlyUp(newKeeper, 20_000);
      await waitFor("50 writes on the new master", () => w.on(first.port).length >= 50, 20_000, 20);

      // The old master comes back (pg_rewind, then a standby of the new master); haproxy is asked
      // all along and must never mark it up.
      lc.startKeeper(old);
      const seen = new Set<string>();
      /** The new master's states in haproxy, each with its last check's result when not plainly UP. */
      const seenNew = new Set<string>();
      /** The new master's own /primary, asked directly as often as haproxy's states: every answer but 200. */
      const notPrimary = new Set<string>();
      let rejoined = 0;
      const sampling = (async () => {
        const until = () => w.acks.length > 0 && rejoined !== 0 && Date.now() > rejoined + 3000;
        while (!until()) {
          const s = await serverStates(true).catch(() => null);
          if (s) {
            seen.add(s[old] ?? "missing");
            const n = s[newKeeper] ?? "missing";
            seenNew.add(n.startsWith("UP (") ? "UP" : n);
          }
          const asked = Date.now();
          const p = await fetch(`${lc.adminUrl(newKeeper)}/primary`, { signal: AbortSignal.timeout(2000) }).catch((err: Error) => err);
          if (p instanceof Error) notPrimary.add(`no answer within ${Date.now() - asked} ms (${p.message})`);
          else if (p.status !== 200) notPrimary.add(`${p.status}: ${((await p.json().catch(() => ({}))) as { reason?: string }).reason}`);
          await Bun.sleep(50);
        }
      })();
      const settled = await lc.waitSettled(120_000);
      rejoined = Date.now();
      await sampling;
      expect({ master: settled.dbs[settled.cluster.status.master!]!.spec.keeperUID }).toEqual({ master: newKeeper });
      // Its keeper reports streaming a moment after the view settles.
      await waitFor(`${old} answers /replica 200`, async () => (await fetch(`${lc.adminUrl(old)}/replica`)).status === 200, 20_000, 100);
      expect([...seen].filter((s) => s.startsWith("UP"))).toEqual([]);
      console.log(`haproxy: the new master's states while the old one rejoined: ${[...seenNew].join("; ")}; its /primary said otherwise: ${[...notPrimary].join("; ") || "never"}`);
      // The new master stays the master throughout: its keeper never answers /primary 503, and
      // haproxy never marks it down (which would cut every session). A single check lost to a
      // slow answer on a loaded machine ("UP 1/2") cuts nothing, and is only printed above.
      expect({ refusals: [...notPrimary].filter((a) => !a.startsWith("no answer")) }).toEqual({ refusals: [] });
      expect({ newMasterStates: [...seenNew].filter((st) => !st.startsWith("UP")) }).toEqual({ newMasterStates: [] });
      await waitOnlyUp(newKeeper, 1000);
      const afterRejoin = w.acks.length;
      await waitFor("writes after the old master rejoined", () => w.acks.length >= afterRejoin + 50, 20_000, 20);
      await w.stop();

      // Before the kill, every write went to the old master; every write begun after it to the new one.
      expect(w.acks.filter((a) => a.ackedAt < killStart && a.port !== oldPort)).toEqual([]);
      const after = w.acks.filter((a) => a.startedAt >= killed);
      expect(after.filter((a) => a.port !== first.port)).toEqual([]);
      // And they are all there, on the new master.
      const n = sqlTo(first.port);
      try {
        const ids = after.map((a) => a.id);
        const [row] = await n.unsafe(`select count(*)::int as n from h where id = any('{${ids.join(",")}}'::bigint[])`);
        expect({ onNewMaster: row!.n }).toEqual({ onNewMaster: ids.length });
      } finally {
        await n.end({ timeout: 1 });
      }
    } finally {
      await w.stop();
    }
  }, 300_000);
});
