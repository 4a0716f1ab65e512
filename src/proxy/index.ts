export * from "./config.ts";
export * from "./forwarder.ts";
export * from "./proxy.ts";
export * from "./metrics.ts";
export * from "./read-only.ts";
