/**
 * `stolonctl status --explain` and `stolonctl explain`: a dry run of the leader sentinel's next
 * tick. It reads the cluster data and every info, runs the same pure decide() the sentinel runs,
 * writes nothing, and prints what would change (a compact diff), the notes, and the election's
 * candidate table (rankCandidates) with the rule that excluded each.
 *
 * decide() is given an EMPTY memory: the sentinel's timers (how long a keeper has been silent or a
 * db unhealthy) live in its process, not in etcd, so here every failure timer starts now. A master
 * that the leader is about to fail over because it has been gone for failInterval is therefore
 * shown as not failed yet; the output says so.
 */
import {
  decide,
  freshMemory,
  type ClusterData,
  type KeeperInfo,
  type ProxyInfo,
  type InvalidInfo,
  type RankedCandidate,
} from "../cluster/index.ts";
import { describeInvalidInfo } from "../cluster/index.ts";
import type { Store } from "../store/index.ts";
import type { CtlIO } from "./io.ts";
import { requireClusterData } from "./spec.ts";

/** Fields that change on every report or write: not what "would change" means. */
const VOLATILE = new Set(["changeTime", "lastDecision", "lastHealthyTime", "xLogPos", "olderWalFile", "timelinesHistory", "pgParameters"]);

export const EXPLAIN_MEMORY_NOTE =
  "dry run with an empty sentinel memory: failure and convergence timers start from now, so a keeper or db the leader already counts as failed may show as not failed yet";

export interface ExplainReport {
  note: string;
  /** "none": nothing would change; "status": only reported figures; "decision": anything else. */
  change: "none" | "status" | "decision";
  /** One line per changed value: "db abc (keeper1) spec.role: \"standby\" -> \"master\"". */
  diff: string[];
  notes: string[];
  candidates: RankedCandidate[];
  invalidInfos: string[];
}

export interface ExplainInput {
  clusterData: ClusterData;
  keepersInfo: Record<string, KeeperInfo>;
  proxiesInfo: Record<string, ProxyInfo>;
  invalidInfos?: InvalidInfo[];
  now: Date;
  newUid: () => string;
}

/** The dry run itself: pure, on what was read. */
export function explainDecision(i: ExplainInput): ExplainReport {
  const out = decide({
    clusterData: i.clusterData,
    keepersInfo: i.keepersInfo,
    proxiesInfo: i.proxiesInfo,
    invalidInfos: i.invalidInfos ?? [],
    memory: freshMemory(),
    now: i.now.getTime(),
    wallNow: i.now.getTime(),
    sentinelUID: "stolonctl-explain",
    newUid: i.newUid,
  });
  return {
    note: EXPLAIN_MEMORY_NOTE,
    change: out.change,
    diff: out.change === "decision" ? diffClusterData(i.clusterData, out.clusterData) : [],
    notes: out.notes,
    // decide()'s ranking (rankCandidates): the one it elected with, else the one a failover would use now.
    candidates: out.candidates,
    invalidInfos: (i.invalidInfos ?? []).map(describeInvalidInfo),
  };
}

/** A readable name for a path's first two parts: "db abc (keeper1)", "keeper keeper1", "proxy". */
function placeName(cd: ClusterData, next: ClusterData, path: string[]): { name: string; rest: string[] } {
  const [top, uid, ...rest] = path;
  if (top === "dbs" && uid !== undefined) {
    const keeper = (cd.dbs[uid] ?? next.dbs[uid])?.spec.keeperUID;
    return { name: `db ${uid}${keeper ? ` (${keeper})` : ""}`, rest };
  }
  if (top === "keepers" && uid !== undefined) return { name: `keeper ${uid}`, rest };
  return { name: top ?? "", rest: uid === undefined ? [] : [uid, ...rest] };
}

const show = (v: unknown) => (v === undefined ? "(absent)" : JSON.stringify(v));

/** Every leaf that differs between two cluster datas, volatile fields left out; a whole new or removed object is one line. */
export function diffClusterData(a: ClusterData, b: ClusterData): string[] {
  const lines: string[] = [];
  const walk = (x: unknown, y: unknown, path: string[]) => {
    if (VOLATILE.has(path[path.length - 1] ?? "")) return;
    const objects = x !== null && y !== null && typeof x === "object" && typeof y === "object" && !Array.isArray(x) && !Array.isArray(y);
    if (objects) {
      const xs = x as Record<string, unknown>;
      const ys = y as Record<string, unknown>;
      for (const k of [...new Set([...Object.keys(xs), ...Object.keys(ys)])].sort()) walk(xs[k], ys[k], [...path, k]);
      return;
    }
    if (JSON.stringify(x) === JSON.stringify(y)) return;
    const { name, rest } = placeName(a, b, path);
    const where = rest.length ? `${name} ${rest.join(".")}` : name;
    if (x === undefined) lines.push(`${where}: added ${show(y)}`);
    else if (y === undefined) lines.push(`${where}: removed`);
    else lines.push(`${where}: ${show(x)} -> ${show(y)}`);
  };
  walk(a, b, []);
  return lines;
}

function candidateRow(c: RankedCandidate): string[] {
  const verdict = c.chosen ? `CHOSEN${c.rule ? `: ${c.rule}` : ""}` : c.excludedBy ? `excluded: ${c.excludedBy}` : "eligible";
  return [c.keeperUid, c.dbUid, String(c.xLogPos), String(c.priority), verdict];
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return [fmt(header), ...rows.map(fmt)];
}

export function renderExplainText(r: ExplainReport): string {
  const out: string[] = [`(${r.note})`, "", "=== What the leader sentinel would change now ==="];
  if (r.change === "none") out.push("nothing");
  else if (r.change === "status") out.push("only reported figures (positions, health times): no decision");
  else out.push(...r.diff);
  out.push("", "=== Notes ===", ...(r.notes.length ? r.notes.map((n) => `- ${n}`) : ["(none)"]));
  out.push("", "=== Candidates for master (best first) ===");
  if (r.candidates.length === 0) out.push("(no standby)");
  else out.push(...table(["KEEPER", "DB", "XLOGPOS", "PRIORITY", "VERDICT"], r.candidates.map(candidateRow)));
  if (r.invalidInfos.length) out.push("", "=== Ignored invalid info keys ===", ...r.invalidInfos);
  return out.join("\n");
}

/** `stolonctl explain [-f text|json]` (also `stolonctl status --explain`). */
export async function showExplain(store: Store, io: CtlIO, opts: { format: "text" | "json" }): Promise<void> {
  const [{ clusterData }, keepers, proxies] = await Promise.all([requireClusterData(store), store.getKeepersInfo(), store.getProxiesInfo()]);
  const report = explainDecision({
    clusterData,
    keepersInfo: keepers.items,
    proxiesInfo: proxies.items,
    invalidInfos: [...keepers.invalid, ...proxies.invalid],
    now: io.now(),
    newUid: io.newUid,
  });
  io.out(opts.format === "json" ? JSON.stringify(report, null, 2) : renderExplainText(report));
}
