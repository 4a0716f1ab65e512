/**
 * The names stolon gives PostgreSQL objects per db: the replication slot a standby streams from
 * and the application_name it connects with are both `stolon_<db uid>`. The prefix marks what is
 * ours: the keeper drops only slots that carry it, reads the in-sync standbys' db uids from
 * pg_stat_replication through it, and the spec refuses additional slots that would collide.
 *
 * Pure and import-free so that cluster, postgres and keeper can all use it (the one exception to
 * "postgres imports only lib": this fact belongs to the cluster's naming, not to PostgreSQL).
 */
export const SLOT_PREFIX = "stolon_";

/** PostgreSQL's NAMEDATALEN - 1: the longest identifier, a slot name included. */
export const MAX_SLOT_NAME_LENGTH = 63;

/** The slot (and application_name) of the standby of db `dbUid`. */
export const slotName = (dbUid: string): string => `${SLOT_PREFIX}${dbUid}`;

/** Whether a slot or application name is one stolon made (and may drop). */
export const isStolonSlot = (name: string): boolean => name.startsWith(SLOT_PREFIX);

/** The db uid in a stolon slot or application name; null for a name that is not ours. */
export const dbUidOfSlot = (name: string): string | null => (isStolonSlot(name) ? name.slice(SLOT_PREFIX.length) : null);
