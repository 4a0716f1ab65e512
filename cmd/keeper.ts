#!/usr/bin/env bun
/**
 * stolon-keeper. Only the common flags exist so far; the component itself is tracked in issue #3.
 */
import { defineCommand } from "citty";
import { checkFlags, runCli } from "../src/lib/cli.ts";
import { commonArgs, resolveCommonConfig } from "../src/lib/config.ts";
import { StolonError } from "../src/lib/errors.ts";

const main = defineCommand({
  meta: { name: "stolon-keeper", description: "stolon keeper (not implemented yet)" },
  args: commonArgs,
  run: (ctx) => {
    checkFlags(ctx.rawArgs, commonArgs);
    resolveCommonConfig(ctx.args, process.env, "STKEEPER");
    throw new StolonError("ENOTIMPL", "stolon-keeper is not implemented yet (issue #3)");
  },
});

await runCli("stolon-keeper", main, process.argv.slice(2));
