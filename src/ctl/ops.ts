/**
 * stolonctl failkeeper, removekeeper and promote: small changes of the cluster data, each written
 * by compare-and-swap and re-applied to fresh data when another writer got there first.
 */
import { masterDb, UID_RE, type ClusterData } from "../cluster/index.ts";
import { ConfigError, StolonError } from "../lib/errors.ts";
import type { Store } from "../store/index.ts";
import { writeClusterDataWithRetry } from "./cas.ts";
import type { CtlIO } from "./io.ts";
import { requireClusterData } from "./spec.ts";

/** Applies `change` to fresh cluster data and writes it; `change` returns the message to print. */
export function modify(store: Store, io: CtlIO, change: (cd: ClusterData) => string): Promise<void> {
  return writeClusterDataWithRetry(
    store,
    (cd) => {
      const msg = change(cd);
      cd.changeTime = io.now().toISOString();
      return msg;
    },
    (msg) => io.out(msg),
  );
}

export function requireKeeper(cd: ClusterData, uid: string): void {
  if (!UID_RE.test(uid)) throw new ConfigError(`"${uid}" is not a keeper uid`);
  if (!cd.keepers[uid]) {
    const known = Object.keys(cd.keepers).sort();
    throw new StolonError("ENOKEEPER", `keeper ${uid} is not in the cluster (keepers: ${known.join(", ") || "none"})`);
  }
}

/** Marks a keeper failed for the sentinel's next pass: a master keeper is failed over. */
export function failKeeper(store: Store, io: CtlIO, uid: string): Promise<void> {
  return modify(store, io, (cd) => {
    requireKeeper(cd, uid);
    cd.keepers[uid]!.status.forceFail = true;
    const master = masterDb(cd);
    return master?.spec.keeperUID === uid
      ? `keeper ${uid} marked failed: the sentinel will elect another master if a standby is eligible`
      : `keeper ${uid} marked failed`;
  });
}

/** Removes a keeper and its db from the cluster data. Refused for the master's keeper. */
export function removeKeeper(store: Store, io: CtlIO, uid: string): Promise<void> {
  return modify(store, io, (cd) => {
    requireKeeper(cd, uid);
    const master = masterDb(cd);
    if (master?.spec.keeperUID === uid)
      throw new StolonError("EMASTERKEEPER", `keeper ${uid} holds the master db ${master.uid}: fail it over first (stolonctl failkeeper ${uid})`);
    delete cd.keepers[uid];
    const removed: string[] = [];
    for (const db of Object.values(cd.dbs)) {
      if (db.spec.keeperUID !== uid) continue;
      delete cd.dbs[db.uid];
      removed.push(db.uid);
    }
    if (master && removed.length > 0) {
      master.spec.followers = (master.spec.followers ?? []).filter((f) => !removed.includes(f));
      master.generation += 1;
    }
    return `keeper ${uid} removed${removed.length ? ` with its db ${removed.join(", ")}` : ""}`;
  });
}

/** Promotes a standby cluster to a master cluster (spec role standby -> master). */
export async function promoteCluster(store: Store, io: CtlIO, opts: { yes: boolean }): Promise<void> {
  const { clusterData } = await requireClusterData(store);
  if ((clusterData.cluster.spec.role ?? "master") !== "standby")
    throw new StolonError("ENOTSTANDBY", "the cluster is not a standby cluster (spec role is master): there is nothing to promote");
  if (!opts.yes && !(await io.confirm("Promote this standby cluster to a master cluster? It stops following its external primary. [y/N] ")))
    throw new StolonError("ECANCELLED", "promote cancelled (use -y to skip the question)");
  await modify(store, io, (cd) => {
    if ((cd.cluster.spec.role ?? "master") !== "standby") throw new StolonError("ENOTSTANDBY", "the cluster was promoted meanwhile");
    cd.cluster.spec = { ...cd.cluster.spec, role: "master" };
    cd.cluster.generation += 1;
    return "cluster promoted: role master";
  });
}
