/**
 * How stolon's Go code writes and reads the cluster data and the infos (encoding/json over the
 * types of internal/cluster/cluster.go and member.go), in the few places where that differs from
 * what a JavaScript reader expects. Pure.
 *
 * encoding/json's rules that matter here:
 *  - `omitempty` leaves out false, 0, "", a nil pointer and an empty slice or map, so a field
 *    that is absent means its zero value; it never leaves out a struct or a time.Time, so a zero
 *    time is written as GO_ZERO_TIME;
 *  - a nil slice or map without omitempty is written as null (`"followers": null`);
 *  - unknown fields are ignored on decode, JSON null leaves a value field as it is;
 *  - time.Time decodes only RFC 3339 strings: "" in a time field makes stolon fail to read the
 *    whole cluster data. Everything this project writes in a time field is an ISO string or
 *    GO_ZERO_TIME.
 */
import { isPlainObject } from "./plain-object.ts";

/** time.Time{} as encoding/json writes it: "never" (a keeper that never reported, a new proxy). */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/**
 * Fields of a DB spec or status where null and [] do not mean the same: stolon's keeper writes
 * its default pg_hba.conf lines for a null pgHBA and none for an empty list.
 */
const NULL_IS_NOT_EMPTY = new Set(["pgHBA"]);

/** Go's zero values: what an absent omitempty field decodes to. */
function isGoZero(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  return isPlainObject(v) && Object.keys(v).length === 0;
}

/** `v` with every zero-valued object field left out, as stolon's keeper sees it. */
function goMeaning(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(goMeaning);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const x = goMeaning(v[k]);
    if (NULL_IS_NOT_EMPTY.has(k) && (x === null || Array.isArray(x))) out[k] = x;
    else if (!isGoZero(x)) out[k] = x;
  }
  return out;
}

/**
 * True when two DB specs (or DB statuses) mean the same to a keeper, stolon's or ours: they
 * differ only in how a zero value is written (absent, null, false, 0, "", [] or {}; pgHBA
 * excepted, see NULL_IS_NOT_EMPTY). The sentinel keeps the stored form of such a spec instead of
 * rewriting it, so taking over a cluster that stolon's sentinel ran bumps no generation and
 * changes no byte a keeper would act on.
 */
export function sameForKeepers(a: unknown, b: unknown): boolean {
  return JSON.stringify(goMeaning(a)) === JSON.stringify(goMeaning(b));
}
