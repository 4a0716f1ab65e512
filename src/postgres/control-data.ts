/**
 * pg_controldata's output (run with LC_ALL=C, so the labels are English). Pure.
 */
import { StolonError } from "../lib/errors.ts";
import { parseLsn } from "./lsn.ts";

/** What pg_control says about a stopped instance: the parts a switchover needs. */
export interface ControlData {
  /** "Database cluster state" as printed ("shut down", "in production", ...). */
  state: string;
  /**
   * The state is "shut down": the last stop of a primary was clean, so its shutdown checkpoint is
   * the last record of its WAL ("shut down in recovery" is a standby's clean stop: not this).
   */
  cleanShutdown: boolean;
  /** "Latest checkpoint location": where the checkpoint record starts, in bytes. */
  checkpointLsn: number;
  /** "Latest checkpoint's TimeLineID". */
  timelineID: number;
}

function field(out: string, label: string): string {
  const re = new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\']/g, "\\$&")}:\\s*(.*?)\\s*$`, "m");
  const m = re.exec(out);
  if (!m) throw new StolonError("EPGPARSE", `pg_controldata printed no "${label}"`);
  return m[1]!;
}

/** Parses pg_controldata's output; throws EPGPARSE naming the line that is missing or wrong. */
export function parseControlData(out: string): ControlData {
  const state = field(out, "Database cluster state");
  const tli = field(out, "Latest checkpoint's TimeLineID");
  const timelineID = Number(tli);
  if (!/^\d+$/.test(tli) || !Number.isSafeInteger(timelineID) || timelineID < 1)
    throw new StolonError("EPGPARSE", `pg_controldata: invalid "Latest checkpoint's TimeLineID" "${tli}"`);
  return { state, cleanShutdown: state === "shut down", checkpointLsn: parseLsn(field(out, "Latest checkpoint location")), timelineID };
}
