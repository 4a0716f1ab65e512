import {
  activePause,
  keeperPriority,
  describeInvalidInfo,
  formatBytes,
  masterDb,
  type ClusterData,
  type DB,
  type KeeperInfo,
  type KeeperInit,
  type Pause,
  type Switchover,
} from "../cluster/index.ts";
import { lsnText } from "../cluster/format.ts";
import type { Election, Store } from "../store/index.ts";
import type { CtlIO } from "./io.ts";
import { describePause } from "./pause.ts";
import { requireClusterData } from "./spec.ts";
import { renderStolonJson, renderStolonText, stolonStatus } from "./stolon-status.ts";

export interface StatusReport {
  basePath: string;
  initialized: boolean;
  sentinels: { uid: string; leader: boolean }[];
  leader: string | null;
  proxies: { uid: string; generation: number; enabled: boolean }[];
  keepers: {
    uid: string;
    healthy: boolean | null;
    publishing: boolean;
    listenAddress: string | null;
    pgHealthy: boolean | null;
    dbUid: string | null;
    role: string | null;
    wantedGeneration: number | null;
    currentGeneration: number | null;
    /** Bytes of WAL behind the master, from the last reported positions (standbys only). */
    lagBytes: number | null;
    /** The keeper publishes that it runs with --allow-trust-on-network and a trust auth method. */
    trustOnNetwork: boolean;
    /** Its --priority: from its info, else as the sentinel last copied it; null when neither says. */
    priority: number | null;
    /** Its report of a db initialization (pitr restore) in progress or failed, or null. */
    init: KeeperInit | null;
  }[];
  cluster: null | {
    uid: string;
    phase: string;
    masterDb: string | null;
    masterKeeper: string | null;
    initMode: string | undefined;
  };
  tree: string[];
  lastDecision: ClusterData["lastDecision"] | null;
  /** The pause in force (stolonctl pause), or null; `ended` when its `until` has passed (the sentinel clears it). */
  pause: (Pause & { ended: boolean }) | null;
  /** The current switchover, or the last one (it stays until the next request). */
  switchover: Switchover | null;
  /** Info keys that could not be decoded or failed their check (treated as absent), with why. */
  invalidInfos: string[];
}

/** Collects everything `stolonctl status` shows. Works on an empty or initializing cluster. */
export async function collectStatus(store: Store, election: Election, now: Date = new Date()): Promise<StatusReport> {
  const [vcd, sentinels, proxies, keepers, leader] = await Promise.all([
    store.getClusterData(),
    store.getSentinelsInfo(),
    store.getProxiesInfo(),
    store.getKeepersInfo(),
    election.leader(),
  ]);
  const cd = vcd?.clusterData ?? null;
  const enabled = new Set(cd?.proxy.spec.enabledProxies ?? []);
  const dbByKeeper = new Map<string, DB>();
  for (const db of Object.values(cd?.dbs ?? {})) dbByKeeper.set(db.spec.keeperUID, db);
  const keeperUids = [...new Set([...Object.keys(cd?.keepers ?? {}), ...Object.keys(keepers.items)])].sort();
  const master = cd ? masterDb(cd) : undefined;

  return {
    basePath: store.basePath,
    initialized: cd !== null,
    leader,
    sentinels: Object.keys(sentinels.items)
      .sort()
      .map((uid) => ({ uid, leader: uid === leader })),
    proxies: Object.values(proxies.items)
      .sort((a, b) => a.UID.localeCompare(b.UID))
      .map((p) => ({ uid: p.UID, generation: p.Generation, enabled: enabled.has(p.UID) })),
    keepers: keeperUids.map((uid) => {
      const k = cd?.keepers[uid];
      const db = dbByKeeper.get(uid);
      const info: KeeperInfo | undefined = keepers.items[uid];
      const addr = db?.status.listenAddress
        ? `${db.status.listenAddress}:${db.status.port ?? ""}`
        : info?.postgresState
          ? `${info.postgresState.listenAddress}:${info.postgresState.port}`
          : null;
      return {
        uid,
        healthy: k ? (k.status.healthy ?? false) : null,
        publishing: info !== undefined,
        listenAddress: addr,
        pgHealthy: db ? (db.status.healthy ?? false) : null,
        dbUid: db?.uid ?? null,
        role: db?.spec.role ?? null,
        wantedGeneration: db?.generation ?? null,
        currentGeneration: db ? (db.status.currentGeneration ?? 0) : null,
        lagBytes:
          db && master && db.uid !== master.uid && db.status.xLogPos !== undefined && master.status.xLogPos !== undefined
            ? Math.max(0, master.status.xLogPos - db.status.xLogPos)
            : null,
        trustOnNetwork: info?.trustOnNetwork === true,
        priority: info ? keeperPriority(info) : (k?.status.priority ?? null),
        init: info?.init ?? null,
      };
    }),
    cluster: cd && {
      uid: cd.cluster.uid,
      phase: cd.cluster.status.phase,
      masterDb: master?.uid ?? null,
      masterKeeper: master?.spec.keeperUID ?? null,
      initMode: cd.cluster.spec.initMode,
    },
    tree: cd ? followerTree(cd) : [],
    lastDecision: cd?.lastDecision ?? null,
    pause: cd?.pause ? { ...cd.pause, ended: activePause(cd, now) === null } : null,
    switchover: cd?.switchover ?? null,
    invalidInfos: [...sentinels.invalid, ...proxies.invalid, ...keepers.invalid].map(describeInvalidInfo),
  };
}

