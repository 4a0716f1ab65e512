/**
 * Name patterns shared by the spec rules, the info checks, the keeper's flags and stolonctl,
 * kept in one place so they cannot drift apart.
 */

/** Keeper, db, proxy and sentinel uids, and the names of additional replication slots. */
export const UID_RE = /^[a-z0-9_]+$/;

/**
 * A PostgreSQL parameter name as the spec accepts it. (src/postgres/config.ts keeps its own copy
 * for the parameters it writes: the import rule keeps src/postgres apart from src/cluster.)
 */
export const PG_PARAM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.]*$/;
