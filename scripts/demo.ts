/**
 * `npm run demo`: a local cluster on 127.0.0.1 made of the project's own commands: one etcd, three
 * keepers, two sentinels and one proxy. It initializes the cluster and says, step by step, what it
 * waits for (etcd, the init, the keepers, a sentinel leader, a master, the standbys, the proxy) and
 * for how long; then prints how to use the cluster with bare commands and runs until Ctrl-C, which
 * stops everything.
 *
 * It writes <dir>/env.sh as soon as the ports are known: `. <dir>/env.sh` puts stolonctl on the
 * PATH with the cluster's flags and points psql at the proxy (scripts/demo-env.ts).
 *
 * When a component exits during start-up (a signal too) or the start-up outlasts --timeout, it
 * stops everything, names the component or the step, shows the last lines of the logs concerned
 * and exits 1 (130 after Ctrl-C during start-up; 0 after Ctrl-C once the cluster is ready).
 *
 * The demo dir (<tmp>/stolon-demo) is recreated at every run: processes left by an earlier run are
 * stopped and its data removed. The keepers run PostgreSQL as the "postgres" OS user when the demo
 * runs as root.
 *
 *   bun scripts/demo.ts [--base-port 25430] [--dir DIR] [--timeout 180] [--once]
 *
 * --timeout: seconds for the whole start-up. --once: stop everything and exit as soon as the
 * cluster is ready (for tests).
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import type { HealthReport } from "../src/lib/health.ts";
import { describeError } from "../src/lib/errors.ts";
import { shellWord as word, writeDemoEnv } from "./demo-env.ts";
import { DEMO_STEPS, type Observation, type StepCheck } from "./demo-steps.ts";
import { LocalCluster, SU_PASSWORD } from "./local-cluster.ts";

const args = process.argv.slice(2);
const argValue = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const dir = argValue("dir") ?? join(tmpdir(), "stolon-demo");
const timeoutS = Number(argValue("timeout") ?? 180);
const root = join(import.meta.dir, "..");
const LOG_LINES = 20;
const NOTE_EVERY_MS = 5000;

// consola's fancy reporter, also off a terminal: icons and one line per message, never cursor
// movements, so it reads the same in a CI log. `fancy` is an option of consola's node build; tsc
// resolves its browser types (moduleResolution bundler), which lack it.
// The level is set: consola's default hides info under a test runner (NODE_ENV=test).
const log = createConsola({ level: 3, formatOptions: { date: false }, ...({ fancy: true } as object) });
const lc = new LocalCluster({ dir, basePort: Number(argValue("base-port") ?? 25430), spec: { initMode: "new", usePgrewind: true }, log: (m) => log.info(m) });

/** A start-up that cannot go on: what happened, and whose logs tell why. */
class StartupFailure extends Error {
  constructor(
    message: string,
    readonly components: string[],
  ) {
    super(message);
  }
}

