/**
 * The pure part of the pgBackRest harness (scripts/backrest-config.ts): the
 * configuration and commands the recipe gives, and the WAL segment names the no-gap check walks,
 * so that a wrong name there cannot make the backup test pass on an archive with a hole.
 */
import { describe, expect, test } from "bun:test";
import {
  archiveCommand, dataRestoreCommand, parseLsn, parseTimelineHistory, parseWalFileName, pgpassLine, renderBackrestConfig,
  restoreCommand, segmentsOnPath, shellQuote, walFileName,
} from "../../scripts/backrest-config.ts";

const base = {
  stanza: "demo", repoPath: "/r/repo", lockPath: "/r/lock", logPath: "/r/log", spoolPath: "/r/spool", pgUser: "stolon",
  pgs: [{ path: "/c/keeper1/postgres", port: 5001, socketPath: "/c/keeper1/run" }, { path: "/c/keeper2/postgres", port: 5002, socketPath: "/c/keeper2/run" }],
};

describe("pgbackrest.conf", () => {
  test("one pgN per keeper under the stanza, the dirs under [global]", () => {
    const text = renderBackrestConfig(base);
    expect(text).toContain("[global]\nrepo1-path=/r/repo\n");
    expect(text).toContain("\n[demo]\npg1-path=/c/keeper1/postgres\npg1-port=5001\npg1-socket-path=/c/keeper1/run\npg1-user=stolon\npg2-path=/c/keeper2/postgres\n");
    expect(text.endsWith("pg2-user=stolon\n")).toBe(true);
  });
  test.each([
    ["a newline in a path", { ...base, repoPath: "/r\n[x]" }, /newline/],
    ["a stanza that is not a plain name", { ...base, stanza: "demo]\n" }, /newline|letters/],
    ["a stanza with a space", { ...base, stanza: "de mo" }, /letters/],
  ])("refuses %s", (_, input, error) => {
    expect(() => renderBackrestConfig(input)).toThrow(error);
  });
});

describe("commands", () => {
  test.each([
    ["archive_command", archiveCommand("/etc/pgbr.conf", "demo"), `pgbackrest --config='/etc/pgbr.conf' --stanza=demo --pg1-path="$PWD" archive-push %p`],
    ["restore_command", restoreCommand("/etc/pgbr.conf", "demo"), `pgbackrest --config='/etc/pgbr.conf' --stanza=demo --pg1-path="$PWD" archive-get %f "%p"`],
    ["a config path with a quote", archiveCommand("/o'k/p.conf", "s"), `pgbackrest --config='/o'\\''k/p.conf' --stanza=s --pg1-path="$PWD" archive-push %p`],
    ["dataRestoreCommand, latest backup", dataRestoreCommand("/c.conf", "demo"), "pgbackrest --config='/c.conf' --stanza=demo --pg1-path=%d --type=none restore"],
    [
      "dataRestoreCommand to a time",
      dataRestoreCommand("/c.conf", "demo", { targetTime: "2026-12-01 08:00:00+00" }),
      "pgbackrest --config='/c.conf' --stanza=demo --pg1-path=%d --type=time '--target=2026-12-01 08:00:00+00' restore",
    ],
  ])("%s", (_, got, want) => {
    expect(got).toBe(want);
  });
  test.each([
    ["a % in the config path", () => archiveCommand("/a%p.conf", "demo")],
    ["a % in a restore option", () => dataRestoreCommand("/c.conf", "demo", { extra: ["--set=%f"] })],
    ["a stanza that needs quoting", () => restoreCommand("/c.conf", "x;rm")],
  ])("refuses %s", (_, f) => {
    expect(f).toThrow();
  });
  test("the shell sets $PWD to its working directory, whatever PWD it inherits (why archive_command can use it)", () => {
    const r = Bun.spawnSync(["/bin/sh", "-c", 'printf %s "$PWD"'], { cwd: "/tmp", env: { PWD: "/usr", PATH: "/usr/bin:/bin" }, stdout: "pipe" });
    expect(r.stdout.toString()).toBe("/tmp");
  });
  test("shellQuote makes one word of anything", () => {
    const words = ["a b", "it's", "$HOME", '"; rm -rf /'];
    const r = Bun.spawnSync(["/bin/sh", "-c", `printf '%s\\n' ${words.map(shellQuote).join(" ")}`], { stdout: "pipe" });
    expect(r.stdout.toString()).toBe(words.join("\n") + "\n");
  });
  test("pgpass: `:` and `\\` escaped", () => {
    expect(pgpassLine("stolon", "a:b\\c")).toBe("*:*:*:stolon:a\\:b\\\\c\n");
  });
});

describe("WAL segment names", () => {
  test.each([
    [1, 1, "000000010000000000000001"],
    [2, 0xff, "0000000200000000000000FF"],
    [3, 0x100, "000000030000000100000000"],
    [0x1a, 0x1234, "0000001A0000001200000034"],
  ])("timeline %d segment %d: %s, and back", (tli, segno, name) => {
    expect(walFileName(tli, segno)).toBe(name);
    expect(parseWalFileName(name)).toEqual({ tli, segno });
  });
  test.each([["0/0", 0], ["0/A003268", 0xa003268], ["1/0", 2 ** 32], ["16/B374D848", 0x16 * 2 ** 32 + 0xb374d848]])("LSN %s", (lsn, pos) => {
    expect(parseLsn(lsn)).toBe(pos);
  });
  test.each(["", "0/", "x/1", "000000010000000000000001.partial"])("refuses %p", (bad) => {
    expect(() => parseLsn(bad)).toThrow();
    expect(() => parseWalFileName(bad)).toThrow();
  });
  test("a timeline history file", () => {
    expect(parseTimelineHistory("1\t0/A003268\tno recovery target specified\n\n2\t0/C000000\tbefore 2026-12-01\n")).toEqual([
      { tli: 1, switchLsn: 0xa003268 },
      { tli: 2, switchLsn: 0xc000000 },
    ]);
    expect(() => parseTimelineHistory("x 0/1 y")).toThrow(/cannot read/);
  });
  const seg = (tli: number, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => walFileName(tli, from + i));
  test.each([
    ["one timeline", "000000010000000000000003", "000000010000000000000006", [], seg(1, 3, 6)],
    ["a switch inside segment A: A is the new timeline's", "000000010000000000000008", "00000002000000000000000B", [{ tli: 1, switchLsn: 0xa003268 }], [...seg(1, 8, 9), ...seg(2, 0xa, 0xb)]],
    ["a switch on a segment boundary", "000000010000000000000001", "000000020000000000000003", [{ tli: 1, switchLsn: 0x2000000 }], [...seg(1, 1, 1), ...seg(2, 2, 3)]],
    [
      "two switches",
      "000000010000000000000001",
      "000000030000000000000006",
      [{ tli: 1, switchLsn: 0x2000100 }, { tli: 2, switchLsn: 0x4000100 }],
      [...seg(1, 1, 1), ...seg(2, 2, 3), ...seg(3, 4, 6)],
    ],
  ])("segments on the path: %s", (_, min, max, history, want) => {
    expect(segmentsOnPath(min, max, history)).toEqual(want);
  });
});
