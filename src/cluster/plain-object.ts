/**
 * Plain JSON values, each rule written once. isPlainObject: a JSON object, not null and not an
 * array; every reader of untrusted JSON (spec, cluster data, infos, merge patches, stolonctl's
 * patch, the keeper's local state files) uses it.
 */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Structural equality of JSON values; a field whose value is undefined counts as absent. decide()
 * uses it to tell a changed spec or cluster data; the sentinel's decision kinds to name the change.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => jsonEqual(ra[k], rb[k]));
}
