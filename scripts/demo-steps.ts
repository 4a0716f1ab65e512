/**
 * The demo's start-up steps after `stolonctl init`, as pure checks of one observation of the
 * cluster (etcd's cluster data, keeper infos, the sentinel election, and each component's /ready
 * report): keepers registered, a sentinel leader, a master, the standbys streaming, the proxy
 * routing to the master. Each check says whether its step is done, a line for when it is, a
 * detail for "still waiting", and the components a timeout of the step concerns (whose log
 * tails are shown).
 */
import type { ClusterData, DB, KeeperInfo } from "../src/cluster/index.ts";
import type { HealthReport } from "../src/lib/health.ts";

/** One look at the cluster; absent parts are null or empty (etcd or a component did not answer). */
export interface Observation {
  cd: ClusterData | null;
  /** KeeperInfo by keeper uid (the demo's keeper uids are their names: keeper1 ...). */
  keepers: Record<string, KeeperInfo>;
  /** The leader sentinel's uid. */
  leaderUid: string | null;
  /** Each component's /ready report, by name (sentinel1, keeper2, proxy ...); null when it did not answer. */
  ready: Record<string, HealthReport | null>;
}

export interface StepCheck {
  done: boolean;
  /** When done: what was reached ("master on keeper2"). */
  result: string;
  /** When done: how, if worth saying ("initdb"), shown with the time. */
  via?: string;
  /** When not done: what is known so far, for "still waiting". */
  detail: string;
  /** The components whose logs tell why the step is not done. */
  concerned: string[];
}

export interface Step {
  /** "a master": used as "waiting for a master". */
  what: string;
  check(o: Observation, keeperNames: string[]): StepCheck;
}

/** The sentinel's name (sentinel1 ...) whose /ready report carries this uid, else the uid. */
export function sentinelName(o: Observation, uid: string): string {
  const hit = Object.entries(o.ready).find(([name, r]) => name.startsWith("sentinel") && r?.uid === uid);
  return hit ? hit[0] : uid;
}

const SENTINELS = ["sentinel1", "sentinel2"];

function leaderName(o: Observation): string | null {
  return o.leaderUid ? sentinelName(o, o.leaderUid) : null;
}

/** The leader sentinel, or both when there is none: whose logs tell about a decision not taken. */
function deciders(o: Observation): string[] {
  const l = leaderName(o);
  return l && SENTINELS.includes(l) ? [l] : SENTINELS;
}

/** "keeper1: PostgreSQL is not running" from a component's /ready report. */
function readiness(o: Observation, name: string): string {
  const r = o.ready[name];
  return r ? `${name}: ${r.ready.reason}` : `${name}: no answer on its admin port`;
}

function lastDecision(o: Observation): string {
  const notes = o.cd?.lastDecision?.notes ?? [];
  return notes.length ? `; leader's last decision: ${notes.slice(-2).join("; ")}` : "";
}

function masterDb(cd: ClusterData | null): DB | undefined {
  const m = cd?.cluster.status.master;
  return m ? cd?.dbs[m] : undefined;
}

function converged(db: DB): boolean {
  return !!db.status.healthy && db.status.currentGeneration === db.generation;
}

/** The keepers whose db is a healthy, converged standby of the master. */
function streaming(cd: ClusterData | null): string[] {
  const m = masterDb(cd);
  if (!cd || !m) return [];
  return Object.values(cd.dbs)
    .filter((d) => d.uid !== m.uid && converged(d) && d.spec.followConfig?.dbuid === m.uid)
    .map((d) => d.spec.keeperUID)
    .sort();
}

const keepersRegistered: Step = {
  what: "the keepers to register",
  check(o, names) {
    const missing = names.filter((k) => !o.keepers[k]);
    const n = `${names.length - missing.length}/${names.length}`;
    return {
      done: missing.length === 0,
      result: `${n} keepers registered`,
      detail: `${n}; ${missing.map((k) => readiness(o, k)).join("; ")}`,
      concerned: missing,
    };
  },
};

const sentinelLeader: Step = {
  what: "a sentinel leader",
  check(o) {
    const l = leaderName(o);
    return { done: l !== null, result: `sentinel leader: ${l}`, detail: SENTINELS.map((s) => readiness(o, s)).join("; "), concerned: SENTINELS };
  },
};

const master: Step = {
  what: "a master",
  check(o, names) {
    const m = masterDb(o.cd);
    if (!m) return { done: false, result: "", detail: `none elected yet${lastDecision(o)}`, concerned: [...deciders(o), ...names] };
    const k = m.spec.keeperUID;
    return {
      done: converged(m),
      result: `master on ${k}`,
      via: "initdb",
      detail: `${k} elected, its PostgreSQL not ready yet (initdb): ${readiness(o, k)}`,
      concerned: [k, ...deciders(o)],
    };
  },
};

const standbys: Step = {
  what: "the standbys to stream",
  check(o, names) {
    const m = masterDb(o.cd);
    const others = names.filter((k) => k !== m?.spec.keeperUID);
    const ok = streaming(o.cd);
    const waiting = others.filter((k) => !ok.includes(k));
    const n = `${ok.length}/${others.length}`;
    return {
      done: !!m && converged(m) && waiting.length === 0,
      result: `${n} standbys streaming from ${m?.spec.keeperUID}: ${ok.join(", ")}`,
      via: "pg_basebackup",
      detail: `${n}; ${waiting.map((k) => readiness(o, k)).join("; ")}${lastDecision(o)}`,
      concerned: m ? [...waiting, ...deciders(o)] : [...deciders(o), ...names],
    };
  },
};

const proxyRouting: Step = {
  what: "the proxy to route to the master",
  check(o, names) {
    const m = masterDb(o.cd);
    const cd = o.cd;
    const routed = !!cd && !!m && cd.proxy.spec.masterDbUid === m.uid && (cd.proxy.spec.enabledProxies ?? []).length > 0;
    const settled = !!m && converged(m) && streaming(cd).length === names.length - 1;
    return {
      done: routed && settled && o.ready.proxy?.ready.ok === true,
      result: `proxy routing to the master on ${m?.spec.keeperUID}`,
      detail: `${readiness(o, "proxy")}${routed ? "" : "; the master is not enabled for the proxies yet"}${lastDecision(o)}`,
      concerned: ["proxy", ...deciders(o)],
    };
  },
};

/** In order; each waits until its check holds (later ones may already hold). */
export const DEMO_STEPS: readonly Step[] = [keepersRegistered, sentinelLeader, master, standbys, proxyRouting];
