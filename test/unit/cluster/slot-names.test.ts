/**
 * The stolon_ slot prefix and the keeper's auth methods each have one home: the helpers work, and
 * no other file in src/ spells the prefix or declares the type again.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { dbUidOfSlot, isStolonSlot, SLOT_PREFIX, slotName } from "../../../src/cluster/slot-names.ts";

const src = join(import.meta.dir, "../../../src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Files of src/ (relative paths) whose text matches `re`. */
const filesMatching = (re: RegExp) => sources(src).filter((f) => re.test(readFileSync(f, "utf8"))).map((f) => relative(src, f));

describe("slot names", () => {
  test.each([
    ["d1", "stolon_d1"],
    ["a_b_2", "stolon_a_b_2"],
  ])("db %p streams from slot %p, and the name reads back as the db uid", (uid, slot) => {
    expect(slotName(uid)).toBe(slot);
    expect(isStolonSlot(slot)).toBe(true);
    expect(dbUidOfSlot(slot)).toBe(uid);
  });

  test.each(["not_ours", "stolon", "xstolon_d1", "", "walreceiver"])("%p is not a stolon slot", (name) => {
    expect(isStolonSlot(name)).toBe(false);
    expect(dbUidOfSlot(name)).toBeNull();
  });

  test("the prefix is written once in src/ (metric names like stolon_keeper_... are other facts)", () => {
    // A string that is the prefix alone, or the prefix followed by an interpolation or a quote.
    expect(filesMatching(/stolon_(["'`]|\$\{)/)).toEqual(["cluster/slot-names.ts"]);
    expect(SLOT_PREFIX).toBe("stolon_");
  });
});

describe("auth methods", () => {
  test("the AuthMethod type and its list are declared once in src/", () => {
    expect(filesMatching(/type AuthMethod\b\s*=/)).toEqual(["postgres/config.ts"]);
    expect(filesMatching(/"md5"\s*\|\s*"trust"|\["md5",\s*"trust"\]/)).toEqual(["postgres/config.ts"]);
  });
});
