/**
 * Quoting and marks shared by everything the keeper writes for PostgreSQL. Pure.
 */

/**
 * A double-quoted identifier, `"` doubled: SQL role names, pg_hba.conf user names and the
 * members of synchronous_standby_names all take this form.
 */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A single-quoted SQL string literal, `'` doubled (standard_conforming_strings, on since PostgreSQL 9.1). */
export function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * How every configuration file the keeper writes begins. The keeper's first start tells its own
 * postgresql.conf from one initdb or a user left by this mark (src/keeper/keeper.ts firstStart).
 */
export const MANAGED_CONF_HEADER = "# Written by stolon-keeper";
