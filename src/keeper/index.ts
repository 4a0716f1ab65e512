export * from "./config.ts";
export * from "./local-state.ts";
export * from "./plan.ts";
export * from "./keeper.ts";
export * from "./keeper-routes.ts";
export * from "./metrics.ts";
export * from "./status.ts";
export * from "./report-info.ts";
