import { describe, expect, test } from "bun:test";
import { commonArgs, ctlArgs, resolveCommonConfig, type CommonConfig, type EnvPrefix } from "../../../src/lib/config.ts";
import { ConfigError } from "../../../src/lib/errors.ts";
import { createLogger, daemonLogOptions, logNotes, withLogUid, type LoggerOptions } from "../../../src/lib/log.ts";

/** A logger whose lines are collected; the options under test are given. */
function collecting(o: Partial<LoggerOptions> = {}) {
  const lines: string[] = [];
  const log = createLogger({ level: "debug", write: (l) => lines.push(...l.split("\n").filter((s) => s !== "").map((s) => s)), ...o });
  return { log, lines };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("text logs", () => {
  test("one line per entry: time, level, [component uid] and the message; no colour off a terminal", () => {
    const { log, lines } = collecting({ component: "sentinel", uid: "ab12", cluster: "c1", color: true });
    log.info("elected %s", "k1");
    log.warn(new Error("etcd down").message);
    expect(lines).toHaveLength(2);
    const [time, level, ...rest] = lines[0]!.split(" ");
    expect(time).toMatch(ISO);
    expect(level).toBe("INFO");
    expect(rest.join(" ")).toBe(" [sentinel ab12] elected k1");
    expect(lines[1]).toContain("WARN  [sentinel ab12] etcd down");
    expect(lines.join("")).not.toContain("\u001b[");
  });

  const colourCases: [string, LoggerOptions["color"], boolean, boolean][] = [
    ["auto on a terminal", "auto", true, true],
    ["true on a terminal", true, true, true],
    ["false on a terminal", false, true, false],
    ["true off a terminal", true, false, false],
    ["auto off a terminal", "auto", false, false],
  ];
  for (const [name, color, isTTY, coloured] of colourCases)
    test(`colour: ${name} -> ${coloured ? "coloured" : "plain"}`, () => {
      const { log, lines } = collecting({ color, isTTY });
      log.error("boom");
      expect(lines[0]!.includes("\u001b[31mERROR")).toBe(coloured);
      expect(lines[0]!.includes("\u001b[")).toBe(coloured);
    });

  test("logNotes: the summary, then each note as its own line with the same prefix", () => {
    const { log, lines } = collecting({ component: "sentinel", uid: "s1" });
    logNotes(log, "info", "new master elected", ["db d2 elected master: master d1 unhealthy for 3.1s", "k3 excluded: lag 4 MiB"]);
    expect(lines.map((l) => l.replace(/^\S+ /, ""))).toEqual([
      "INFO  [sentinel s1] new master elected",
      "INFO  [sentinel s1] db d2 elected master: master d1 unhealthy for 3.1s",
      "INFO  [sentinel s1] k3 excluded: lag 4 MiB",
    ]);
    logNotes(log, "debug", "", ["only a note"]);
    expect(lines.slice(3).map((l) => l.replace(/^\S+ /, ""))).toEqual(["DEBUG [sentinel s1] only a note"]);
  });

  test("a tag added below the identity follows it", () => {
    const { log, lines } = collecting({ component: "keeper", uid: "k1" });
    log.withTag("pg").info("started");
    expect(lines[0]).toContain("[keeper k1:pg] started");
  });

  test("the level filters", () => {
    const { log, lines } = collecting({ level: "warn" });
    log.info("no");
    log.debug("no");
    log.warn("yes");
    expect(lines).toHaveLength(1);
  });
});

describe("json logs", () => {
  test("one object per line with time, level, component, cluster, uid and msg, in that order", () => {
    const { log, lines } = collecting({ format: "json", component: "proxy", cluster: "c1", uid: "p9", color: true, isTTY: true });
    log.info("listening on %s", "127.0.0.1:5432");
    log.warn("a\nmulti-line \"message\"");
    log.debug("d");
    log.error("e");
    expect(lines).toHaveLength(4);
    const objs = lines.map((l) => JSON.parse(l));
    expect(Object.keys(objs[0])).toEqual(["time", "level", "component", "cluster", "uid", "msg"]);
    expect(objs[0]).toMatchObject({ level: "info", component: "proxy", cluster: "c1", uid: "p9", msg: "listening on 127.0.0.1:5432" });
    expect(objs[0].time).toMatch(ISO);
    expect(objs[1]).toMatchObject({ level: "warn", msg: 'a\nmulti-line "message"' });
    expect(objs.map((o) => o.level)).toEqual(["info", "warn", "debug", "error"]);
    // Never coloured, even on a terminal with --log-color.
    expect(lines.join("")).not.toContain("\u001b[");
  });

  test("logNotes: one object whose notes field is the list", () => {
    const { log, lines } = collecting({ format: "json", component: "sentinel", cluster: "c1", uid: "s1" });
    logNotes(log, "info", "cluster view written", ["db d2 elected master", "k3 excluded"]);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: "cluster view written", notes: ["db d2 elected master", "k3 excluded"] });
    log.info("plain");
    expect(JSON.parse(lines[1]!)).not.toHaveProperty("notes");
  });

  test("the identity comes from the options: unknown parts are null, and a uid learnt later is added with withLogUid", () => {
    const { log, lines } = collecting({ format: "json", component: "keeper", cluster: "c1" });
    log.info("preparing");
    withLogUid(log, "keeper7").info("running");
    log.withTag("pg").info("tagged");
    const [a, b, c] = lines.map((l) => JSON.parse(l));
    expect(a).toMatchObject({ component: "keeper", cluster: "c1", uid: null });
    expect(b).toMatchObject({ component: "keeper", cluster: "c1", uid: "keeper7" });
    // A tag is not parsed for the identity; it is kept as its own field.
    expect(c).toMatchObject({ component: "keeper", uid: null, tag: "pg", msg: "tagged" });
  });
});

