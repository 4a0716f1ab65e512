/**
 * The proxy's target on cluster data as stolon writes it (test/fixtures/stolon): the master's
 * advertised address for an enabled proxy, nothing on a new cluster (whose proxy stolon writes
 * without a generation, read as 0).
 */
import { describe, expect, test } from "bun:test";
import { parseClusterData, proxyRoute } from "../../../src/cluster/index.ts";
import { loadStolonFixture, STOLON_IDS } from "../../harness/stolon-fixtures.ts";

describe("proxyRoute on stolon's cluster data", () => {
  test.each([
    ["normal-one-failed", 5],
    ["synchronous", 5],
    ["existing", 3],
  ] as const)("%s: the master, for the enabled proxy", (name, generation) => {
    const cd = parseClusterData(loadStolonFixture(name).text);
    expect(proxyRoute(cd, STOLON_IDS.proxy)).toEqual({
      target: { dbUid: STOLON_IDS.masterDb, host: "127.0.0.1", port: 5432 },
      generation,
      reason: "",
    });
    expect(proxyRoute(cd, "0ther0000").target).toBeNull();
  });

  test("new-cluster: no target, generation 0", () => {
    const r = proxyRoute(parseClusterData(loadStolonFixture("new-cluster").text), STOLON_IDS.proxy);
    expect(r.target).toBeNull();
    expect(r.generation).toBe(0);
  });
});
