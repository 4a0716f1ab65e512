/**
 * `npm run demo` as a user runs it: a master, two streaming standbys and a proxy, made of the
 * project's own commands. It says what it waits for, writes an env file, and every command it
 * prints works as written on a newcomer's PATH (freshEnv: no bun, no node_modules/.bin). When a
 * component dies during start-up, or the start-up outlasts --timeout, it names the component or
 * the step and shows the log lines concerned; nothing is left running in any case.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freeBasePort } from "../../scripts/local-cluster.ts";
import { processesMatching, waitFor } from "../harness/util.ts";
import { freshEnv } from "./harness/fresh-path.ts";
import { makeTestRoot, requirePostgres } from "./harness/keeper.ts";
import { own } from "./harness/process.ts";

requirePostgres();

const checkout = join(import.meta.dir, "../..");

interface Demo {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  dir: string;
  base: number;
  /** What it has written so far on stdout, on stderr, and on both in arrival order. */
  stdout: () => string;
  stderr: () => string;
  output: () => string;
  /** Its exit code once both streams are read to the end. */
  exited: Promise<number>;
}

function startDemo(name: string, extra: string[] = []): Demo {
  const dir = join(makeTestRoot(name), "demo");
  const base = freeBasePort(17000, 20000);
  const proc = Bun.spawn([process.execPath, join(checkout, "scripts/demo.ts"), "--base-port", String(base), "--dir", dir, ...extra], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  own(proc);
  const text = { out: "", err: "", all: "" };
  const pump = async (s: ReadableStream<Uint8Array>, key: "out" | "err") => {
    const dec = new TextDecoder();
    for await (const chunk of s) {
      const t = dec.decode(chunk, { stream: true });
      text[key] += t;
      text.all += t;
    }
  };
  const exited = Promise.all([pump(proc.stdout, "out"), pump(proc.stderr, "err"), proc.exited]).then(([, , code]) => code);
  return { proc, dir, base, stdout: () => text.out, stderr: () => text.err, output: () => text.all, exited };
}

interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `sh -c script` on a newcomer's PATH; throws, showing the script and what it wrote, unless it exits 0. */
async function sh(script: string, o: { cwd: string; stdin?: string }): Promise<ShResult> {
  const p = Bun.spawn(["sh", "-c", script], {
    cwd: o.cwd,
    env: freshEnv(),
    stdin: o.stdin === undefined ? "ignore" : new TextEncoder().encode(o.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`sh -c ${JSON.stringify(script)} exited ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
  return { code, stdout, stderr };
}

/** The commands the demo printed, as printed: the env line, those to run after it, those without it. */
function printedCommands(out: string): { envLine: string; afterEnv: string[]; withoutEnv: string[] } {
  const lines = out.split("\n");
  const from = lines.findIndex((l) => l.startsWith("In another shell"));
  const to = lines.findIndex((l, i) => i > from && l.startsWith("Logs:"));
  const without = lines.findIndex((l, i) => i > from && l.startsWith("Without the env file"));
  expect(from >= 0 && without > from && to > without).toBe(true);
  const commands = (a: number, b: number) => lines.slice(a, b).filter((l) => /^ {2}\S/.test(l)).map((l) => l.slice(2));
  const [envLine, ...afterEnv] = commands(from + 1, without);
  return { envLine: envLine ?? "", afterEnv, withoutEnv: commands(without + 1, to) };
}

const masterIn = (status: string) => /^Master Keeper: (\S+)/m.exec(status)?.[1];

test("the demo says what it waits for, writes its env file, prints how to use the cluster, and stops cleanly", async () => {
  const demo = startDemo("demo-once", ["--once"]);
  const code = await demo.exited;
  const out = demo.stdout();
  expect(demo.stderr()).toBe("");
  expect(code).toBe(0);
  for (const step of ["etcd up", "cluster initialized", "3/3 keepers registered", "sentinel leader: sentinel", "master on keeper", "2/2 standbys streaming", "proxy routing to the master", "all up in"]) {
    expect(out).toContain(`✔ ${step}`);
  }
  expect(out).toMatch(/✔ master on keeper\d \(initdb, \d+\.\d s\)/);
  expect(out).toContain("The cluster is ready: master on keeper");
  expect(out).toContain(`  . ${join(demo.dir, "env.sh")}\n`);
  expect(out).toMatch(/ {2}kill -9 \d+ \d+\n/);
  expect(out).toContain("└─keeper");
  expect(out).toContain("stopped; data left in");

  const env = readFileSync(join(demo.dir, "env.sh"), "utf8");
  expect(env).toMatch(/^# Written by the stolon demo/);
  expect(env).toContain(`export PATH='${join(checkout, "cmd/bin")}'":$PATH"\n`);
  const vars = {
    STOLONCTL_CLUSTER_NAME: "demo",
    STOLONCTL_STORE_BACKEND: "etcdv3",
    STOLONCTL_STORE_ENDPOINTS: `http://127.0.0.1:${demo.base + 20}`,
    PGHOST: "127.0.0.1",
    PGPORT: String(demo.base + 2),
    PGUSER: "stolon",
    PGDATABASE: "postgres",
    PGPASSFILE: join(demo.dir, "pgpass"),
  };
  for (const [k, v] of Object.entries(vars)) expect(env).toContain(`export ${k}='${v}'\n`);
  expect(statSync(join(demo.dir, "pgpass")).mode & 0o777).toBe(0o600);
  expect(readFileSync(join(demo.dir, "pgpass"), "utf8")).toBe(`127.0.0.1:${demo.base + 2}:*:stolon:demo-su-password\n`);
  expect(processesMatching(demo.dir)).toBe("");
}, 120_000);

test("every command the demo prints works as written on a newcomer's PATH: status, psql through the proxy, npx, a crash and a failkeeper", async () => {
  const demo = startDemo("demo-commands");
  await waitFor("the demo's usage text", () => /^Logs: /m.test(demo.stdout()) || demo.proc.exitCode !== null, 120_000, 200);
  expect(demo.proc.exitCode).toBeNull();
  const { envLine, afterEnv, withoutEnv } = printedCommands(demo.stdout());
  expect(envLine).toStartWith(". ");
  const master = /master on (keeper\d)/.exec(demo.stdout())?.[1];
  expect(master).toBeDefined();
  const masterPort = demo.base + 11 + Number(master!.slice(-1)) - 1;
  // As typed in a shell where the env line was run; from anywhere, here the demo dir.
  const afterEnvLine = (cmd: string, stdin?: string) => sh(`set -e\n${envLine}\n${cmd}`, { cwd: demo.dir, stdin });
  const newMaster = (not: string) =>
    waitFor(`a master other than ${not} in stolonctl status`, async () => {
      const m = masterIn((await afterEnvLine("stolonctl status")).stdout);
      return m && m !== not ? m : null;
    }, 90_000, 500);

  // The crash first: the kill line names the pids of the master at print time. After a
  // failkeeper that master's keeper would restart its PostgreSQL under a new pid as a standby,
  // and the line would kill a standby's keeper and a pid that is gone (or reused).
  // The looks (status, psql, npx) before both, while the master is the one printed.
  const failkeeper = afterEnv.filter((c) => c.startsWith("stolonctl failkeeper "));
  const kill = afterEnv.filter((c) => c.startsWith("kill -9 "));
  expect(failkeeper).toEqual([`stolonctl failkeeper ${master}`]);
  expect(kill.length).toBe(1);
  const looks = afterEnv.filter((c) => !failkeeper.includes(c) && !kill.includes(c));
  const ran: string[] = [];
  for (const cmd of [...looks, ...withoutEnv, ...kill, ...failkeeper]) {
    ran.push(cmd);
    if (withoutEnv.includes(cmd)) {
      // npx from the checkout, with the cluster's flags on its command line.
      expect(masterIn((await sh(cmd, { cwd: checkout })).stdout)).toBe(master!);
    } else if (cmd === "stolonctl status") {
      expect(masterIn((await afterEnvLine(cmd)).stdout)).toBe(master!);
    } else if (cmd === "psql") {
      // Through the proxy (PGPORT) to the master, with the password from PGPASSFILE: no prompt.
      const r = await afterEnvLine(cmd, "select 1 as one;\n");
      expect(r.stdout).toMatch(/one\s*\n-+\n\s+1\n\(1 row\)/);
    } else if (cmd.startsWith("psql -c ")) {
      const r = await afterEnvLine(cmd);
      expect(r.stdout).toMatch(new RegExp(`^\\s*${masterPort}\\s*\\|\\s*f\\s*$`, "m"));
    } else if (cmd.startsWith("kill -9 ")) {
      await afterEnvLine(cmd);
      await newMaster(master!);
    } else if (cmd === failkeeper[0]) {
      const r = await afterEnvLine(cmd);
      expect(r.stdout).toContain(`keeper ${master} marked failed`);
      expect(masterIn((await afterEnvLine("stolonctl status")).stdout)).not.toBe(master!);
    } else {
      throw new Error(`the demo printed a command this test does not know: ${cmd}`);
    }
  }
  expect(ran.length).toBe(afterEnv.length + withoutEnv.length);

  demo.proc.kill("SIGINT");
  expect(await demo.exited).toBe(0);
  expect(demo.stdout()).toContain("stopped; data left in");
  expect(processesMatching(demo.dir)).toBe("");
}, 200_000);

test("a sentinel killed during start-up: the demo stops everything, exits 1, names it and its signal and shows its log", async () => {
  const demo = startDemo("demo-killed");
  // Once it has logged (a process killed before it logs anything has no log lines to show).
  const sentinelLog = join(demo.dir, "logs", "sentinel1.log");
  await waitFor(
    "the demo to wait for the keepers or a master, and sentinel1 to have logged",
    () => (/waiting for (the keepers|a master)/.test(demo.output()) && existsSync(sentinelLog) && statSync(sentinelLog).size > 0) || demo.proc.exitCode !== null,
    60_000,
    50,
  );
  expect(demo.proc.exitCode).toBeNull();
  const pid = Number(readFileSync(join(demo.dir, "pids", "sentinel1"), "utf8"));
  process.kill(pid, "SIGKILL");
  expect(await demo.exited).toBe(1);
  const out = demo.output();
  expect(out).toContain("sentinel1 was killed by SIGKILL during start-up");
  expect(out).toContain(`--- sentinel1: the last`);
  const lastLogged = readFileSync(sentinelLog, "utf8").trim().split("\n").at(-1)!;
  expect(lastLogged.length).toBeGreaterThan(0);
  expect(out).toContain(lastLogged);
  expect(processesMatching(demo.dir)).toBe("");
}, 120_000);

test("a start-up longer than --timeout: the demo stops everything, exits 1, names the step and shows the logs concerned", async () => {
  const demo = startDemo("demo-timeout", ["--timeout", "1"]);
  expect(await demo.exited).toBe(1);
  const out = demo.output();
  const step = /timed out after 1 s \(--timeout, the whole start-up\) waiting for ([^:]+):/.exec(out)?.[1];
  expect(step).toBeDefined();
  // The log tails of the components the step waits on. At 1 s they may not have logged a line
  // yet (a Bun process stopped while it loads logs nothing): then the tail says so.
  const tails = [...out.matchAll(/^--- (\S+): the last (\d+) lines of \S+ ---\n(.*)$/gm)];
  expect(tails.length).toBeGreaterThan(0);
  for (const [, name, n, first] of tails) {
    const logged = readFileSync(join(demo.dir, "logs", `${name}.log`), "utf8").split("\n");
    if (logged.at(-1) === "") logged.pop();
    expect(Number(n)).toBe(Math.min(logged.length, 20));
    expect(first).toBe(logged.length ? logged.slice(-20)[0]! : "(nothing logged)");
  }
  expect(processesMatching(demo.dir)).toBe("");
}, 120_000);
