export * from "./config.ts";
export * from "./sentinel.ts";
export * from "./decision-kinds.ts";
export * from "./metrics.ts";
