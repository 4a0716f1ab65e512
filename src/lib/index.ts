export * from "./errors.ts";
export * from "./clock.ts";
export * from "./config.ts";
export * from "./log.ts";
export * from "./ids.ts";
export * from "./version.ts";
export * from "./files.ts";
export * from "./trigger.ts";
