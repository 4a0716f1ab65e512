/**
 * The environment of a fresh machine that has only Node.js and npm (and what `npm run setup`
 * installs with apt): the system's bin dirs and the dirs of `node` and `npm`, never a dir that
 * holds `bun` or a node_modules/.bin. Commands the README or the demo print are run with it, to
 * prove they work as written for a newcomer.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

const SYSTEM_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

function which(name: string, dirs: string[]): string | undefined {
  for (const d of dirs) if (d && existsSync(join(d, name))) return join(d, name);
  return undefined;
}

/** A PATH of the system dirs plus node's and npm's; throws when no such PATH can be made without bun. */
export function freshPath(): string {
  const inherited = (process.env.PATH ?? "").split(":");
  const tools = ["node", "npm", "npx"].map((t) => which(t, [...SYSTEM_DIRS, ...inherited.filter((d) => !d.includes("node_modules"))]));
  const dirs = [...new Set([...SYSTEM_DIRS, ...tools.filter((t): t is string => !!t).map(dirname)])];
  const withBun = dirs.filter((d) => existsSync(join(d, "bun")));
  if (withBun.length > 0) throw new Error(`freshPath: bun is installed system-wide in ${withBun.join(", ")}; a newcomer's PATH cannot be made here`);
  for (const t of ["node", "npm", "npx"]) if (!which(t, dirs)) throw new Error(`freshPath: ${t} is not on ${dirs.join(":")}`);
  return dirs.join(":");
}

/** An environment with only freshPath(), HOME, a locale and TERM, plus `extra`. */
export function freshEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: freshPath(), HOME: process.env.HOME ?? "/root", LANG: "C.UTF-8", TERM: "dumb", ...extra };
}
