import { isPlainObject } from "./plain-object.ts";

/**
 * JSON Merge Patch (RFC 7386): objects merge recursively, null deletes a member, anything else
 * (arrays included) replaces. Returns a new value; inputs are not modified.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
