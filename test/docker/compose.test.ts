/**
 * The docker compose demo cluster, for real: on an engine of the test's own (test/docker/engine.ts),
 * debian:12-slim made with mmdebstrap, the images built from docker/*.Dockerfile, then the story of
 * docker/README.md with Debian's docker-compose: up -> a master and two streaming standbys ->
 * psql through the proxy on 127.0.0.1:25432 -> the master's keeper container killed -> a standby
 * promoted and writes through the proxy resume (timed) -> the killed keeper started again rejoins
 * as a standby -> down -v --rmi all, and every container, network, volume and image is gone.
 *
 * Needs root (it runs dockerd). In CI (CI set) anything missing is a failure; elsewhere, not
 * being root skips it with a message. Prints its figures: base image, build, start-up, failover.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { waitFor } from "../harness/util.ts";
import { DockerEngine, ensureBaseImage, isRoot, localCaCerts, run, runOk } from "./engine.ts";

const repo = join(import.meta.dir, "../..");
const composeFile = join(repo, "docker/docker-compose.yml");
const PROJECT = "stolonbuntest";
const PROXY_PORT = 25432;
const SU_PASSWORD = readFileSync(join(repo, "docker/secrets/pg_su_password"), "utf8").trim();
const CTL = ["stolonctl", "--cluster-name=demo", "--store-backend=etcdv3", "--store-endpoints=http://etcd:2379"];

const canRun = isRoot();
if (!canRun) {
  console.log("docker compose test: NOT RUN: it starts its own dockerd and needs root");
  if (process.env.CI) test("the docker compose test runs (needs root in CI)", () => expect(isRoot()).toBe(true));
}

const figures: string[] = [];
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Status {
  keepers: { uid: string; healthy: boolean; pgHealthy: boolean; role: string | null; wantedGeneration: number | null; currentGeneration: number | null }[];
  cluster: { masterKeeper: string | null; phase: string } | null;
}

/** One connection through the proxy, every setting explicit (the client otherwise reads PG* env). */
async function throughProxy<T>(f: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres({ host: "127.0.0.1", port: PROXY_PORT, user: "stolon", password: SU_PASSWORD, database: "postgres", max: 1, connect_timeout: 2, idle_timeout: 1, ssl: false, onnotice: () => {} });
  try {
    return await f(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

describe.skipIf(!canRun)("docker compose demo cluster in containers", () => {
  let engine: DockerEngine | undefined;
  let workDir = "";
  const compose = (args: string[], timeoutMs = 120_000) => run(["docker-compose", "-f", composeFile, "-p", PROJECT, ...args], { env: engine!.env, timeoutMs, cwd: repo });
  const composeOk = async (args: string[], timeoutMs = 120_000) => {
    const r = await compose(args, timeoutMs);
    if (r.code !== 0) throw new Error(`docker-compose ${args.join(" ")} exited with ${r.code}:\n${(r.stdout + r.stderr).slice(-3000)}`);
    return r;
  };
  const status = async (): Promise<Status> => JSON.parse((await composeOk(["exec", "-T", "sentinel1", ...CTL, "status", "-f", "json"], 30_000)).stdout) as Status;

  /** A master and two healthy, converged standbys in the cluster view, and two streaming in pg_stat_replication. */
  const settled = async (): Promise<string | undefined> => {
    const st = await status();
    const master = st.cluster?.masterKeeper;
    const converged = (k: Status["keepers"][number]) => k.healthy && k.pgHealthy && k.currentGeneration === k.wantedGeneration;
    const standbys = st.keepers.filter((k) => k.role === "standby" && converged(k));
    if (!master || !st.keepers.some((k) => k.uid === master && k.role === "master" && converged(k)) || standbys.length < 2) return undefined;
    const streaming = await throughProxy((sql) => sql`select count(*)::int as n from pg_stat_replication where state = 'streaming'`);
    return streaming[0]!.n >= 2 ? master : undefined;
  };

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "stolon-docker-"));
    const t0 = performance.now();
    engine = await DockerEngine.start(join(workDir, "engine"));
    figures.push(`dockerd up in ${seconds(performance.now() - t0)}`);
    // STOLON_DOCKER_CACHE=<dir> keeps the mmdebstrap tarball between runs (default: made each run).
    const base = await ensureBaseImage(engine, workDir, process.env.STOLON_DOCKER_CACHE || undefined);
    if (base.created) figures.push(`debian:12-slim made in ${seconds(base.mmdebstrapMs + base.importMs)} (mmdebstrap ${seconds(base.mmdebstrapMs)}, docker import ${seconds(base.importMs)})`);
    const t1 = performance.now();
    const ca = localCaCerts();
    await composeOk(["build", ...(ca ? ["--build-arg", `EXTRA_CA_CERTS=${ca}`] : [])], 480_000);
    figures.push(`images built (stolon, etcd, prometheus) in ${seconds(performance.now() - t1)}`);
  }, 600_000);

  afterAll(async () => {
    if (!engine) {
      if (workDir) await run(["rm", "-rf", workDir]);
      return;
    }
    try {
      await compose(["down", "-v", "--rmi", "all", "--remove-orphans"], 120_000);
      await engine.docker(["image", "prune", "-af"]);
      await engine.docker(["rmi", "-f", "debian:12-slim"]);
    } finally {
      await engine.stop();
      await run(["rm", "-rf", workDir]);
      console.log(`\ndocker compose test figures:\n${figures.map((f) => `  ${f}`).join("\n")}`);
    }
  }, 180_000);

  let master = "";
  let oldMaster = "";

  test("up: a master and two streaming standbys; stolonctl status answers in a container; psql through the proxy", async () => {
    const t0 = performance.now();
    await composeOk(["up", "-d"], 180_000);
    master = await waitFor("a master and two streaming standbys", settled, 180_000, 1000);
    figures.push(`up -d to a settled cluster (master ${master}, two streaming standbys) in ${seconds(performance.now() - t0)}`);
    const text = (await composeOk(["exec", "-T", "sentinel1", ...CTL, "status"])).stdout;
    expect(text).toContain(`Master Keeper: ${master}`);
    // The host's psql, when there is one, as a user would type it.
    const psql = Bun.which("psql") ?? (Bun.which("psql", { PATH: "/usr/lib/postgresql/15/bin" }) || null);
    if (psql) {
      const r = await runOk([psql, "-XAtc", "select 40 + 2", `host=127.0.0.1 port=${PROXY_PORT} user=stolon dbname=postgres connect_timeout=5`], { env: { PGPASSWORD: SU_PASSWORD } });
      expect(r.stdout.trim()).toBe("42");
    }
    await throughProxy((sql) => sql`create table demo_rows (id serial primary key, at timestamptz default now())`);
    await throughProxy((sql) => sql`insert into demo_rows default values`);
  }, 400_000);

  test("docker-compose kill of the master's keeper: a standby is promoted and writes through the proxy resume", async () => {
    expect(master).not.toBe("");
    // The row written before is on the standbys before the kill (asynchronous replication).
    await waitFor(
      "the standbys to replay the last write",
      () => throughProxy(async (sql) => ((await sql`select count(*)::int as n from pg_stat_replication where replay_lsn = pg_current_wal_lsn()`)[0]!.n >= 2 ? true : undefined)),
      30_000,
      1000,
    );
    const t0 = performance.now();
    await composeOk(["kill", master]);
    const killedMs = performance.now() - t0;
    await waitFor("a write through the proxy", () => throughProxy(async (sql) => ((await sql`insert into demo_rows default values returning id`).length === 1 ? true : undefined)), 120_000, 200);
    const resumedMs = performance.now() - t0;
    const st = await status();
    const newMaster = st.cluster?.masterKeeper;
    expect(newMaster).toBeDefined();
    expect(newMaster).not.toBe(master);
    const rows = await throughProxy((sql) => sql`select count(*)::int as n from demo_rows`);
    expect(rows[0]!.n).toBe(2);
    figures.push(`failover: writes through the proxy resumed ${seconds(resumedMs)} after "docker-compose kill ${master}" (the kill itself took ${seconds(killedMs)}); new master ${newMaster}`);
    // restart: unless-stopped does not bring back a killed container by itself.
    const ps = await composeOk(["ps", "-q", master]);
    const state = (await engine!.docker(["inspect", "-f", "{{.State.Running}}", ps.stdout.trim()])).stdout.trim();
    expect(state).toBe("false");
    oldMaster = master;
    master = newMaster!;
  }, 200_000);

  test("the killed keeper started again rejoins as a standby", async () => {
    expect(oldMaster).not.toBe("");
    const t0 = performance.now();
    await composeOk(["start", oldMaster]);
    const m = await waitFor("the cluster to settle again with three keepers", settled, 180_000, 1000).catch(async (e) => {
      const st = await compose(["exec", "-T", "sentinel1", ...CTL, "status"]);
      const logs = await compose(["logs", "--no-color", "--tail=60", oldMaster, master]);
      throw new Error(`${String(e)}\n${st.stdout}\n${logs.stdout.slice(-8000)}`);
    });
    expect(m).toBe(master);
    figures.push(`the old master's keeper rejoined as a streaming standby ${seconds(performance.now() - t0)} after "docker-compose start"`);
  }, 200_000);

  test("down -v and --rmi all leave no container, network, volume or image of the project", async () => {
    const t0 = performance.now();
    await composeOk(["stop"], 120_000);
    const stopMs = performance.now() - t0;
    // A daemon that does not exit on SIGTERM within its grace period is killed (exit 137).
    const states = (await engine!.docker(["ps", "-a", "--filter", `label=com.docker.compose.project=${PROJECT}`, "--format", "{{.Names}}: {{.Status}}"])).stdout.trim().split("\n");
    figures.push(`stop in ${seconds(stopMs)}: ${states.join("; ")}`);
    await composeOk(["down", "-v", "--remove-orphans"], 120_000);
    const t1 = performance.now();
    await composeOk(["down", "--rmi", "all"], 120_000);
    figures.push(`stop and down -v in ${seconds(t1 - t0)}, then --rmi all in ${seconds(performance.now() - t1)}`);
    const left = async (args: string[]) => (await engine!.docker(args)).stdout.trim();
    expect(await left(["ps", "-aq", "--filter", `label=com.docker.compose.project=${PROJECT}`])).toBe("");
    expect(await left(["network", "ls", "-q", "--filter", `label=com.docker.compose.project=${PROJECT}`])).toBe("");
    expect(await left(["volume", "ls", "-q", "--filter", `label=com.docker.compose.project=${PROJECT}`])).toBe("");
    expect(await left(["images", "-q", "--filter", "reference=stolon-bun*"])).toBe("");
  }, 180_000);
});
