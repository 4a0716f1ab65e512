/**
 * The one plain-object check: a JSON object, not null and not an array. Every reader of untrusted
 * JSON (spec, cluster data, infos, merge patches, the keeper's local state files) uses it.
 */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
