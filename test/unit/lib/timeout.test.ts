/** withTimeout: the one timeout race of src/ (PostgreSQL queries, etcd calls). */
import { describe, expect, test } from "bun:test";
import { withTimeout } from "../../../src/lib/timeout.ts";

class Late extends Error {}

describe("withTimeout", () => {
  test("a promise that settles in time wins, and the timeout error is never made", async () => {
    let made = 0;
    const v = await withTimeout(Promise.resolve(7), 30, () => (made++, new Late("late")));
    expect(v).toBe(7);
    await Bun.sleep(60);
    expect(made).toBe(0);
  });

  test("a promise that rejects in time passes its own error through", async () => {
    const own = new Error("own");
    await expect(withTimeout(Promise.reject(own), 1000, () => new Late("late"))).rejects.toBe(own);
  });

  test("a promise that takes longer rejects with the caller's error, once the time is up and not before", async () => {
    const started = Date.now();
    const err = await withTimeout(new Promise<never>(() => {}), 50, () => new Late("no answer within 50 ms")).catch((e) => e);
    expect(err).toBeInstanceOf(Late);
    expect((err as Late).message).toBe("no answer within 50 ms");
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });
});
