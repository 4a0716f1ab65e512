/**
 * The docs test's session: the runnable commands of the README, in the order a reader meets them,
 * typed as a newcomer would, on a PATH with only Node.js, npm and the system's tools (freshEnv).
 *
 * Run by test/integration/docs.test.ts as the first process of new network, mount and PID
 * namespaces (`unshare -n -m -p -f`, root), with a private tmpfs on /tmp: the README's fixed
 * ports (etcd on 2379, the demo's 25430..) and paths (/tmp/stolon-demo) are its own, and when it
 * ends the kernel kills whatever the commands left running.
 *
 * The plan (JSON on stdin) lists the commands with how to run each:
 * - run: in one shell that lives through the session (`export`, `.` and assignments carry over,
 *   as in a terminal), stdin /dev/null; it must exit 0 within its timeout.
 * - daemon (a component started in the foreground): started in another "terminal" with the
 *   session shell's environment, it must still run after 3 s, then Ctrl-C (SIGINT to its process
 *   group) must end it with exit 0.
 * - terminal (`npm run demo`): started in another terminal and left running for the rest of the
 *   session once its output matches `ready`; stopped with Ctrl-C at the end: exit 0, or 130 (the
 *   shell's code for a command ended by SIGINT, which npm returns when Ctrl-C reaches it too),
 *   and no process left whose command line contains `leaves`.
 * One line `__DOCS__ <json>` per result on stdout.
 */
import { mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { readLines } from "../../../bench/lines.ts";
import { processesMatching } from "../../harness/util.ts";
import { freshEnv } from "./fresh-path.ts";

export type SessionKind = "run" | "daemon" | "terminal";
export interface SessionItem {
  file: string;
  line: number;
  text: string;
  kind: SessionKind;
  timeoutMs: number;
  /** terminal: the output that says it is ready (a RegExp source). */
  ready?: string;
  /** terminal: what no process's command line may contain once it stopped (its dirs). */
  leaves?: string;
}
export interface SessionResult {
  file: string;
  line: number;
  text: string;
  kind: SessionKind | "check";
  ok: boolean;
  /** What happened, for the report: the exit code, or why it failed. */
  outcome: string;
  output: string;
  ms: number;
}

const WORK = "/tmp/docs-session";
const DAEMON_UP_MS = 3000;
const STOP_MS = 30_000;
const repo = join(import.meta.dir, "../../..");

const emit = (r: SessionResult) => console.log(`__DOCS__ ${JSON.stringify(r)}`);
const outputOf = (path: string) => {
  try {
    return readFileSync(path, "utf8").slice(-4000);
  } catch {
    return "";
  }
};

/** The one shell of the session, fed command by command; each ends with a marker line. */
class SessionShell {
  private readonly proc: Subprocess<"pipe", "pipe", "inherit">;
  private readonly lines: AsyncGenerator<string>;
  private n = 0;

  constructor(env: Record<string, string>) {
    this.proc = Bun.spawn(["sh"], { cwd: repo, env, stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    this.lines = readLines(this.proc.stdout);
  }

  /** Runs `text` in the shell; its exit code, or null if no marker came within timeoutMs. */
  async run(text: string, outPath: string, timeoutMs: number): Promise<number | null> {
    const id = ++this.n;
    this.proc.stdin.write(`{ ${text}\n} </dev/null >${outPath} 2>&1\necho "__RC__ ${id} $?"\n`);
    this.proc.stdin.flush();
    let timer: Timer | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    const marker = (async () => {
      for (;;) {
        const next = await this.lines.next();
        if (next.done) return null;
        const m = /^__RC__ (\d+) (\d+)$/.exec(next.value);
        if (m && Number(m[1]) === id) return Number(m[2]);
      }
    })();
    try {
      return await Promise.race([marker, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The shell's exported environment and working directory now. */
  async state(): Promise<{ env: Record<string, string>; cwd: string }> {
    const envPath = join(WORK, `env.${this.n + 1}`);
    await this.run(`env -0 > ${envPath}.env; pwd > ${envPath}.cwd`, "/dev/null", 5000);
    const env = Object.fromEntries(
      readFileSync(`${envPath}.env`, "utf8").split("\0").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
    );
    return { env, cwd: readFileSync(`${envPath}.cwd`, "utf8").trim() };
  }

  close(): void {
    this.proc.stdin.end();
    this.proc.kill("SIGKILL");
  }
}

/**
 * A process started as in another terminal: its own process group, output to a file. The shell
 * traps SIGINT (with a command, so its children get the default action back) to outlive a Ctrl-C
 * and report the command's own exit status, as an interactive shell does.
 */
function startTerminal(text: string, env: Record<string, string>, cwd: string, outPath: string): Subprocess {
  const out = openSync(outPath, "w");
  return Bun.spawn(["sh", "-c", `trap : INT\n${text}`], { cwd, env, stdin: "ignore", stdout: out, stderr: out, detached: true });
}

/** Ctrl-C: SIGINT to the process group; how it ended ("exit 0", "killed by SIGTERM"), or null if it did not within STOP_MS. */
async function ctrlC(p: Subprocess): Promise<string | null> {
  try {
    process.kill(-p.pid, "SIGINT");
  } catch {
    // already gone
  }
  const exited = await Promise.race([p.exited.then(() => true), Bun.sleep(STOP_MS).then(() => false)]);
  if (!exited) {
    try {
      process.kill(-p.pid, "SIGKILL");
    } catch {
      // gone
    }
    return null;
  }
  return p.signalCode ? `killed by ${p.signalCode}` : `exit ${p.exitCode}`;
}

async function waitReady(p: Subprocess, outPath: string, ready: RegExp, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (ready.test(outputOf(outPath))) return null;
    if (p.exitCode !== null || p.signalCode !== null) return `exited (${p.exitCode ?? p.signalCode}) before it was ready`;
    await Bun.sleep(200);
  }
  return `not ready within ${timeoutMs / 1000} s`;
}

async function main(): Promise<void> {
  const plan = JSON.parse(await Bun.stdin.text()) as SessionItem[];
  mkdirSync(WORK, { recursive: true });
  const env = freshEnv();
  const shell = new SessionShell(env);
  const terminals: { item: SessionItem; proc: Subprocess; out: string }[] = [];

  // The PATH really is a newcomer's: no bun on it.
  const t0 = performance.now();
  const noBun = await shell.run("! command -v bun", "/dev/null", 5000);
  emit({ file: "-", line: 0, text: "command -v bun (must find nothing)", kind: "check", ok: noBun === 0, outcome: noBun === 0 ? "no bun on the PATH" : `bun is on ${env.PATH}`, output: "", ms: performance.now() - t0 });

  for (const [i, item] of plan.entries()) {
    const out = join(WORK, `out.${i}`);
    const started = performance.now();
    const done = (ok: boolean, outcome: string, output = outputOf(out)) => emit({ ...item, ok, outcome, output, ms: performance.now() - started });
    if (item.kind === "run") {
      const code = await shell.run(item.text, out, item.timeoutMs);
      if (code === null) {
        done(false, `no exit within ${item.timeoutMs / 1000} s; the session stops here`);
        break;
      }
      done(code === 0, `exit ${code}`);
      continue;
    }
    const { env: now, cwd } = await shell.state();
    const proc = startTerminal(item.text, now, cwd, out);
    if (item.kind === "terminal") {
      const err = await waitReady(proc, out, new RegExp(item.ready ?? "ready", "m"), item.timeoutMs);
      if (err) {
        await ctrlC(proc);
        done(false, err);
        break;
      }
      terminals.push({ item, proc, out });
      done(true, "ready; left running beside the next commands");
      continue;
    }
    await Bun.sleep(DAEMON_UP_MS);
    if (proc.exitCode !== null || proc.signalCode !== null) {
      done(false, `exited (${proc.exitCode ?? proc.signalCode}) within ${DAEMON_UP_MS / 1000} s`);
      continue;
    }
    const end = await ctrlC(proc);
    done(end === "exit 0", end === null ? `still running ${STOP_MS / 1000} s after Ctrl-C` : `ran ${DAEMON_UP_MS / 1000} s, then Ctrl-C: ${end}`);
  }
  for (const t of terminals.reverse()) {
    const started = performance.now();
    const end = await ctrlC(t.proc);
    const left = t.item.leaves ? processesMatching(t.item.leaves).split("\n").filter(Boolean) : [];
    const ok = (end === "exit 0" || end === "exit 130") && left.length === 0;
    const outcome = `${end ?? `still running ${STOP_MS / 1000} s after Ctrl-C`}${left.length ? `; left running: ${left.join("; ")}` : ""}`;
    emit({ ...t.item, text: `${t.item.text}   (Ctrl-C at the end)`, ok, outcome, output: outputOf(t.out), ms: performance.now() - started });
  }
  shell.close();
}

await main();
process.exit(0);
