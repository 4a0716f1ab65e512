/**
 * The docs are tested: every shell command of README.md and docker/README.md is classified here,
 * and the runnable ones run as written, in order, on a newcomer's PATH (only Node.js, npm and the
 * system's tools: no bun, no node_modules/.bin), against real clusters: the demo (`npm run demo`,
 * left running as in a second terminal) and the README's own etcd on 127.0.0.1:2379. They run in
 * network, mount and PID namespaces of their own (root; harness/docs-session.ts), so the README's
 * fixed ports and /tmp paths cannot collide with anything, and nothing outlives the session.
 *
 * A command added to a README later is picked up: it runs unless a rule below says why it cannot
 * run here. Besides, the flags of every stolon command in the docs (runnable or not) must exist in
 * that command's --help, and the services named by docker-compose commands in docker-compose.yml.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type DocCommand, assignmentsOf, commandsOf, shellBlocks, shellWords } from "./harness/doc-commands.ts";
import type { SessionItem, SessionKind, SessionResult } from "./harness/docs-session.ts";
import { freshEnv } from "./harness/fresh-path.ts";

const repo = join(import.meta.dir, "../..");
const DOCS = ["README.md", "docker/README.md"];

interface Rule {
  kind: "skip" | "daemon" | "terminal";
  why: string;
  /** `expanded`: the text with the variables the same file assigned before (F="...") put in. */
  match: (c: DocCommand, expanded: string) => boolean;
}

const first = (c: DocCommand) => c.text.trim().split(/\s+/)[0] ?? "";
const blockHas = (c: DocCommand, re: RegExp) => commandsOf(c.block).some((x) => re.test(x.text));

/** First match wins; a command no rule matches is run in the session (kind "run"). */
const RULES: Rule[] = [
  { kind: "skip", why: "the test suite itself (this test is part of it)", match: (c) => /^npm (test|run test:docker)\b/.test(c.text) },
  { kind: "skip", why: "a benchmark or drill of minutes; its figures are in the README", match: (c) => /^npm run (bench:|faults|drill)\b/.test(c.text) },
  {
    kind: "skip",
    why: "the compose walkthrough: needs a Docker engine and the images; test/docker runs the same steps with docker-compose on an engine of its own",
    match: (c) => blockHas(c, /^(docker|docker-compose|ETCD_IMAGE=\S+ docker)\b/),
  },
  {
    kind: "skip",
    why: "names hosts and files of a real deployment (10.0.0.x, etcd1, /etc/stolon/...)",
    match: (_, expanded) => /\b10\.0\.0\.\d+|\betcd1:|\/etc\/stolon\//.test(expanded),
  },
  {
    kind: "skip",
    why: "the pgBackRest recipe: writes /etc and /var/lib and needs a repository; test/integration/backrest.test.ts runs these steps in temp dirs",
    match: (c) => /^(install|pgbackrest)\b/.test(c.text),
  },
  { kind: "skip", why: "names a keeper that must be a standby, and which one is depends on the run", match: (c) => /--to keeper\d/.test(c.text) },
  { kind: "terminal", why: "runs until Ctrl-C: started as in a second terminal, left running beside the next commands", match: (c) => /^npm run demo\b/.test(c.text) },
  { kind: "daemon", why: "a component in the foreground: must still run after 3 s, then exit 0 on Ctrl-C", match: (c) => /^(stolon-keeper|stolon-sentinel|stolon-proxy|etcd)\b/.test(first(c)) && !/&\s*$/.test(c.text) },
];

const DEMO_READY = String.raw`^\s*\. \S*stolon-demo/env\.sh\s*$`;
const TIMEOUT_MS: { re: RegExp; ms: number }[] = [
  { re: /switchover --wait/, ms: 90_000 },
  { re: /^npm run typecheck/, ms: 120_000 },
  { re: /^npm run demo/, ms: 240_000 },
];

function classify(c: DocCommand, expanded: string): { kind: SessionKind | "skip"; why: string; rule: number } {
  const i = RULES.findIndex((r) => r.match(c, expanded));
  return i < 0 ? { kind: "run", why: "runs in the session", rule: -1 } : { kind: RULES[i]!.kind, why: RULES[i]!.why, rule: i };
}

/** The commands of one file, each with the variables assigned before it in that file. */
function withVars(file: string): { c: DocCommand; vars: Record<string, string> }[] {
  const vars: Record<string, string> = {};
  return shellBlocks(readFileSync(join(repo, file), "utf8"), file)
    .flatMap(commandsOf)
    .map((c) => {
      const at = { c, vars: { ...vars } };
      Object.assign(vars, assignmentsOf(c.text, vars) ?? {});
      return at;
    });
}

const commands = DOCS.flatMap(withVars);
const classified = commands.map(({ c, vars }) => ({ c, vars, ...classify(c, shellWords(c.text, vars).join(" ")) }));
const where = (c: { file: string; line: number }) => `${c.file}:${c.line}`;

