/**
 * Logging on consola: one root logger per process, created from --log-level, passed down;
 * components use `logger.withTag(name)`. Tests inject a collecting reporter to observe logs.
 *
 * Lines go to stderr as `<ISO time> <LEVEL> [tag] message`, one per line, so daemon logs can be
 * read side by side and timed (consola's own reporters drop the time when not on a terminal).
 */
import { formatWithOptions } from "node:util";
import { createConsola, type ConsolaInstance, type ConsolaReporter, type LogObject } from "consola";
import type { LogLevel } from "./config.ts";

export type Logger = ConsolaInstance;

const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 3, debug: 4 };

/** One line per entry: time, level, tag, message. */
export const lineReporter: ConsolaReporter = {
  log(o: LogObject) {
    const level = o.type === "log" || o.type === "success" || o.type === "start" || o.type === "ready" ? "INFO" : o.type.toUpperCase();
    const msg = formatWithOptions({ colors: false, breakLength: Infinity }, ...o.args);
    process.stderr.write(`${o.date.toISOString()} ${level.padEnd(5)} ${o.tag ? `[${o.tag}] ` : ""}${msg}\n`);
  },
};

export function createLogger(level: LogLevel, reporters?: ConsolaReporter[]): Logger {
  return createConsola({ level: LEVELS[level], reporters: reporters ?? [lineReporter] });
}
