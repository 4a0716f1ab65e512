export * from "./config.ts";
export * from "./sentinel.ts";