describe("the docs' shell commands", () => {
  test("are all classified, and each rule still matches a command", () => {
    console.log(classified.map(({ c, kind, why }) => `  ${where(c)}  ${kind.padEnd(8)} ${c.text.split("\n")[0]}${kind === "skip" ? `\n      (${why})` : ""}`).join("\n"));
    expect(classified.length).toBeGreaterThan(30);
    // A rule that matches nothing is stale; one that matches too much would hide commands.
    expect(RULES.map((_, i) => i).filter((i) => !classified.some((x) => x.rule === i)).map((i) => RULES[i]!.why)).toEqual([]);
    expect(classified.filter((x) => x.kind !== "skip").length).toBeGreaterThanOrEqual(15);
  });

  test("name only flags that the stolon commands have (runnable or not)", async () => {
    const help = new Map<string, string>();
    const helpOf = async (argv: string[]) => {
      const key = argv.join(" ");
      if (!help.has(key)) {
        const p = Bun.spawn([join(repo, "cmd/bin", argv[0]!), ...argv.slice(1), "--help"], { env: freshEnv({ NO_COLOR: "1" }), stdout: "pipe", stderr: "pipe" });
        const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
        help.set(key, (out + err).replace(/\x1b\[[0-9;]*m/g, ""));
      }
      return help.get(key)!;
    };
    const subcommands = (await helpOf(["stolonctl"])).match(/^\s+(\w[\w-]*)\s{2,}/gm)?.map((s) => s.trim().split(/\s+/)[0]!) ?? [];
    expect(subcommands).toContain("status");
    const bad: string[] = [];
    let checked = 0;
    for (const { c, vars } of commands) {
      let words = shellWords(c.text, vars);
      if (words[0] === "npx") words = words.slice(1);
      const i = words.findIndex((w) => /^(stolonctl|stolon-keeper|stolon-sentinel|stolon-proxy)$/.test(w));
      if (i < 0) continue;
      const args = words.slice(i + 1);
      const sub = words[i] === "stolonctl" ? args.find((w) => subcommands.includes(w)) : undefined;
      const text = await helpOf(sub ? [words[i]!, sub] : [words[i]!]);
      for (const flag of args.filter((w) => w.startsWith("--")).map((w) => w.split("=")[0]!)) {
        checked++;
        const known = ["--help", "--version"].includes(flag) || text.includes(`${flag}=`) || new RegExp(`${flag}(\\s|$)`, "m").test(text);
        if (!known) bad.push(`${where(c)}: ${words[i]}${sub ? ` ${sub}` : ""} has no ${flag}`);
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(bad).toEqual([]);
  }, 60_000);

  test("name only services of docker-compose.yml", () => {
    const yml = readFileSync(join(repo, "docker/docker-compose.yml"), "utf8");
    const section = yml.slice(yml.indexOf("\nservices:") + 1).split(/\n(?=\S)/)[0]!;
    const services = new Set([...section.matchAll(/^ {2}([\w-]+):/gm)].map((m) => m[1]!));
    expect(services.has("keeper1")).toBe(true);
    const bad: string[] = [];
    for (const { c } of commands) {
      const m = /(?:docker compose|docker-compose) -f docker\/docker-compose\.yml (kill|start|stop|logs|exec|restart)\b(.*)$/s.exec(c.text);
      if (!m) continue;
      const names = shellWords(m[2]!).filter((w) => !w.startsWith("-"));
      const named = m[1] === "exec" ? names.slice(0, 1) : names;
      for (const n of named) if (!services.has(n)) bad.push(`${where(c)}: no service ${n}`);
    }
    expect(bad).toEqual([]);
  });
});

const canRun = process.getuid?.() === 0 && existsSync("/usr/bin/unshare");
if (!canRun) console.log("docs test: the session NOT RUN: it needs root (network, mount and PID namespaces)");

describe.skipIf(!canRun && !process.env.CI)("the docs' runnable commands", () => {
  test("succeed as written on a newcomer's PATH, in order", async () => {
    expect(canRun).toBe(true);
    const plan: SessionItem[] = classified
      .filter((x) => x.kind !== "skip")
      .map(({ c, kind }) => ({
        file: c.file,
        line: c.line,
        text: c.text,
        kind: kind as SessionKind,
        timeoutMs: TIMEOUT_MS.find((t) => t.re.test(c.text))?.ms ?? 30_000,
        ...(kind === "terminal" ? { ready: DEMO_READY, leaves: "/tmp/stolon-demo" } : {}),
      }));
    const session = join(import.meta.dir, "harness/docs-session.ts");
    const script = `ip link set lo up && mount -t tmpfs -o mode=1777 tmpfs /tmp && exec "$0" "$1"`;
    const p = Bun.spawn(["unshare", "--net", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "sh", "-c", script, process.execPath, session], {
      cwd: repo,
      stdin: new Blob([JSON.stringify(plan)]),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    const results = out.split("\n").filter((l) => l.startsWith("__DOCS__ ")).map((l) => JSON.parse(l.slice(9)) as SessionResult);
    console.log(`docs session (${results.length} results):\n${results.map((r) => `  ${r.ok ? "ok  " : "FAIL"} ${(r.ms / 1000).toFixed(1).padStart(5)} s  ${where(r)}  ${r.text.split("\n")[0]}  -> ${r.outcome}`).join("\n")}`);
    const failed = results.filter((r) => !r.ok).map((r) => `${where(r)}: ${r.text}\n  -> ${r.outcome}\n${r.output.trimEnd().split("\n").slice(-25).map((l) => `     | ${l}`).join("\n")}`);
    expect(failed.join("\n\n")).toBe("");
    if (code !== 0) throw new Error(`the session exited with ${code}:\n${err.slice(-3000)}`);
    // Every planned command has a result (a stuck one stops the session), the demo's stop too.
    expect(results.length).toBe(plan.length + 1 + plan.filter((x) => x.kind === "terminal").length);
  }, 600_000);
});
