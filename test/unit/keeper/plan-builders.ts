/**
 * Builders for the planKeeper tables (plan.test.ts, plan-steps.test.ts): a view, a db, the
 * keeper's settings and local observations, each deep-frozen so a planner that mutates throws.
 */
import type { ClusterData, DB, DBSpec, WipeConfirmation } from "../../../src/cluster/index.ts";
import { desiredConfig, type KeeperPlan, type KeeperSettings, type LocalObservation } from "../../../src/keeper/plan.ts";
import type { DbState } from "../../../src/keeper/local-state.ts";
import { deepFreeze, makeDb as baseDb } from "../../harness/builders.ts";

export { deepFreeze };

export const settings: KeeperSettings = deepFreeze({
  uid: "k1",
  bootUUID: "boot-1",
  pgListenAddress: "10.0.0.1",
  pgPort: 5432,
  socketDir: "/d/run",
  su: { username: "su", authMethod: "md5", hasPassword: true },
  repl: { username: "repl", authMethod: "md5" },
  replPassfile: "/d/pgpass",
});

/** A DB of the shared builder, a master unless `spec` says otherwise. */
export function makeDb(uid: string, spec: Partial<DBSpec> & Pick<DBSpec, "keeperUID">, extra: Partial<DB> = {}): DB {
  return baseDb(uid, { role: "master", ...spec }, extra);
}

export function makeCd(dbs: DB[], o: { keepers?: Record<string, string>; master?: string; clusterUID?: string; confirm?: WipeConfirmation } = {}): ClusterData {
  const keepers = o.keepers ?? { k1: "boot-1", k2: "boot-2" };
  return deepFreeze({
    formatVersion: 1,
    changeTime: "",
    cluster: { uid: o.clusterUID ?? "c1", generation: 1, changeTime: "", spec: { initMode: "new" }, status: { phase: "normal", master: o.master } },
    keepers: Object.fromEntries(Object.entries(keepers).map(([uid, boot]) => [uid, { uid, generation: 1, changeTime: "", spec: {}, status: { bootUUID: boot, ...(uid === "k1" && o.confirm ? { wipeConfirmation: o.confirm } : {}) } }])),
    dbs: Object.fromEntries(dbs.map((d) => [d.uid, d])),
    proxy: { generation: 1, changeTime: "", spec: {}, status: {} },
  } as ClusterData);
}

export const masterOnK2 = (followers: string[] = []) =>
  makeDb("d2", { keeperUID: "k2", role: "master", followers }, { status: { listenAddress: "10.0.0.2", port: "5432", systemdID: "777" } });

export const state = (uid: string, generation = 1, extra: Partial<DbState> = {}): DbState => ({ UID: uid, Generation: generation, Initializing: false, InitPGParameters: null, ...extra });

/** A running, converged local instance whose files match what `cd` asks for. */
export function steady(cd: ClusterData, db: DB, o: Partial<LocalObservation> = {}): LocalObservation {
  const c = desiredConfig({ cd, db, settings }).config;
  if ("wait" in c) throw new Error(c.wait);
  return deepFreeze({
    dbState: state(db.uid, db.generation),
    initialized: true,
    running: true,
    standbySignal: c.standby,
    systemID: "777",
    postgresqlConf: c.postgresqlConf,
    hba: c.hba,
    pendingRestart: [],
    ...o,
  });
}

export const empty: LocalObservation = deepFreeze({
  dbState: null,
  initialized: false,
  running: false,
  standbySignal: false,
  systemID: null,
  postgresqlConf: null,
  hba: null,
  pendingRestart: [],
});

export const kinds = (p: KeeperPlan) => p.actions.map((a) => a.kind);