/** The master and, below it, every DB that follows it, recursively, as text lines. */
export function followerTree(cd: ClusterData): string[] {
  const master = masterDb(cd);
  if (!master) return [];
  const lines: string[] = [];
  const seen = new Set<string>();
  const walk = (db: DB, prefix: string, childPrefix: string, label: string) => {
    if (seen.has(db.uid)) return;
    seen.add(db.uid);
    lines.push(`${prefix}${db.spec.keeperUID}${label}`);
    const children = (db.spec.followers ?? []).map((uid) => cd.dbs[uid]).filter((d): d is DB => d !== undefined);
    children.sort((a, b) => a.spec.keeperUID.localeCompare(b.spec.keeperUID));
    children.forEach((child, i) => {
      const last = i === children.length - 1;
      walk(child, childPrefix + (last ? "└─" : "├─"), childPrefix + (last ? "  " : "│ "), "");
    });
  };
  walk(master, "", "", " (master)");
  return lines;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return [fmt(header), ...rows.map(fmt)].join("\n");
}

const yn = (v: boolean | null) => (v === null ? "-" : v ? "yes" : "no");
const num = (v: number | null) => (v === null ? "-" : String(v));

/** The first line of the text status while paused. */
export function pauseLine(p: Pause & { ended: boolean }): string {
  if (p.ended) return `PAUSE ENDED at ${p.until} (the leader sentinel clears it on its next tick): was paused ${describePause(p)}`;
  return `PAUSED (maintenance mode: no failover, demotion or removal) ${describePause(p)}`;
}

/** Lines of a failed command's output shown by `stolonctl status` (the keeper keeps the last 4000 characters). */
export const INIT_OUTPUT_LINES = 10;

/**
 * Text from a keeper's info as it may reach a terminal: control characters but the tab (escape
 * sequences, carriage returns, C1 controls) written as \xNN, so a hostile info cannot redraw the screen.
 */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * The initialization section: one line per keeper that reports one (phase, since, detail, replay
 * progress), and below a failed one the last lines of the command's output.
 */
export function initLines(keepers: StatusReport["keepers"]): string[] {
  const lines: string[] = [];
  for (const k of keepers) {
    const i = k.init;
    if (!i) continue;
    const progress = [
      i.replayedXLogPos !== undefined ? `replayed to ${lsnText(i.replayedXLogPos)}` : "",
      i.lastReplayTime !== undefined ? `last replayed transaction ${printable(i.lastReplayTime)}` : "",
    ].filter((x) => x !== "");
    const phase = i.phase === "failed" ? "FAILED" : i.phase;
    lines.push(`keeper ${k.uid}, db ${printable(i.dbUid)}: ${phase} since ${printable(i.since)}: ${printable(i.detail)}${progress.length ? ` (${progress.join(", ")})` : ""}`);
    if (i.phase === "failed" && i.output) {
      const out = i.output.split(/\r?\n/).filter((l) => l.trim() !== "").slice(-INIT_OUTPUT_LINES);
      lines.push(...out.map((l) => `  | ${printable(l)}`));
    }
  }
  return lines;
}

