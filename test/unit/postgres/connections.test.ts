/**
 * PgConnections.query and the replay-delay column, without a server: the error every failure
 * becomes, and the timeout that drops the pools.
 */
import { describe, expect, test } from "bun:test";
import { PgConnections, PgQueryError } from "../../../src/postgres/connections.ts";
import { replayLag } from "../../../src/postgres/replication.ts";

function conns(): PgConnections {
  return new PgConnections({ socketDir: "/nonexistent", port: 5432, su: { username: "su" }, repl: { username: "repl" } });
}

describe("PgConnections.query", () => {
  test("a failure becomes a PgQueryError naming what was done, with the cause kept", async () => {
    const boom = new Error("boom");
    const err = await conns().query("reading pg_settings", async () => {
      throw boom;
    }, 1000).catch((e) => e);
    expect(err).toBeInstanceOf(PgQueryError);
    expect((err as PgQueryError).code).toBe("EPGQUERY");
    expect((err as PgQueryError).message).toBe("reading pg_settings: boom");
    expect((err as PgQueryError).cause).toBe(boom);
  });

  test("a statement past its time is a PgQueryError saying so, and the pools start afresh", async () => {
    const c = conns();
    const before = c.sql();
    const err = await c.query("listing replication slots", () => new Promise<never>(() => {}), 30).catch((e) => e);
    expect(err).toBeInstanceOf(PgQueryError);
    expect((err as PgQueryError).message).toBe("listing replication slots: timed out after 30 ms");
    expect(c.sql()).not.toBe(before);
    await c.close();
  });

  test("the value of a statement that answers in time is returned", async () => {
    expect(await conns().query("x", async () => 42, 1000)).toBe(42);
  });
});

describe("replayLag", () => {
  test.each([
    ["unknown (null)", null, null],
    ["unknown (undefined)", undefined, null],
    ["seconds as a number", 1.5, 1.5],
    ["seconds as text", "2.25", 2.25],
    ["negative (clocks differ) is 0", -0.3, 0],
    ["not a number", "abc", null],
  ])("%s", (_, v, want) => expect(replayLag(v)).toBe(want));
});
