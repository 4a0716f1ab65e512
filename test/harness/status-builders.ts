/**
 * KeeperStatus builders for the keeper, metrics and Patroni tests: a healthy streaming standby by default, or a
 * healthy converged master; each case overrides only what matters. Frozen, so code under test
 * that mutates its input throws.
 */
import type { KeeperStatus } from "../../src/keeper/status.ts";

export const MB = 1024 * 1024;

export function makeStatus(over: Partial<KeeperStatus> = {}): KeeperStatus {
  return Object.freeze({
    uid: "k1",
    clusterName: "c1",
    clusterUID: "cl1",
    dbUid: "db1",
    targetRole: "standby",
    localRole: "standby",
    elected: false,
    postgresRunning: true,
    postgresHealthy: true,
    converged: true,
    holdsDb: true,
    fenced: false,
    shuttingDown: false,
    timeline: 3,
    walPosition: 50_331_648,
    replicationLagBytes: 4096,
    replicationLagSeconds: 0,
    streaming: true,
    synchronous: false,
    maxStandbyLagBytes: MB,
    clusterDataValidAt: 1_700_000_000_000,
    stoppedForSwitchover: null,
    ...over,
  });
}

/** The elected, converged, healthy master. */
export const masterStatus = (over: Partial<KeeperStatus> = {}): KeeperStatus =>
  makeStatus({ targetRole: "master", localRole: "master", elected: true, streaming: false, replicationLagBytes: 0, replicationLagSeconds: 0, ...over });
export const standbyStatus = (over: Partial<KeeperStatus> = {}): KeeperStatus => makeStatus(over);
