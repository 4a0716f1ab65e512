import { describe, expect, test } from "bun:test";
import { mergePatch, newClusterData, parseClusterData } from "../../../src/cluster/index.ts";
import { ClusterDataError } from "../../../src/lib/errors.ts";

describe("parseClusterData", () => {
  const good = newClusterData("abcd0001", { initMode: "new" }, new Date("2026-01-01T00:00:00Z"));

  test("a new cluster is initializing, generation 1, formatVersion 1", () => {
    expect(good.formatVersion).toBe(1);
    expect(good.cluster.status.phase).toBe("initializing");
    expect(good.cluster.generation).toBe(1);
    expect(parseClusterData(JSON.stringify(good))).toEqual(good);
  });

  const bad: [string, string, string][] = [
    ["garbage bytes", "\u0000\u0001garbage", "not valid JSON"],
    ["a JSON array", "[]", "not a JSON object"],
    ["unknown formatVersion", JSON.stringify({ ...good, formatVersion: 2 }), "unsupported cluster data formatVersion 2"],
    ["missing formatVersion", JSON.stringify({ ...good, formatVersion: undefined }), "unsupported cluster data formatVersion undefined"],
    ["no cluster", JSON.stringify({ ...good, cluster: undefined }), "no cluster object"],
    ["invalid spec", JSON.stringify({ ...good, cluster: { ...good.cluster, spec: { initMode: "new", failInterval: "soon" } } }), "invalid spec: failInterval"],
    ["dbs not an object", JSON.stringify({ ...good, dbs: [] }), `field "dbs" is not an object`],
    // A missing status is Go's zero struct (issue 16); a missing db spec is not something stolon writes.
    ["a db without spec", JSON.stringify({ ...good, dbs: { d1: { status: {} } } }), "dbs.d1 is not a valid object"],
  ];
  test.each(bad)("refuses %s", (_n, text, msg) => {
    let err: unknown;
    try {
      parseClusterData(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClusterDataError);
    expect((err as Error).message).toContain(msg);
  });
});

describe("mergePatch (RFC 7386 appendix A)", () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [["a", "b"], ["c", "d"], ["c", "d"]],
    [{ a: "b" }, ["c"], ["c"]],
    [{ a: "foo" }, null, null],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  test.each(cases)("%j + %j", (target, patch, result) => {
    expect(mergePatch(target, patch)).toEqual(result);
  });

  test("does not modify its inputs", () => {
    const target = { pgParameters: { a: "1", b: "2" } };
    mergePatch(target, { pgParameters: { a: null } });
    expect(target).toEqual({ pgParameters: { a: "1", b: "2" } });
  });
});
