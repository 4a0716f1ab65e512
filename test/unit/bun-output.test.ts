import { describe, expect, test } from "bun:test";
import { bunCounts, failureDigests } from "../harness/bun-output.ts";

// Shaped as bun test v1.4 prints: a file header, results, a failure's excerpt, error and stack
// before its "(fail)" line, and the failed tests listed again at the end without their errors.
const OUTPUT = [
  "test/integration/a.test.ts:",
  "(pass) a > one [10.00ms]",
  "leader handover: 3669 ms",
  "(pass) a > two [5.00ms]",
  "",
  "test/integration/b.test.ts:",
  "master keeper1, sync standby keeper3",
  "37 |     await waitFor(...);",
  "38 |     expect(answered).toBe(false);",
  "                          ^",
  "error: expect(received).toBe(expected)",
  "",
  "Expected: false",
  "Received: true",
  "",
  "      at ErrorResponse (/work/main/node_modules/postgres/src/connection.js:817:22)",
  "      at emit (node:events:100:22)",
  "      at addChunk (internal:streams/readable:267:47)",
  "      at <anonymous> (/work/wt/ci/test/integration/b.test.ts:38:5)",
  "(fail) b > holds [5297.18ms]",
  "(pass) b > after [1.00ms]",
  "",
  "2 tests failed:",
  "(fail) b > holds [5297.18ms]",
  "(fail) c > crashed outside [0.10ms]",
  "",
  " 3 pass",
  " 1 skip",
  " 2 fail",
].join("\n");

describe("reading bun test's output", () => {
  test("the counts", () => {
    expect(bunCounts(OUTPUT)).toEqual({ pass: 3, fail: 2, skip: 1 });
    expect(bunCounts("nothing ran")).toEqual({ pass: 0, fail: 0, skip: 0 });
  });

  test("a failure's error, from the test's last printed lines and its excerpt on, without runtime and node_modules frames, once", () => {
    expect(failureDigests(OUTPUT)).toEqual([
      [
        "(fail) b > holds [5297.18ms]",
        "master keeper1, sync standby keeper3",
        "37 |     await waitFor(...);",
        "38 |     expect(answered).toBe(false);",
        "                          ^",
        "error: expect(received).toBe(expected)",
        "Expected: false",
        "Received: true",
        "      at <anonymous> (/work/wt/ci/test/integration/b.test.ts:38:5)",
      ].join("\n"),
    ]);
  });

  test("a long one is cut after maxLines, saying how much was left out", () => {
    const long = ["x.test.ts:", "error: boom", ...Array.from({ length: 10 }, (_, i) => `detail ${i}`), "(fail) x > long [1ms]"].join("\n");
    expect(failureDigests(long, 3)).toEqual(["(fail) x > long [1ms]\nerror: boom\ndetail 0\ndetail 1\n  ... (8 more lines)"]);
  });

  test("no failure, no digest", () => {
    expect(failureDigests("a.test.ts:\n(pass) a > one [1ms]\n 1 pass\n 0 fail")).toEqual([]);
  });
});
