/** stolonctl's subcommands, written against Store/Election/CtlIO so they run on fakes too. */
export * from "./io.ts";
export * from "./init.ts";
export * from "./spec.ts";
export * from "./update.ts";
export * from "./status.ts";
export * from "./stolon-status.ts";
export * from "./clusterdata.ts";
export * from "./ops.ts";
export * from "./cas.ts";
export * from "./confirm-wipe.ts";
export * from "./switchover.ts";
export * from "./pause.ts";
export * from "./explain.ts";
