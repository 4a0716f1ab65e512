#!/usr/bin/env bun
/**
 * stolon-sentinel. Only the common flags exist so far; the component itself is tracked in issue #4.
 */
import { defineCommand } from "citty";
import { checkFlags, runCli } from "../src/lib/cli.ts";
import { commonArgs, resolveCommonConfig } from "../src/lib/config.ts";
import { StolonError } from "../src/lib/errors.ts";

const main = defineCommand({
  meta: { name: "stolon-sentinel", description: "stolon sentinel (not implemented yet)" },
  args: commonArgs,
  run: (ctx) => {
    checkFlags(ctx.rawArgs, commonArgs);
    resolveCommonConfig(ctx.args, process.env, "STSENTINEL");
    throw new StolonError("ENOTIMPL", "stolon-sentinel is not implemented yet (issue #4)");
  },
});

await runCli("stolon-sentinel", main, process.argv.slice(2));
