#!/usr/bin/env bun
/**
 * The multi-call executable that `npm run build` compiles: one binary, run under the name of a
 * command (dist/stolon-keeper, dist/stolon-sentinel, dist/stolon-proxy and dist/stolonctl are
 * links to it) or with the command as its first argument (`stolon keeper --help`).
 */
import { basename } from "node:path";
import { versionString } from "../src/lib/version.ts";
import { run as keeper } from "./keeper.ts";
import { run as proxy } from "./proxy.ts";
import { run as sentinel } from "./sentinel.ts";
import { run as stolonctl } from "./stolonctl.ts";

const commands: Record<string, (argv: string[]) => Promise<void>> = {
  "stolon-keeper": keeper,
  "stolon-sentinel": sentinel,
  "stolon-proxy": proxy,
  stolonctl,
};
const subcommands: Record<string, string> = { keeper: "stolon-keeper", sentinel: "stolon-sentinel", proxy: "stolon-proxy", stolonctl: "stolonctl", ctl: "stolonctl" };

const invoked = basename(process.argv0);
const args = process.argv.slice(2);
const byName = commands[invoked];
const bySub = commands[subcommands[args[0] ?? ""] ?? ""];
if (byName) await byName(args);
else if (bySub) await bySub(args.slice(1));
else if (args[0] === "--version" || args[0] === "version") console.log(versionString("stolon"));
else {
  const usage = [
    "usage: stolon <keeper|sentinel|proxy|stolonctl> [flags]",
    "   or: stolon-keeper|stolon-sentinel|stolon-proxy|stolonctl [flags] (links to this executable)",
  ].join("\n");
  if (args.length === 0 || args[0] === "--help" || args[0] === "-h") console.log(usage);
  else {
    console.error(`stolon: unknown command ${JSON.stringify(args[0])}\n${usage}`);
    process.exitCode = 1;
  }
}
