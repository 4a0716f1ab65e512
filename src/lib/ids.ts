import { randomBytes } from "node:crypto";

/** A random 8-hex-digit uid, as stolon generates for clusters, DBs, sentinels and proxies. */
export function newUid(): string {
  return randomBytes(4).toString("hex");
}
