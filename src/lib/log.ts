/**
 * Logging on consola: one root logger per process, created from the log flags, passed down;
 * components may add `logger.withTag(name)`. Tests inject a collecting reporter (or a collecting
 * `write`) to observe logs.
 *
 * Two formats, both one line per entry on stderr (--log-format):
 *  - text: `<ISO time> <LEVEL> [component uid] message`, so daemon logs can be read side by side
 *    and timed (consola's own reporters drop the time when not on a terminal). The level is
 *    coloured only when stderr is a terminal and --log-color is not false: escape codes never
 *    reach a file or a pipe.
 *  - json: `{"time","level","component","cluster","uid","msg"}` plus `notes` (see logNotes), for
 *    log shippers. Every value is escaped by JSON.stringify, so a message carrying a newline
 *    (from etcd contents, PostgreSQL output) stays one line.
 *
 * The identity (component, cluster, uid) is given when the logger is created and travels as
 * consola defaults on each entry: nothing parses the tag back. A uid learnt later (the keeper's,
 * read from its data dir) is added with `withLogUid`.
 */
import { formatWithOptions } from "node:util";
import { createConsola, type ConsolaInstance, type ConsolaReporter, type InputLogObject, type LogObject } from "consola";
import type { CommonConfig, LogColor, LogFormat, LogLevel } from "./config.ts";

export type Logger = ConsolaInstance;

const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 3, debug: 4 };

export interface LoggerOptions {
  level: LogLevel;
  /** Default text. */
  format?: LogFormat;
  /** Text only; default auto. Colours need a terminal in any case. */
  color?: LogColor;
  /** "keeper", "sentinel" or "proxy". */
  component?: string;
  cluster?: string;
  uid?: string;
  /** Where each line (newline included) goes; default stderr. */
  write?: (line: string) => void;
  /** Whether `write` goes to a terminal; default: whether stderr is one. */
  isTTY?: boolean;
  /** Replace the line writer altogether (tests that look at log objects). */
  reporters?: ConsolaReporter[];
}

/** What createLogger puts on every entry (consola defaults); read by the line reporters. */
interface Identity {
  component?: string;
  cluster?: string;
  uid?: string;
}
type Entry = LogObject & Identity & { notes?: unknown };

/** consola's log types to the four levels of --log-level. */
export function levelName(type: string): LogLevel {
  switch (type) {
    case "fatal":
    case "error":
    case "fail":
      return "error";
    case "warn":
      return "warn";
    case "debug":
    case "trace":
    case "verbose":
      return "debug";
    default:
      return "info";
  }
}

const COLOURS: Record<LogLevel, string> = { error: "\u001b[31m", warn: "\u001b[33m", info: "\u001b[32m", debug: "\u001b[90m" };
const RESET = "\u001b[0m";

function message(o: LogObject): string {
  return formatWithOptions({ colors: false, breakLength: Infinity }, ...o.args);
}

function notesOf(o: Entry): string[] {
  return Array.isArray(o.notes) ? o.notes.map((n) => String(n)) : [];
}

/** Text lines: the message, then each note as a line of its own with the same prefix. */
export function textReporter(write: (line: string) => void, colour: boolean): ConsolaReporter {
  return {
    log(o: LogObject) {
      const e = o as Entry;
      const level = levelName(o.type);
      const word = level.toUpperCase().padEnd(5);
      const who = [e.component, e.uid].filter((s) => typeof s === "string" && s !== "").join(" ");
      const tag = who && o.tag ? `${who}:${o.tag}` : who || o.tag;
      const prefix = `${o.date.toISOString()} ${colour ? `${COLOURS[level]}${word}${RESET}` : word} ${tag ? `[${tag}] ` : ""}`;
      const msg = message(o);
      let out = msg === "" && notesOf(e).length > 0 ? "" : `${prefix}${msg}\n`;
      for (const n of notesOf(e)) out += `${prefix}${n}\n`;
      write(out);
    },
  };
}

/** One JSON object per entry. */
export function jsonReporter(write: (line: string) => void): ConsolaReporter {
  return {
    log(o: LogObject) {
      const e = o as Entry;
      const line: Record<string, unknown> = {
        time: o.date.toISOString(),
        level: levelName(o.type),
        component: e.component ?? null,
        cluster: e.cluster ?? null,
        uid: e.uid ?? null,
        msg: message(o),
      };
      if (o.tag) line.tag = o.tag;
      if (e.notes !== undefined) line.notes = notesOf(e);
      write(`${JSON.stringify(line)}\n`);
    },
  };
}

const toStderr = (line: string) => {
  process.stderr.write(line);
};

/** The text writer on stderr, without colours (the default of createLogger). */
export const lineReporter: ConsolaReporter = textReporter(toStderr, false);

/**
 * The daemon's logger on stderr, once created with options: the error that ends the process
 * (printed by runCli after the command failed) goes through it when it writes JSON, so that a
 * daemon started with --log-format json writes nothing but JSON lines, its last word included.
 */
let stderrJson: Logger | undefined;

/**
 * Prints the one line that ends a failed command (runCli): as a JSON error entry when the
 * process's logger writes JSON to stderr, else as the plain line it always was.
 */
export function printFatal(line: string): void {
  if (stderrJson) stderrJson.error(line);
  else console.error(line);
}

/**
 * The process's root logger. `createLogger("warn")` and `createLogger("warn", [reporter])` stay
 * for tools and tests; daemons pass the options (see daemonLogOptions).
 */
export function createLogger(o: LogLevel | LoggerOptions, reporters?: ConsolaReporter[]): Logger {
  const opts: LoggerOptions = typeof o === "string" ? { level: o, reporters } : o;
  const write = opts.write ?? toStderr;
  const isTTY = opts.isTTY ?? (opts.write === undefined && process.stderr.isTTY === true);
  const colour = (opts.color ?? "auto") !== false && isTTY;
  const identity: Identity = {};
  if (opts.component !== undefined) identity.component = opts.component;
  if (opts.cluster !== undefined) identity.cluster = opts.cluster;
  if (opts.uid !== undefined) identity.uid = opts.uid;
  const log = createConsola({
    level: LEVELS[opts.level],
    reporters: opts.reporters ?? [opts.format === "json" ? jsonReporter(write) : textReporter(write, colour)],
    defaults: identity as InputLogObject,
  });
  if (opts.format === "json" && opts.write === undefined && opts.reporters === undefined) stderrJson = log;
  return log;
}

/** The logger options of a daemon, from its common flags. */
export function daemonLogOptions(common: CommonConfig, component: string, uid?: string): LoggerOptions {
  return { level: common.logLevel, format: common.logFormat, color: common.logColor, component, cluster: common.clusterName, uid };
}

/** The same logger, with the component's uid once it is known (the keeper reads it from its data dir). */
export function withLogUid(log: Logger, uid: string): Logger {
  return log.withDefaults({ uid } as InputLogObject);
}

/**
 * Logs a decision with the notes that explain it. Text: the summary, then one line per note (as
 * the daemons always printed them); json: one object whose `notes` field is the list. An empty
 * summary prints the notes alone in text.
 */
export function logNotes(log: Logger, level: "debug" | "info" | "warn" | "error", summary: string, notes: readonly string[]): void {
  log[level]({ args: [summary], notes: [...notes] } as InputLogObject);
}
