#!/usr/bin/env bun
/**
 * stolon-proxy. Only the common flags exist so far; the component itself is tracked in issue #5.
 */
import { defineCommand } from "citty";
import { checkFlags, runCli } from "../src/lib/cli.ts";
import { commonArgs, resolveCommonConfig } from "../src/lib/config.ts";
import { StolonError } from "../src/lib/errors.ts";

const main = defineCommand({
  meta: { name: "stolon-proxy", description: "stolon proxy (not implemented yet)" },
  args: commonArgs,
  run: (ctx) => {
    checkFlags(ctx.rawArgs, commonArgs);
    resolveCommonConfig(ctx.args, process.env, "STPROXY");
    throw new StolonError("ENOTIMPL", "stolon-proxy is not implemented yet (issue #5)");
  },
});

await runCli("stolon-proxy", main, process.argv.slice(2));