let stopRequested = false;
const stopSignal = new Promise<void>((resolve) => {
  const stop = () => {
    stopRequested = true;
    resolve();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
});

const started = Date.now();
const deadline = started + timeoutS * 1000;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const logPath = (name: string) => join(dir, "logs", `${name}.log`);


/** Throws when a component has exited (any exit: nothing may exit during start-up) or Ctrl-C came. */
function checkRunning(): void {
  if (stopRequested) throw new StartupFailure("interrupted during start-up", []);
  const dead = lc.started.flatMap((name) => {
    const e = lc.exitOf(name);
    return e ? [{ name, how: e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}` }] : [];
  });
  if (dead.length) throw new StartupFailure(`${dead.map((d) => `${d.name} ${d.how}`).join(", ")} during start-up`, dead.map((d) => d.name));
}

/**
 * Polls `check` until it says done: says what it waits for, "still waiting" every few seconds,
 * and the time it took; throws when a component exits or the start-up's deadline passes.
 */
async function waitStep(what: string, check: () => Promise<StepCheck>): Promise<void> {
  const t0 = Date.now();
  let nextNote = t0 + NOTE_EVERY_MS;
  let first = true;
  for (;;) {
    checkRunning();
    const c = await check();
    if (first && !c.done) log.start(`waiting for ${what}${c.detail ? ` (${c.detail.split(";")[0]})` : ""}`);
    first = false;
    if (c.done) return log.success(`${c.result} (${c.via ? `${c.via}, ` : ""}${secs(Date.now() - t0)})`);
    if (Date.now() >= deadline) {
      throw new StartupFailure(`timed out after ${timeoutS} s (--timeout, the whole start-up) waiting for ${what}: ${c.detail}`, c.concerned);
    }
    if (Date.now() >= nextNote) {
      log.info(`still waiting for ${what} (${Math.round((Date.now() - t0) / 1000)} s): ${c.detail}`);
      nextNote += NOTE_EVERY_MS;
    }
    await Bun.sleep(250);
  }
}

async function readyReport(name: string): Promise<HealthReport | null> {
  try {
    const r = await fetch(`${lc.adminUrl(name)}/ready`, { signal: AbortSignal.timeout(1000) });
    return (await r.json()) as HealthReport;
  } catch {
    return null;
  }
}

/** One look at the cluster for the steps (scripts/demo-steps.ts); what does not answer is left empty. */
async function observe(): Promise<Observation> {
  const names = Object.keys(lc.ports.metrics);
  const [cd, keepers, leaderUid, reports] = await Promise.all([
    lc.store.getClusterData().then((v) => v?.clusterData ?? null, () => null),
    lc.store.getKeepersInfo().then((l) => l.items, () => ({})),
    lc.leader().catch(() => null),
    Promise.all(names.map(readyReport)),
  ]);
  return { cd, keepers, leaderUid, ready: Object.fromEntries(names.map((n, i) => [n, reports[i] ?? null])) };
}

function writeEnvFile(): string {
  return writeDemoEnv({
    dir,
    checkout: root,
    clusterName: lc.cluster,
    storeBackend: "etcdv3",
    storeEndpoints: lc.endpoint,
    pgHost: "127.0.0.1",
    pgPort: lc.ports.proxy,
    pgUser: "stolon",
    pgDatabase: "postgres",
    pgPassword: SU_PASSWORD,
  });
}

/** etcd, the init, the components, then every step of DEMO_STEPS in turn. */
async function startUp(): Promise<void> {
  if (!(timeoutS > 0)) throw new Error(`--timeout ${argValue("timeout")}: give a number of seconds above 0`);
  lc.cleanEarlierRun();
  lc.prepare();
  const env = writeEnvFile();
  log.info(`env file: ${env} (\`. ${word(env)}\` to follow the start-up with stolonctl status)`);
  lc.startEtcd();
  await waitStep("etcd", async () => ({ done: await lc.etcdUp(), result: `etcd up on ${lc.endpoint}`, detail: "its /health does not answer yet", concerned: ["etcd"] }));
  const t0 = Date.now();
  try {
    lc.init();
  } catch (err) {
    throw new StartupFailure(describeError(err), ["etcd"]);
  }
  log.success(`cluster initialized (stolonctl init, ${secs(Date.now() - t0)})`);
  lc.startComponents();
  log.info(`started ${lc.keeperNames.length} keepers, 2 sentinels and a proxy; logs in ${join(dir, "logs")}`);
  for (const step of DEMO_STEPS) await waitStep(step.what, async () => step.check(await observe(), lc.keeperNames));
  log.success(`all up in ${secs(Date.now() - started)}`);
}

async function printUsage(): Promise<void> {
  const cd = (await lc.store.getClusterData())?.clusterData;
  const masterKeeper = cd?.dbs[cd.cluster.status.master ?? ""]?.spec.keeperUID ?? "";
  const status = Bun.spawnSync([...lc.cmd("stolonctl", []), "status"], { stdout: "pipe", stderr: "pipe" });
  const pids = [lc.pid(masterKeeper), lc.postmasterPid(masterKeeper)].filter((p) => !!p);
  console.log(`
The cluster is ready: master on ${masterKeeper}, two streaming standbys, a proxy on 127.0.0.1:${lc.ports.proxy}.

${status.stdout.toString().trim()}

In another shell, load the demo's environment (stolonctl on the PATH with this cluster's flags, psql to the proxy):
  . ${word(join(dir, "env.sh"))}
then:
  stolonctl status
  psql
  psql -c 'select inet_server_port(), pg_is_in_recovery()'
  stolonctl failkeeper ${masterKeeper}
  kill -9 ${pids.join(" ")}
psql goes through the proxy to the master. failkeeper marks the master's keeper failed: a standby takes over at once
("stolonctl switchover --wait" is the planned master change, which drains clients and loses no write).
kill -9 is a crash of the master (its keeper and its PostgreSQL): a standby takes over within seconds.

Without the env file, from the checkout (${word(root)}):
  npx stolonctl ${lc.common.map(word).join(" ")} status

Logs: ${join(dir, "logs")}. Ctrl-C stops everything; the next run recreates ${dir}.`);
}

/**
 * The failure; then, once everything is stopped (so that the logs are complete, up to each
 * component's shutdown), the last lines of the logs concerned.
 */
async function reportFailure(err: unknown): Promise<void> {
  if (stopRequested) log.info("interrupted during start-up; stopping everything");
  else log.error(`${describeError(err)}; stopping everything`);
  await lc.stop();
  if (stopRequested || !(err instanceof StartupFailure)) return;
  for (const name of new Set(err.components)) {
    const tail = lc.logTail(name, LOG_LINES);
    console.error(`--- ${name}: the last ${tail.length} lines of ${logPath(name)} ---`);
    console.error(tail.length ? tail.join("\n") : "(nothing logged)");
  }
}

let code = 0;
try {
  await startUp();
  await printUsage();
  if (!args.includes("--once")) {
    await stopSignal;
    console.log("");
    log.info("stopping ...");
  }
} catch (err) {
  await reportFailure(err);
  code = stopRequested ? 130 : 1;
} finally {
  await lc.stop();
  log.info(`stopped; data left in ${dir} (removed at the next run)`);
}
process.exit(code);
