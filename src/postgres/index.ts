export * from "./conninfo.ts";
export * from "./config.ts";
export * from "./lsn.ts";
export * from "./control-data.ts";
export * from "./os-user.ts";
export * from "./runner.ts";
export * from "./manager.ts";
export * from "./quote.ts";
