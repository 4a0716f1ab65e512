/**
 * Small shared readings of the planned-operation fields (issue 17: switchover, pause, priority),
 * so the sentinel, stolonctl, the keeper and the proxy answer "is it paused?", "is a switchover
 * running?" and "what is this keeper's priority?" the same way. Pure.
 */
import {
  DEFAULT_KEEPER_PRIORITY,
  SWITCHOVER_FINAL_PHASES,
  type ClusterData,
  type KeeperInfo,
  type Pause,
  type Switchover,
} from "./types.ts";

/**
 * The pause in force at `now`, or null: cd.pause is set and its `until` (if any) has not passed.
 * A pause whose `until` has passed is over at once for every reader, even before the sentinel
 * clears it.
 */
export function activePause(cd: Pick<ClusterData, "pause">, now: Date): Pause | null {
  const p = cd.pause;
  if (!p) return null;
  if (p.until !== undefined && !(Date.parse(p.until) > now.getTime())) return null;
  return p;
}

/** The switchover has not ended yet (any phase from "requested" to "promoting"). */
export function switchoverInProgress(sw: Switchover | null | undefined): sw is Switchover {
  return !!sw && !SWITCHOVER_FINAL_PHASES.includes(sw.phase);
}

/** A keeper's priority as its info gives it: absent means DEFAULT_KEEPER_PRIORITY. */
export function keeperPriority(info: Pick<KeeperInfo, "priority"> | null | undefined): number {
  return info?.priority ?? DEFAULT_KEEPER_PRIORITY;
}
