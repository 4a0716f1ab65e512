/**
 * Prometheus's own checker, promtool (Debian package prometheus, installed by `npm run setup`),
 * as the judge of our metrics and monitoring kit. Missing promtool is a failure, never a skip.
 */
import { expect } from "bun:test";
import { findBinary } from "./process.ts";

/** promtool's path; throws a clear error when it is not installed. */
export function promtoolPath(): string {
  try {
    return findBinary("promtool");
  } catch {
    throw new Error('promtool not found: run "npm run setup" (as root it installs Debian\'s prometheus package, which has promtool)');
  }
}

export interface PromtoolResult {
  code: number;
  /** stdout and stderr, as promtool prints its verdicts on either. */
  output: string;
}

/** Runs promtool with these arguments (and `stdin`), in `cwd`. */
export async function promtool(args: string[], o: { stdin?: string; cwd?: string } = {}): Promise<PromtoolResult> {
  const proc = Bun.spawn([promtoolPath(), ...args], {
    cwd: o.cwd,
    stdin: o.stdin === undefined ? "ignore" : new TextEncoder().encode(o.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: `${out}${err}` };
}

/**
 * `promtool check metrics` on a /metrics body. ok: no finding at all. findings: one line each,
 * "<metric> <what is wrong>" for the naming lint, or the parse error that stopped it.
 */
export async function checkMetrics(text: string): Promise<{ ok: boolean; findings: string[] }> {
  const r = await promtool(["check", "metrics"], { stdin: text });
  const findings = r.output.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  // 0: clean; 3: lint findings only; anything else (1: unparsable) must show as a finding.
  if (r.code !== 0 && r.code !== 3 && findings.length === 0) findings.push(`promtool check metrics exited with code ${r.code}`);
  return { ok: r.code === 0 && findings.length === 0, findings };
}

/**
 * Expects a /metrics body that promtool accepts, but for lint findings about the `allowed`
 * metrics: stolon's own stolon_sentinel_leader_count, whose name breaks the counter naming rule
 * and is kept for compatibility with stolon's dashboards.
 */
export async function expectCleanMetrics(text: string, allowed: string[] = ["stolon_sentinel_leader_count"]): Promise<void> {
  expect(text).toContain("# TYPE ");
  const { findings } = await checkMetrics(text);
  expect(findings.filter((f) => !allowed.includes(f.split(" ")[0] ?? ""))).toEqual([]);
}

/** A sample's value in a /metrics body (the line that starts with `series `), or NaN when absent. */
export function sampleOf(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1).split(" ")[0]) : NaN;
}
