/**
 * The election's ranking (issue 17, failover priority), pure: which standby becomes master when
 * the sentinel chooses one by itself (a failover, or a switchover with no --to), with the rule
 * that chose it and the rule that excluded every other. decide() uses it for every election and
 * returns the table (DecideOutput.candidates), which `stolonctl status --explain` prints.
 *
 * The rule: among eligible standbys whose WAL position is within PRIORITY_WAL_BOUND_BYTES of the
 * most advanced eligible one, the highest priority wins (ties: the most advanced, then the lowest
 * keeper uid); a standby further behind never wins on priority, so priority never costs more
 * than that bound of WAL (which, in asynchronous mode, only the master had anyway). Priority 0 is
 * never chosen here (like --can-be-master=false), but a switchover may name it with --to.
 */
import { formatBytes } from "./format.ts";

/** One WAL segment: the most WAL a priority may pass over. */
export const PRIORITY_WAL_BOUND_BYTES = 16 * 1024 * 1024;

/** A standby the election considers, with why it may not be chosen (decide's rules), if it may not. */
export interface CandidateEntry {
  dbUid: string;
  keeperUid: string;
  xLogPos: number;
  priority: number;
  /** Why it cannot be chosen ("unhealthy", "lag 40 MiB > maxStandbyLag 1 MiB", ...). */
  excludedBy?: string;
}

export interface RankedCandidate extends CandidateEntry {
  /** The one chosen (at most one in a ranking). */
  chosen?: boolean;
  /** On the chosen one: the rule that chose it. */
  rule?: string;
}

/** The rule's words for the bound, for notes: "16 MiB". */
const BOUND = formatBytes(PRIORITY_WAL_BOUND_BYTES).replace(".0 ", " ");

/**
 * Every entry, ranked: the chosen one first (with `chosen` and `rule`), then the other eligible
 * ones from the most advanced, then the excluded ones in their given order. Entries are copied;
 * priority 0 entries get `excludedBy` here. Nothing is chosen when every entry is excluded.
 */
export function rankCandidates(entries: readonly CandidateEntry[]): RankedCandidate[] {
  const all: RankedCandidate[] = entries.map((e) =>
    e.excludedBy === undefined && e.priority === 0 ? { ...e, excludedBy: "priority 0 (never elected automatically)" } : { ...e },
  );
  const eligible = all.filter((c) => c.excludedBy === undefined);
  const excluded = all.filter((c) => c.excludedBy !== undefined);
  if (eligible.length === 0) return excluded;
  const top = Math.max(...eligible.map((c) => c.xLogPos));
  const near = eligible.filter((c) => top - c.xLogPos <= PRIORITY_WAL_BOUND_BYTES);
  near.sort((a, b) => b.priority - a.priority || b.xLogPos - a.xLogPos || a.keeperUid.localeCompare(b.keeperUid));
  const best = near[0]!;
  best.chosen = true;
  best.rule = near.some((c) => c.priority !== best.priority)
    ? `highest priority ${best.priority} among standbys within ${BOUND} of the most advanced`
    : "most advanced";
  const rest = eligible.filter((c) => c !== best).sort((a, b) => b.xLogPos - a.xLogPos || a.keeperUid.localeCompare(b.keeperUid));
  return [best, ...rest, ...excluded];
}

/** The chosen entry of a ranking, if any. */
export function chosenCandidate(ranking: readonly RankedCandidate[]): RankedCandidate | undefined {
  return ranking.find((c) => c.chosen);
}
