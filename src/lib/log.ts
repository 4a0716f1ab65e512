/**
 * Logging on consola: one root logger per process, created from --log-level, passed down;
 * components use `logger.withTag(name)`. Tests inject a collecting reporter to observe logs.
 */
import { createConsola, type ConsolaInstance, type ConsolaReporter } from "consola";
import type { LogLevel } from "./config.ts";

export type Logger = ConsolaInstance;

const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 3, debug: 4 };

export function createLogger(level: LogLevel, reporters?: ConsolaReporter[]): Logger {
  return createConsola({
    level: LEVELS[level],
    ...(reporters ? { reporters } : {}),
    formatOptions: { date: true, colors: process.stderr.isTTY ?? false },
    stderr: process.stderr,
    stdout: process.stderr,
  });
}
