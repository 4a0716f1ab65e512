/**
 * What a cluster-view write decided, for stolon_sentinel_decisions_total{kind} and the failover
 * figures. Pure: it compares the cluster data the leader read with the one decide() returned.
 * decide() itself stays as it is (its `change` tells a status write from a decision; this only
 * names the decision).
 */
import { jsonEqual, type Change, type ClusterData, type DB, type DBSpec } from "../cluster/index.ts";

export const DECISION_KINDS = ["master", "sync_standbys", "followers", "dbs", "keepers", "proxy", "status", "switchover", "pause"] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

/** Absent, null and an empty list mean the same: nobody. */
const list = (v: readonly string[] | null | undefined): readonly string[] => v ?? [];
const sameList = (a: readonly string[] | null | undefined, b: readonly string[] | null | undefined) => jsonEqual(list(a), list(b));

/** The spec fields counted by their own kinds (sync_standbys, followers), left out of `dbs`. */
function otherSpec(s: DBSpec): Partial<DBSpec> {
  const { synchronousStandbys: _s, externalSynchronousStandbys: _e, followConfig: _f, followers: _fl, ...rest } = s;
  return rest;
}

function sameKeys(a: object, b: object): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return jsonEqual(ka, kb);
}

/** Pairs of a db present before and after. */
function commonDbs(before: ClusterData, after: ClusterData): [DB, DB][] {
  const out: [DB, DB][] = [];
  for (const [uid, a] of Object.entries(after.dbs)) {
    const b = before.dbs[uid];
    if (b) out.push([b, a]);
  }
  return out;
}

/**
 * The kinds of decision one write of `after` over `before` makes; several when it does several
 * things (a new master also changes the followers and the proxy's target):
 *
 *  - master: cluster.status.master names another db (a new master elected, the first one included)
 *  - sync_standbys: a db's synchronousStandbys or externalSynchronousStandbys changed
 *  - followers: a db's followConfig or followers changed
 *  - dbs: a db added or removed, or any other field of a db's spec changed (role, parameters...)
 *  - keepers: a keeper added or removed, or its state changed (healthy, failkeeper, can be master...)
 *  - proxy: the proxy spec (the barrier: masterDbUid, enabled proxies, a switchover's hold) or its generation changed
 *  - switchover: the switchover moved (a phase, a step line, its outcome)
 *  - pause: the pause was set, changed or cleared (the sentinel clears it when it ends)
 *  - status: nothing above; only what keepers report (WAL positions, generations reached, db health)
 *
 * `change` is decide()'s: "none" gives no kind, "status" only "status" (decide() already found
 * nothing but reported figures changed).
 */
export function decisionKinds(before: ClusterData, after: ClusterData, change: Change): DecisionKind[] {
  if (change === "none") return [];
  if (change === "status") return ["status"];
  const kinds: DecisionKind[] = [];
  const newMaster = after.cluster.status.master;
  if (newMaster && newMaster !== before.cluster.status.master) kinds.push("master");
  const pairs = commonDbs(before, after);
  if (pairs.some(([b, a]) => !sameList(b.spec.synchronousStandbys, a.spec.synchronousStandbys) || !sameList(b.spec.externalSynchronousStandbys, a.spec.externalSynchronousStandbys)))
    kinds.push("sync_standbys");
  if (pairs.some(([b, a]) => !jsonEqual(b.spec.followConfig ?? null, a.spec.followConfig ?? null) || !sameList(b.spec.followers, a.spec.followers)))
    kinds.push("followers");
  if (!sameKeys(before.dbs, after.dbs) || pairs.some(([b, a]) => !jsonEqual(otherSpec(b.spec), otherSpec(a.spec)))) kinds.push("dbs");
  if (
    !sameKeys(before.keepers, after.keepers) ||
    Object.entries(after.keepers).some(([uid, a]) => {
      const b = before.keepers[uid];
      if (!b) return true;
      const { lastHealthyTime: _x, ...sa } = a.status;
      const { lastHealthyTime: _y, ...sb } = b.status;
      return !jsonEqual(sa, sb);
    })
  )
    kinds.push("keepers");
  if (before.proxy.generation !== after.proxy.generation || !jsonEqual(before.proxy.spec, after.proxy.spec)) kinds.push("proxy");
  if (!jsonEqual(before.switchover ?? null, after.switchover ?? null)) kinds.push("switchover");
  if (!jsonEqual(before.pause ?? null, after.pause ?? null)) kinds.push("pause");
  if (kinds.length === 0) kinds.push("status");
  return kinds;
}

/**
 * Whether the current master (cluster.status.master of `before`) looked failed at this tick: its
 * keeper marked for failure (stolonctl failkeeper, read from `before`), or decide() found its
 * keeper or its db unhealthy, or its db is gone (`after`). The failover clock starts at the first
 * tick where this is true. Null when there is no master.
 */
export function masterLooksFailed(before: ClusterData, after: ClusterData): { db: string; why: string } | null {
  const db = before.cluster.status.master;
  if (!db) return null;
  const keeper = before.dbs[db]?.spec.keeperUID ?? "";
  if (before.keepers[keeper]?.status.forceFail) return { db, why: `failkeeper was asked for keeper ${keeper}` };
  const a = after.dbs[db];
  if (!a) return { db, why: `db ${db} was removed` };
  // Stopped on purpose by a switchover: failed only with its keeper.
  if (a.spec.stopForSwitchover !== undefined && after.keepers[a.spec.keeperUID]?.status.healthy === true) return null;
  if (after.keepers[a.spec.keeperUID]?.status.healthy === false) return { db, why: `keeper ${a.spec.keeperUID} is unhealthy` };
  if (a.status.healthy === false) return { db, why: `db ${db} is unhealthy` };
  return null;
}

/**
 * A write that names another master than the one before (not the first election): a failover,
 * unless it is a switchover's promotion (isSwitchoverPromotion).
 */
export function isFailover(before: ClusterData, after: ClusterData): boolean {
  const old = before.cluster.status.master;
  const now = after.cluster.status.master;
  return !!old && !!now && old !== now && !isSwitchoverPromotion(before, after);
}

/** A write in which a switchover promoted its target (it entered "promoting" with that master). */
export function isSwitchoverPromotion(before: ClusterData, after: ClusterData): boolean {
  const sw = after.switchover;
  return !!sw && sw.phase === "promoting" && before.switchover?.phase !== "promoting" && after.cluster.status.master === sw.toDb;
}

export type SwitchoverEnd = "done" | "failed" | "rolled-back";

/** The switchover this write ended (its phase and, for "done", ms from acceptance), or null. */
export function switchoverEnded(before: ClusterData, after: ClusterData): { outcome: SwitchoverEnd; durationMs: number } | null {
  const sw = after.switchover;
  if (!sw || (sw.phase !== "done" && sw.phase !== "failed" && sw.phase !== "rolled-back")) return null;
  if (before.switchover?.id === sw.id && before.switchover.phase === sw.phase) return null;
  const accepted = sw.acceptedAt ? Date.parse(sw.acceptedAt) : NaN;
  return { outcome: sw.phase, durationMs: sw.phase === "done" ? Date.parse(sw.phaseTime) - accepted : NaN };
}
