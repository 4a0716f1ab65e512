/**
 * The processes an integration test starts: the harness owns every one (killed, with its temp dir
 * removed, after the test file even when it failed half way), finds their binaries, and runs our
 * entry points (cmd/*.ts) as real processes.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { afterAll } from "bun:test";

/**
 * Every process the harness started. A test that forgets (or fails before) its teardown still
 * leaves nothing running: whatever is left is killed, and every registered cleanup run, after the
 * first test file that loads this module and, for the files after it (Bun loads a module once per
 * run), after the whole run (test/preload.ts).
 */
const owned = new Map<Subprocess, string | null>();
const cleanups: (() => void | Promise<void>)[] = [];
export async function cleanUpHarness(): Promise<void> {
  for (const p of owned.keys()) p.kill("SIGKILL");
  await Promise.all([...owned.keys()].map((p) => p.exited));
  for (const dir of owned.values()) if (dir) rmSync(dir, { recursive: true, force: true });
  owned.clear();
  for (const f of cleanups.splice(0)) await f();
}
afterAll(cleanUpHarness);

/** Registers a process (and optionally a dir to remove) to be killed after the file's last test. */
export function own(proc: Subprocess, dir: string | null = null): void {
  owned.set(proc, dir);
}
export function disown(proc: Subprocess): void {
  owned.delete(proc);
}
/** Runs `f` after the file's last test, after every owned process is gone. */
export function atEnd(f: () => void | Promise<void>): void {
  cleanups.push(f);
}

/** Finds a binary on PATH or in the usual Debian places; throws a clear error when missing. */
export function findBinary(name: string, extraDirs: string[] = []): string {
  for (const dir of [...extraDirs, ...(process.env.PATH ?? "").split(":"), "/usr/bin", "/usr/local/bin"]) {
    if (!dir) continue;
    const p = join(dir, name);
    if (Bun.file(p).size > 0) return p;
  }
  throw new Error(`${name} not found: run "npm run setup" (as root it installs etcd and PostgreSQL 15 with apt)`);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one of our entry points (cmd/<name>.ts) as a real process with Bun. */
export async function runCmd(
  name: "stolonctl" | "keeper" | "sentinel" | "proxy",
  args: string[],
  opts: { stdin?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "../../../cmd", `${name}.ts`), ...args], {
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...opts.env },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}
