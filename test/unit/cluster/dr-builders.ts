/**
 * Cluster specs for the disaster-recovery tables (issue 19): a pitr restore to a target time, and
 * a standby cluster fed by an external source. Frozen.
 */
import type { ClusterSpec } from "../../../src/cluster/index.ts";
import { deepFreeze } from "../../harness/builders.ts";

/** initMode pitr: a base backup untarred into the data dir, WAL from an archive, a target time. */
export const PITR: ClusterSpec = deepFreeze({
  initMode: "pitr",
  sleepInterval: "1s",
  failInterval: "5s",
  pgParameters: {},
  pitrConfig: {
    dataRestoreCommand: "tar -xf /backup/base.tar -C %d",
    archiveRecoverySettings: { restoreCommand: "cp /archive/%f %p" },
    recoveryTargetSettings: { recoveryTargetTime: "2026-12-01 11:00:00+00" },
  },
});

/** A standby cluster initialized by a base backup of its source, which it then follows. */
export const STANDBY: ClusterSpec = deepFreeze({
  initMode: "pitr",
  role: "standby",
  sleepInterval: "1s",
  failInterval: "5s",
  pgParameters: {},
  pitrConfig: { dataRestoreCommand: "pg_basebackup -D %d -h source" },
  standbyConfig: {
    standbySettings: { primaryConninfo: "host=source port=25432 user=repl", primarySlotName: "dr" },
    archiveRecoverySettings: { restoreCommand: "cp /archive/%f %p" },
  },
});
