/**
 * stolonctl confirm-wipe <keeper>: the operator's leave for a keeper to remove the data in its
 * data dir that it refuses to remove on the word of the cluster data alone (a former master's,
 * or data it cannot show belongs to another cluster). Recorded in the keeper's status in the
 * cluster data, where the keeper reads it, scoped to the data it holds (its db uid, from the
 * keeper's info or --db) and to the db it is asked to become: a confirmation given for one request
 * never applies to a later one, so it cannot wipe a later master.
 */
import { UID_RE, type WipeConfirmation } from "../cluster/index.ts";
import { ConfigError, StolonError } from "../lib/errors.ts";
import type { Store } from "../store/index.ts";
import type { CtlIO } from "./io.ts";
import { modify, requireKeeper } from "./ops.ts";
import { requireClusterData } from "./spec.ts";

export async function confirmWipe(store: Store, io: CtlIO, uid: string, opts: { db?: string } = {}): Promise<void> {
  if (opts.db !== undefined && opts.db !== "" && !UID_RE.test(opts.db)) throw new ConfigError(`--db: "${opts.db}" is not a db uid`);
  // The db whose data the keeper holds: what it reports (its dbstate), unless the operator names it.
  requireKeeper((await requireClusterData(store)).clusterData, uid);
  let held = opts.db;
  if (held === undefined) {
    const info = (await store.getKeepersInfo()).items[uid];
    held = info?.postgresState?.uid;
    if (held === undefined)
      throw new StolonError("ENOKEEPERINFO", `keeper ${uid} publishes no info (is it running?): name the db whose data it holds with --db <uid>`);
  }
  const dbUID = held;
  await modify(store, io, (cd) => {
    requireKeeper(cd, uid);
    const target = Object.values(cd.dbs).find((d) => d.spec.keeperUID === uid);
    if (!target) throw new StolonError("ENOREQUEST", `no db is assigned to keeper ${uid}: nothing waits for a confirmation`);
    if (target.spec.initMode !== "new" && target.spec.initMode !== "resync")
      throw new StolonError("ENOREQUEST", `db ${target.uid} on keeper ${uid} has initMode ${target.spec.initMode}, which replaces no data: nothing to confirm`);
    if (dbUID === target.uid) throw new StolonError("ENOREQUEST", `keeper ${uid} already holds db ${target.uid}: nothing to confirm`);
    if (dbUID !== "" && cd.cluster.status.master === dbUID)
      throw new StolonError("EMASTERDATA", `db ${dbUID} is this cluster's master: its data is not to be wiped`);
    const c: WipeConfirmation = { dbUID, forDbUID: target.uid, time: io.now().toISOString() };
    cd.keepers[uid]!.status.wipeConfirmation = c;
    return `keeper ${uid} may now remove the data of ${dbUID ? `db ${dbUID}` : "the database it holds"} to become db ${target.uid} (${target.spec.initMode === "new" ? "initdb" : "a full copy"}); this confirmation applies to that request only`;
  });
}
