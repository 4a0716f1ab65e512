/** parseControlData: pg_controldata's output (LC_ALL=C) as PostgreSQL 15 prints it. */
import { describe, expect, test } from "bun:test";
import { parseControlData } from "../../../src/postgres/control-data.ts";

const out = (state: string, ckpt = "0/3000028", tli = "1") => `pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7714201269382608433
Database cluster state:               ${state}
pg_control last modified:             Tue Dec  1 05:20:47 2026
Latest checkpoint location:           ${ckpt}
Latest checkpoint's REDO location:    0/3000028
Latest checkpoint's REDO WAL file:    000000010000000000000003
Latest checkpoint's TimeLineID:       ${tli}
Latest checkpoint's PrevTimeLineID:   1
`;

describe("parseControlData", () => {
  test.each([
    ["shut down", true],
    ["shut down in recovery", false],
    ["in production", false],
    ["in crash recovery", false],
  ])("state %p: clean shutdown of a primary = %p", (state, clean) => {
    expect(parseControlData(out(state, "16/B374D848", "3"))).toEqual({ state, cleanShutdown: clean, checkpointLsn: 0x16b374d848, timelineID: 3 });
  });

  test.each([
    ["no state line", out("shut down").replace(/^Database cluster state.*\n/m, ""), /printed no "Database cluster state"/],
    ["no checkpoint line", out("shut down").replace(/^Latest checkpoint location.*\n/m, ""), /printed no "Latest checkpoint location"/],
    ["a bad checkpoint", out("shut down", "nonsense"), /invalid LSN "nonsense"/],
    ["a bad timeline", out("shut down", "0/1", "0"), /invalid "Latest checkpoint's TimeLineID" "0"/],
    ["empty output", "", /printed no/],
  ])("%s: a parse error naming it", (_, text, err) => {
    expect(() => parseControlData(text)).toThrow(err);
  });
});