/** The switchover section: id, phase, target, outcome and the last step. */
export function switchoverLines(s: Switchover): string[] {
  const target = s.to !== undefined ? `to keeper ${s.to}` : "to the best eligible standby";
  const lines = [`Switchover ${s.id} ${target}, requested ${s.requestedAt}: phase ${s.phase} since ${s.phaseTime}`];
  if (s.fromDb || s.toDb) lines.push(`From db ${s.fromDb ?? "-"} to db ${s.toDb ?? "-"}`);
  if (s.outcome) lines.push(`Outcome: ${s.outcome}`);
  const last = s.steps?.at(-1);
  if (last && !s.outcome) lines.push(`Last step: ${last.time}  ${last.text}`);
  return lines;
}

export function renderStatusText(r: StatusReport): string {
  const out: string[] = [];
  if (r.pause) out.push(pauseLine(r.pause), "");
  out.push("=== Active sentinels ===");
  out.push(r.sentinels.length ? table(["ID", "LEADER"], r.sentinels.map((s) => [s.uid, yn(s.leader)])) : "No active sentinels");
  out.push("", "=== Active proxies ===");
  out.push(
    r.proxies.length
      ? table(["ID", "ENABLED", "GENERATION"], r.proxies.map((p) => [p.uid, yn(p.enabled), String(p.generation)]))
      : "No active proxies",
  );
  out.push("", "=== Keepers ===");
  out.push(
    r.keepers.length
      ? table(
          ["UID", "HEALTHY", "PUBLISHING", "PG LISTENADDRESS", "PG HEALTHY", "ROLE", "PRIORITY", "LAG", "PG WANTEDGENERATION", "PG CURRENTGENERATION"],
          r.keepers.map((k) => [
            k.uid,
            yn(k.healthy),
            yn(k.publishing),
            k.listenAddress ?? "-",
            yn(k.pgHealthy),
            k.role ?? "-",
            num(k.priority),
            k.lagBytes === null ? "-" : formatBytes(k.lagBytes),
            num(k.wantedGeneration),
            num(k.currentGeneration),
          ]),
        )
      : "No keepers",
  );
  const init = initLines(r.keepers);
  if (init.length) out.push("", "=== Initialization (pitr restore) ===", ...init);
  for (const k of r.keepers.filter((k) => k.trustOnNetwork))
    out.push(`WARNING: keeper ${k.uid} runs with --allow-trust-on-network: anyone who can reach its PostgreSQL port connects with no password`);
  out.push("", "=== Cluster Info ===");
  if (!r.cluster) out.push(`Cluster not initialized at ${r.basePath} (run "stolonctl init")`);
  else {
    out.push(`Cluster UID: ${r.cluster.uid}`, `Phase: ${r.cluster.phase}`, `Init mode: ${r.cluster.initMode}`);
    out.push(r.cluster.masterKeeper ? `Master Keeper: ${r.cluster.masterKeeper}` : "No master");
    out.push("", "===== Keepers/DB tree =====");
    out.push(r.tree.length ? r.tree.join("\n") : "(no master yet)");
  }
  if (r.switchover) out.push("", "=== Switchover ===", ...switchoverLines(r.switchover));
  if (r.lastDecision) {
    out.push("", `=== Last decision (${r.lastDecision.time}, sentinel ${r.lastDecision.sentinelUID}) ===`);
    out.push(...r.lastDecision.notes.map((n) => `- ${n}`));
  }
  if (r.invalidInfos.length) out.push("", "=== Ignored invalid info keys ===", ...r.invalidInfos);
  return out.join("\n");
}

/**
 * The formats of `stolonctl status -f`: ours (text, json) and stolon v0.17's (stolon, its text
 * layout; stolon-json, what stolon's `-f json` prints), see stolon-status.ts.
 */
export const STATUS_FORMATS = ["text", "json", "stolon", "stolon-json"] as const;
export type StatusFormat = (typeof STATUS_FORMATS)[number];

/** `stolonctl status [-f text|json|stolon|stolon-json]`. */
export async function showStatus(store: Store, election: Election, io: CtlIO, opts: { format: StatusFormat }) {
  if (opts.format === "stolon" || opts.format === "stolon-json") {
    // As stolon's: an uninitialized or unusable cluster data is an error, not a report.
    const [{ clusterData }, sentinels, proxies, leader] = await Promise.all([
      requireClusterData(store),
      store.getSentinelsInfo(),
      store.getProxiesInfo(),
      election.leader(),
    ]);
    const st = stolonStatus(clusterData, sentinels, proxies, leader);
    io.out(opts.format === "stolon" ? renderStolonText(st, clusterData) : renderStolonJson(st));
    return;
  }
  const report = await collectStatus(store, election, io.now());
  io.out(opts.format === "json" ? JSON.stringify(report, null, 2) : renderStatusText(report));
}
