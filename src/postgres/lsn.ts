/**
 * WAL positions, timeline histories and WAL file names. Pure.
 */
import { StolonError } from "../lib/errors.ts";

/** "16/B374D848" -> its byte position. Exact up to 2^53 (8 PiB of WAL), which is enough. */
export function parseLsn(s: string): number {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(s.trim());
  if (!m) throw new StolonError("EPGPARSE", `invalid LSN "${s}"`);
  return parseInt(m[1]!, 16) * 2 ** 32 + parseInt(m[2]!, 16);
}

export function formatLsn(pos: number): string {
  if (!Number.isSafeInteger(pos) || pos < 0) throw new StolonError("EPGPARSE", `invalid WAL position ${pos}`);
  const hi = Math.floor(pos / 2 ** 32);
  const lo = pos % 2 ** 32;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

export interface TimelineHistoryEntry {
  timelineID: number;
  switchPoint: number;
  reason: string;
}

/**
 * Parses a timeline history file (as returned by TIMELINE_HISTORY or found in pg_wal):
 * "<parent tli>\t<switch LSN>\t<reason>" per line; blank lines and # comments skipped.
 */
export function parseTimelineHistory(text: string): TimelineHistoryEntry[] {
  const out: TimelineHistoryEntry[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)(?:\s+(.*))?$/.exec(line);
    if (!m) throw new StolonError("EPGPARSE", `invalid timeline history line ${i + 1}: "${line}"`);
    const tli = Number(m[1]);
    if (!Number.isSafeInteger(tli) || tli < 1) throw new StolonError("EPGPARSE", `invalid timeline id on line ${i + 1}: "${line}"`);
    out.push({ timelineID: tli, switchPoint: parseLsn(m[2]!), reason: m[3] ?? "" });
  }
  return out;
}

/** A WAL segment file name: timeline, log and segment, 8 hex digits each. */
export const WAL_FILE_RE = /^[0-9A-F]{24}$/;

/** The oldest WAL segment among file names (they sort by position within a timeline). */
export function oldestWalFile(names: readonly string[]): string | null {
  const wal = names.filter((n) => WAL_FILE_RE.test(n)).sort();
  return wal[0] ?? null;
}

/** "postgres (PostgreSQL) 15.18 (Debian 15.18-1.pgdg120+1)" -> { Maj: 15, Min: 18 }. */
export function parsePostgresVersion(out: string): { Maj: number; Min: number } {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(out);
  if (!m) throw new StolonError("EPGPARSE", `cannot read the PostgreSQL version from "${out.trim()}"`);
  return { Maj: Number(m[1]), Min: Number(m[2] ?? 0) };
}
