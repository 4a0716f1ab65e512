/**
 * The attacker of the root-mode file tests: the PostgreSQL OS user ("postgres"), played by a root
 * test process that chowns what it plants to that user. Without root (or without that user) the
 * tests that need it say why they do not run, and fail in CI, where they must run.
 */
import { lstatSync, readFileSync, readdirSync } from "node:fs";
import { lookupUserByName, type OsUser } from "../src/postgres/os-user.ts";

function findAttacker(): OsUser | null {
  const why = process.getuid?.() !== 0 ? "not running as root" : lookupUserByName("postgres") === null ? "no OS user postgres" : null;
  if (why === null) return lookupUserByName("postgres");
  const msg = `root-mode file tests: ${why}, so the attacker (the postgres OS user) is not played and root-only checks are skipped`;
  if (process.env.CI === "true") throw new Error(`${msg}; in CI these tests must run as root`);
  console.warn(msg);
  return null;
}

export const attacker: OsUser | null = findAttacker();

export interface Snapshot {
  path: string;
  kind: string;
  uid: number;
  gid: number;
  mode: number;
  content: string;
}

/** What must not change about a victim: type, owner, mode, and content (a dir: its names). */
export function snapshot(path: string): Snapshot {
  const st = lstatSync(path);
  const content = st.isFile() ? readFileSync(path, "utf8") : st.isDirectory() ? readdirSync(path).sort().join(",") : "";
  return { path, kind: st.isFile() ? "file" : st.isDirectory() ? "dir" : "other", uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, content };
}

export function mkfifo(path: string): void {
  const r = Bun.spawnSync(["mkfifo", path]);
  if (r.exitCode !== 0) throw new Error(`mkfifo ${path}: ${r.stderr.toString()}`);
}

/** Runs a command as the attacker; returns its stdout. */
export function asAttacker(argv: string[]): string {
  if (!attacker) throw new Error("no attacker");
  const r = Bun.spawnSync(argv, { uid: attacker.uid, gid: attacker.gid, stdout: "pipe", stderr: "pipe" } as never);
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} as ${attacker.name}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}
