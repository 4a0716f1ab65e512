/**
 * OS users from /etc/passwd (os.userInfo() is unreliable under Bun when running as root).
 */
import { readFileSync } from "node:fs";
import { describeError, StolonError } from "../lib/errors.ts";

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function parsePasswd(text: string): OsUser[] {
  const out: OsUser[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 7 || line.startsWith("#")) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5]! });
  }
  return out;
}

function users(): OsUser[] {
  try {
    return parsePasswd(readFileSync("/etc/passwd", "utf8"));
  } catch (err) {
    throw new StolonError("EOSUSER", `cannot read /etc/passwd: ${describeError(err)}`, { cause: err });
  }
}

export function lookupUserByName(name: string): OsUser | null {
  return users().find((u) => u.name === name) ?? null;
}

export function lookupUserByUid(uid: number): OsUser | null {
  return users().find((u) => u.uid === uid) ?? null;
}

/** The user this process runs as (falls back to "uid<N>" when /etc/passwd has no entry). */
export function currentUser(): OsUser {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  return lookupUserByUid(uid) ?? { name: `uid${uid}`, uid, gid, home: process.env.HOME ?? "/" };
}
