/**
 * The sentinel's part in keeper integration tests, which write the cluster view themselves: what
 * the sentinel copies from the keepers' infos into the view before each write (each keeper's
 * bootUUID, and its db's reported state once healthy), and the write itself.
 */
import type { ClusterData, KeeperInfo, WipeConfirmation } from "../../../src/cluster/index.ts";
import type { Store } from "../../../src/store/index.ts";

/**
 * Copies into `cd`, as the sentinel does, each keeper's bootUUID (with its wipe confirmation if
 * any) and, for a healthy report, its db's address, system id, timeline (and history), WAL
 * position and converged generation.
 */
export function reflectInfos(cd: ClusterData, infos: Record<string, KeeperInfo>, confirmations: Record<string, WipeConfirmation> = {}): void {
  for (const [uid, info] of Object.entries(infos)) {
    const wipe = confirmations[uid] ? { wipeConfirmation: confirmations[uid] } : {};
    cd.keepers[uid] = { uid, generation: 1, changeTime: new Date().toISOString(), spec: {}, status: { healthy: true, bootUUID: info.bootUUID, ...wipe } };
    const st = info.postgresState;
    const db = st ? cd.dbs[st.uid] : undefined;
    if (!db || !st?.healthy) continue;
    db.status = {
      ...db.status,
      healthy: true,
      listenAddress: st.listenAddress,
      port: st.port,
      systemdID: st.systemID,
      timelineID: st.timelineID,
      timelinesHistory: st.timelinesHistory,
      xLogPos: st.xLogPos,
      currentGeneration: st.generation,
    };
  }
}

/** Writes `cd` over whatever view is stored (created when there is none). */
export async function putView(store: Store, cd: ClusterData): Promise<void> {
  const cur = await store.getClusterData();
  await store.putClusterData(cd, cur?.revision ?? 0);
}
