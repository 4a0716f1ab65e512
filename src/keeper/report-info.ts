/**
 * What a keeper report publishes (issue 23): the info is written to etcd only when something a
 * reader acts on changed; in between the report renews the keeper's lease alone, which costs etcd
 * no raft proposal. Readers tell that a keeper is alive from its lease (Store.leaseSilenceMs), so
 * infoUID is new only when the content is. WAL positions change with every write to the database,
 * so a change of positions alone is published at most once per positionIntervalMs; any other
 * change (health, receivingWal, the sync set, a switchover's stop position, ...) at once. Pure.
 */
import type { KeeperInfo, PostgresState } from "../cluster/index.ts";

/** The last info handed to the store, and when its positions were last published (clock ms). */
export interface PublishedInfo {
  info: KeeperInfo;
  positionsAt: number;
}

/** The fields that move with every write to the database. */
const POSITION_FIELDS = ["xLogPos", "replayedXLogPos", "olderWalFile"] as const satisfies readonly (keyof PostgresState)[];

function withoutPositions(st: PostgresState | null): Partial<PostgresState> | null {
  if (!st) return st;
  const rest: Partial<PostgresState> = { ...st };
  for (const f of POSITION_FIELDS) delete rest[f];
  return rest;
}

/**
 * The info to publish now: `prev` itself (same infoUID: the store only renews the lease) when
 * nothing changed, or only positions changed less than positionIntervalMs after they were last
 * published; otherwise `fresh` under a new infoUID.
 */
export function nextKeeperInfo(
  prev: PublishedInfo | null,
  fresh: Omit<KeeperInfo, "infoUID">,
  now: number,
  positionIntervalMs: number,
  newUid: () => string,
): PublishedInfo {
  const publish = (): PublishedInfo => ({ info: { infoUID: newUid(), ...fresh }, positionsAt: now });
  if (!prev) return publish();
  const { infoUID: _, ...old } = prev.info;
  if (JSON.stringify(old) === JSON.stringify(fresh)) return prev;
  const sameShape =
    JSON.stringify({ ...old, postgresState: withoutPositions(old.postgresState) }) ===
    JSON.stringify({ ...fresh, postgresState: withoutPositions(fresh.postgresState) });
  if (sameShape && now - prev.positionsAt < positionIntervalMs) return prev;
  return publish();
}