describe("the log flags", () => {
  const base = { "cluster-name": "c1", "store-backend": "etcdv3" };
  const resolve = (args: Record<string, unknown>, env: Record<string, string> = {}, prefix: EnvPrefix = "STSENTINEL") =>
    resolveCommonConfig({ ...base, ...args }, env, prefix);
  const problems = (args: Record<string, unknown>, env: Record<string, string> = {}): string[] => {
    try {
      resolve(args, env);
      return [];
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return [...(err as ConfigError).problems];
    }
  };

  const cases: [string, Record<string, unknown>, Record<string, string>, Pick<CommonConfig, "logFormat" | "logColor">][] = [
    ["defaults", {}, {}, { logFormat: "text", logColor: "auto" }],
    ["flags", { "log-format": "json", "log-color": true }, {}, { logFormat: "json", logColor: true }],
    ["--no-log-color", { "log-color": false }, {}, { logFormat: "text", logColor: false }],
    ["env", {}, { STSENTINEL_LOG_FORMAT: "json", STSENTINEL_LOG_COLOR: "false" }, { logFormat: "json", logColor: false }],
    ["env auto", {}, { STSENTINEL_LOG_COLOR: "auto" }, { logFormat: "text", logColor: "auto" }],
    ["the flag wins over env", { "log-format": "text", "log-color": true }, { STSENTINEL_LOG_FORMAT: "json", STSENTINEL_LOG_COLOR: "false" }, { logFormat: "text", logColor: true }],
    ["another component's env is not read", {}, { STKEEPER_LOG_FORMAT: "json" }, { logFormat: "text", logColor: "auto" }],
  ];
  for (const [name, args, env, want] of cases)
    test(name, () => {
      expect(resolve(args, env)).toMatchObject(want);
    });

  test("an invalid --log-format is a ConfigError naming the flag and the accepted values", () => {
    expect(problems({ "log-format": "xml" })).toEqual([`--log-format: "xml" is not one of text, json`]);
    expect(problems({}, { STSENTINEL_LOG_FORMAT: "JSON " })).toEqual([`--log-format: "JSON " is not one of text, json`]);
    expect(problems({}, { STSENTINEL_LOG_COLOR: "sometimes" })).toEqual([`STSENTINEL_LOG_COLOR: "sometimes" is not true, false or auto`]);
  });

  test("every daemon takes them, stolonctl does not (flags nor environment)", () => {
    expect(Object.keys(commonArgs)).toContain("log-format");
    expect(Object.keys(commonArgs)).toContain("log-color");
    expect(Object.keys(ctlArgs)).not.toContain("log-format");
    expect(Object.keys(ctlArgs)).not.toContain("log-color");
    expect(Object.keys(ctlArgs)).toContain("log-level");
    expect(resolve({}, { STOLONCTL_LOG_FORMAT: "xml" }, "STOLONCTL")).toMatchObject({ logFormat: "text" });
  });

  test("daemonLogOptions carries the flags, the cluster and the identity to createLogger", () => {
    const c = resolve({ "log-format": "json", "log-level": "warn", "log-color": false });
    expect(daemonLogOptions(c, "sentinel", "s1")).toEqual({ level: "warn", format: "json", color: false, component: "sentinel", cluster: "c1", uid: "s1" });
  });
});
