export * from "./config.ts";
export * from "./local-state.ts";
export * from "./plan.ts";
export * from "./keeper.ts";
