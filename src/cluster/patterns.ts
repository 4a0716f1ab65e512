/**
 * Name patterns shared by the spec rules, the info checks, the keeper's flags, stolonctl and the
 * configuration renderer, kept in one place so they cannot drift apart. Import-free, like
 * slot-names.ts, so that src/postgres may use it too.
 */

/** Keeper, db, proxy and sentinel uids, and the names of additional replication slots. */
export const UID_RE = /^[a-z0-9_]+$/;

/** A PostgreSQL parameter name, as the spec accepts it and as the renderer writes it. */
export const PG_PARAM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.]*$/;
