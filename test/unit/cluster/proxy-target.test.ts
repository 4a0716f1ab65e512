/** proxyRoute: where a proxy routes, table by table. */
import { expect, test } from "bun:test";
import { newClusterData, proxyRoute, sameTarget, type ClusterData } from "../../../src/cluster/index.ts";
import { makeDb } from "../../harness/builders.ts";

function cd(o: { master?: string; enabled?: string[]; addr?: string; port?: string; gen?: number } = {}): ClusterData {
  const c = newClusterData("c1", { initMode: "new" }, new Date(0));
  c.proxy.generation = o.gen ?? 7;
  c.proxy.spec = { masterDbUid: o.master, enabledProxies: o.enabled ?? ["p1"] };
  c.dbs.d1 = makeDb("d1", { keeperUID: "k1", role: "master" }, { status: { listenAddress: o.addr ?? "10.0.0.1", port: o.port ?? "5432" } });
  return Object.freeze(c);
}

test.each([
  ["no cluster data", null, null, 0, /no cluster data/],
  ["no master routed (barrier step 1)", cd(), null, 7, /no master is routed/],
  ["unknown db", cd({ master: "d9" }), null, 7, /names no db/],
  ["masterDbUid \"constructor\" (an Object.prototype member)", cd({ master: "constructor" }), null, 7, /names no db/],
  ["masterDbUid \"__proto__\"", cd({ master: "__proto__" }), null, 7, /names no db/],
  ["no address", cd({ master: "d1", addr: "" }), null, 7, /no valid address/],
  ["bad port", cd({ master: "d1", port: "99999" }), null, 7, /no valid address/],
  ["not enabled", cd({ master: "d1", enabled: ["p2"] }), null, 7, /not enabled yet/],
  ["routed", cd({ master: "d1" }), { dbUid: "d1", host: "10.0.0.1", port: 5432 }, 7, /^$/],
] as const)("%s", (_, data, target, generation, reason) => {
  const r = proxyRoute(data, "p1");
  expect(r.target).toEqual(target);
  expect(r.generation).toBe(generation);
  expect(r.reason).toMatch(reason);
});

test("sameTarget compares db, host and port", () => {
  const t = { dbUid: "d1", host: "h", port: 1 };
  expect(sameTarget(t, { ...t })).toBe(true);
  expect(sameTarget(t, { ...t, port: 2 })).toBe(false);
  expect(sameTarget(t, null)).toBe(false);
  expect(sameTarget(null, null)).toBe(true);
});
