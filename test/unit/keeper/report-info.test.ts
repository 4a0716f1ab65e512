/** Table tests of what a keeper report publishes (src/keeper/report-info.ts). */
import { describe, expect, test } from "bun:test";
import { POSTGRES_STATE_ZEROS, type KeeperInfo, type PostgresState } from "../../../src/cluster/index.ts";
import { nextKeeperInfo, type PublishedInfo } from "../../../src/keeper/report-info.ts";

const state = (o: Partial<PostgresState> = {}): PostgresState => ({
  ...POSTGRES_STATE_ZEROS,
  uid: "db1",
  generation: 2,
  healthy: true,
  listenAddress: "127.0.0.1",
  port: "5432",
  xLogPos: 1000,
  replayedXLogPos: 900,
  olderWalFile: "000000010000000000000001",
  receivingWal: true,
  synchronousStandbys: null,
  ...o,
});
const fresh = (o: Partial<PostgresState> = {}, extra: Partial<KeeperInfo> = {}): Omit<KeeperInfo, "infoUID"> => ({
  uid: "k1",
  clusterUID: "c1",
  bootUUID: "b1",
  postgresBinaryVersion: { Maj: 15, Min: 0 },
  postgresState: state(o),
  canBeMaster: true,
  ...extra,
});
const prev: PublishedInfo = { info: { infoUID: "old", ...fresh() }, positionsAt: 10_000 };

describe("nextKeeperInfo", () => {
  // [case, fresh info, now, position interval, published again (same infoUID)?]
  const cases: [string, Omit<KeeperInfo, "infoUID">, number, number, boolean][] = [
    ["nothing changed, long after: the lease is renewed, nothing written", fresh(), 100_000, 1000, false],
    ["positions alone moved, within the interval: held back", fresh({ xLogPos: 2000, replayedXLogPos: 1900 }), 10_500, 1000, false],
    ["positions alone moved, the interval passed: written", fresh({ xLogPos: 2000 }), 11_000, 1000, true],
    ["a switchover's target (interval 0): every position written", fresh({ replayedXLogPos: 950 }), 10_001, 0, true],
    ["a WAL file recycled alone: a position, held back", fresh({ olderWalFile: "000000010000000000000002" }), 10_500, 1000, false],
    ["the receiver lost: written at once", fresh({ receivingWal: false, xLogPos: 2000 }), 10_100, 1000, true],
    ["PostgreSQL unhealthy: written at once", fresh({ healthy: false }), 10_100, 1000, true],
    ["a new sync set: written at once", fresh({ synchronousStandbys: ["db2"] }), 10_100, 1000, true],
    ["a switchover's stop position: written at once", fresh({ stoppedForSwitchover: { id: "sw", lsn: 5 } }), 10_100, 1000, true],
    ["an init phase: written at once", fresh({}, { init: { dbUid: "db1", phase: "restoring", since: "2026-01-01T00:00:00Z", detail: "restoring" } }), 10_100, 1000, true],
    ["a new cluster uid: written at once", { ...fresh(), clusterUID: "c2" }, 10_100, 1000, true],
  ];
  test.each(cases)("%s", (_name, f, now, interval, written) => {
    const next = nextKeeperInfo(prev, f, now, interval, () => "new");
    if (!written) {
      expect(next).toBe(prev);
      return;
    }
    expect(next).toEqual({ info: { infoUID: "new", ...f }, positionsAt: now });
  });

  test("the first report is written", () => {
    expect(nextKeeperInfo(null, fresh(), 5, 1000, () => "u1")).toEqual({ info: { infoUID: "u1", ...fresh() }, positionsAt: 5 });
  });
});
