/** The shared data model: pure types, spec rules and helpers. Imports nothing that does I/O. */
export * from "./types.ts";
export * from "./spec.ts";
export * from "./duration.ts";
export * from "./timing.ts";
export * from "./cluster-data.ts";
export * from "./merge-patch.ts";
export * from "./plain-object.ts";
export * from "./memory.ts";
export * from "./decide.ts";
export * from "./proxy-target.ts";
export * from "./planned-ops.ts";
export { PRIORITY_WAL_BOUND_BYTES, chosenCandidate, rankCandidates, type CandidateEntry, type RankedCandidate } from "./rank.ts";
export { describePause } from "./pause.ts";
export { pitrAttentionNotes } from "./pitr-init.ts";
export {
  checkKeeperInfo,
  checkProxyInfo,
  checkSentinelInfo,
  describeInvalidInfo,
  invalidInfoNotes,
  own,
  POSTGRES_STATE_ZEROS,
  uidRecord,
  type InfoKind,
  type InvalidInfo,
} from "./info-check.ts";
export * from "./patterns.ts";
export { GO_ZERO_TIME, sameForKeepers } from "./stolon-format.ts";
