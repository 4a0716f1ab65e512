/**
 * Builders for the planned-operation tables (switchover, pause, priority): a steady three-keeper
 * cluster (master m on k1, standbys s on k2 and t on k3), the infos its keepers and proxies
 * publish, and a runner that carries the sentinel's memory from tick to tick. Every input is
 * deep-frozen, so a decide() that mutates one throws.
 */
import {
  decide,
  freshMemory,
  type ClusterData,
  type ClusterSpec,
  type DecideOutput,
  type KeeperInfo,
  type Pause,
  type PostgresState,
  type ProxyInfo,
  type SentinelMemory,
  type Switchover,
} from "../../../src/cluster/index.ts";
import { deepFreeze, steadyCluster, steadyDb } from "../../harness/builders.ts";
import { keeperInfoFor } from "../../harness/info-builders.ts";

export const WALL = Date.parse("2026-12-01T12:00:00Z");
export const NOW = 10_000_000;
export const MiB = 1024 * 1024;
export const at = (ms: number) => new Date(WALL + ms).toISOString();

export interface ThreeOpts {
  spec?: Partial<ClusterSpec>;
  /** xLogPos of m, s, t (default 5 MiB each). */
  xlog?: { m?: number; s?: number; t?: number };
  /** Keeper status priorities (what the sentinel copied from the infos). */
  priority?: Record<string, number>;
  switchover?: Switchover;
  pause?: Pause;
  enabledProxies?: string[];
  /** Leave out db t and keeper k3. */
  two?: boolean;
}

/** Master m on k1, standbys s on k2 and t on k3, healthy and converged, proxies routed to m. */
export function three(o: ThreeOpts = {}): ClusterData {
  const cd = steadyCluster({ sleepInterval: "1s", failInterval: "5s", maxStandbysPerSender: 2, ...o.spec }, { enabledProxies: o.enabledProxies });
  const x = { m: 5 * MiB, s: 5 * MiB, t: 5 * MiB, ...o.xlog };
  cd.dbs.m!.status.xLogPos = x.m;
  cd.dbs.s!.status.xLogPos = x.s;
  if (!o.two) {
    cd.keepers.k3 = structuredClone(cd.keepers.k2!);
    cd.keepers.k3.uid = "k3";
    cd.keepers.k3.status.bootUUID = "boot-k3";
    cd.dbs.t = steadyDb("t", "k3", "standby", { xlog: x.t });
    cd.dbs.m!.spec.followers = ["s", "t"];
  }
  for (const [k, p] of Object.entries(o.priority ?? {})) cd.keepers[k]!.status.priority = p;
  if (o.switchover) cd.switchover = o.switchover;
  if (o.pause) cd.pause = o.pause;
  return deepFreeze(cd);
}

/** A request as stolonctl writes it. */
export function request(o: Partial<Switchover> = {}): Switchover {
  return { id: "sw1", requestedAt: at(-1000), timeout: "30s", drainTimeout: "5s", phase: "requested", phaseTime: at(-1000), steps: [], ...o };
}

export type InfoOver = Partial<PostgresState> & { missing?: boolean; priority?: number; canBeMaster?: boolean };

/** What each keeper publishes about the db it holds in `cd`, with `over` per keeper; `tick` makes infoUIDs new. */
export function keeperInfos(cd: ClusterData, over: Record<string, InfoOver> = {}, tick = 0): Record<string, KeeperInfo> {
  const out: Record<string, KeeperInfo> = {};
  for (const k of Object.keys(cd.keepers)) {
    const { missing, priority, canBeMaster, ...ps } = over[k] ?? {};
    if (missing) continue;
    const d = Object.values(cd.dbs).find((x) => x.spec.keeperUID === k);
    const info = keeperInfoFor(cd, k, {
      infoUID: `i-${k}-${tick}`,
      clusterUID: "c1",
      canBeMaster: canBeMaster ?? true,
      ...(priority !== undefined ? { priority } : {}),
      pg: { generation: d?.generation ?? 0, port: "5432", ...ps },
    });
    out[k] = info;
  }
  return deepFreeze(out);
}

/** Every enabled proxy of `cd`, acknowledging its proxy generation; `drained` when given. */
export function proxyInfos(cd: ClusterData, o: { drained?: string; only?: string[]; tick?: number } = {}): Record<string, ProxyInfo> {
  const out: Record<string, ProxyInfo> = {};
  for (const p of o.only ?? cd.proxy.spec.enabledProxies ?? []) {
    out[p] = { infoUID: `p-${p}-${o.tick ?? 0}`, UID: p, Generation: cd.proxy.generation, ProxyTimeout: 15e9 };
    if (o.drained) out[p]!.drained = o.drained;
  }
  return deepFreeze(out);
}

export interface RunOpts {
  infos?: Record<string, KeeperInfo>;
  proxies?: Record<string, ProxyInfo>;
  memory?: SentinelMemory;
  /** Milliseconds after WALL / NOW. */
  after?: number;
}

export function run(cd: ClusterData, o: RunOpts = {}): DecideOutput {
  let n = 0;
  return decide({
    clusterData: cd,
    keepersInfo: o.infos ?? keeperInfos(cd),
    proxiesInfo: o.proxies ?? proxyInfos(cd),
    memory: deepFreeze(o.memory ?? freshMemory()),
    now: NOW + (o.after ?? 0),
    wallNow: WALL + (o.after ?? 0),
    sentinelUID: "s1",
    newUid: () => `new${++n}`,
  });
}

export const notes = (r: { notes: string[] }) => r.notes.join("\n");

/** The keepers caught up: every db reports the generation it was asked for. */
export function converge(cd: ClusterData): ClusterData {
  const c = structuredClone(cd);
  for (const d of Object.values(c.dbs)) d.status.currentGeneration = d.generation;
  return deepFreeze(c);
}
