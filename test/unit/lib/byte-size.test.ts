/** Byte sizes on the command line (src/lib/byte-size.ts), as PostgreSQL reads memory units. */
import { expect, test } from "bun:test";
import { parseByteSize } from "../../../src/lib/byte-size.ts";

test.each([
  ["0", 0],
  ["1048576", 1048576],
  ["512B", 512],
  ["512kB", 512 * 1024],
  ["16MB", 16 * 1024 ** 2],
  ["16 MiB", 16 * 1024 ** 2],
  ["1.5GB", 1.5 * 1024 ** 3],
  ["1tb", 1024 ** 4],
  [" 8mb ", 8 * 1024 ** 2],
])("%p is %p bytes", (text, bytes) => {
  expect(parseByteSize(text)).toEqual({ bytes });
});

test.each([
  ["", /is not a size/],
  ["MB", /is not a size/],
  ["-1MB", /is not a size/],
  ["1e3", /is not a size/],
  ["16 bits", /unknown unit "bits"/],
  ["99999999999999999999", /too large/],
])("%p is refused: %p", (text, re) => {
  const r = parseByteSize(text);
  expect("error" in r && r.error).toMatch(re);
});
