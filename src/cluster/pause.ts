/**
 * Maintenance mode (issue 17), the decide() step that reads cd.pause. While a pause is in force
 * the tick still computes health, keeps the proxy barrier and the configuration of the dbs that
 * exist, and says so in a note every tick; the steps that would change the master, demote, or
 * remove keepers and dbs look at Tick.pause and do nothing (decide.ts, switchover.ts). A pause
 * whose `until` has passed is cleared here, with a note. Pure.
 */
import type { Tick } from "./decide.ts";
import { activePause } from "./planned-ops.ts";
import type { Pause } from "./types.ts";

/** "paused since 2026-...Z, reason patching, until 2026-...Z" */
export function describePause(p: Pause): string {
  const reason = p.reason ? `, reason: ${p.reason}` : "";
  return `paused since ${p.since}${reason}, ${p.until ? `until ${p.until}` : "until stolonctl resume"}`;
}

/** Sets t.pause; clears a pause that has ended (its `until` passed). */
export function pauseStep(t: Tick): void {
  const p = t.cd.pause;
  if (!p) return;
  const active = activePause(t.cd, new Date(t.input.wallNow));
  if (!active) {
    delete t.cd.pause;
    t.note(`pause ended: its end time ${p.until} has passed (it was ${describePause(p)}); the usual rules apply again`);
    return;
  }
  t.pause = active;
  t.note(`${describePause(active)}: no failover, no demotion, no keeper or db removed, no switchover`);
}
