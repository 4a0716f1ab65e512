#!/usr/bin/env bun
/**
 * stolonctl: the admin CLI. Thin: parse flags with citty, resolve the common config
 * (flag > STOLONCTL_* env > default), open the store, run a subcommand from src/ctl.
 * Common flags may be given before or after the subcommand name.
 */
import { createInterface } from "node:readline/promises";
import { defineCommand, type ArgsDef, type CommandDef } from "citty";
import {
  confirmWipe,
  failKeeper,
  initCluster,
  promoteCluster,
  removeKeeper,
  readClusterData,
  showSpec,
  showStatus,
  STATUS_FORMATS,
  type StatusFormat,
  updateSpec,
  writeClusterData,
  pauseCluster,
  resumeCluster,
  showExplain,
  switchover as requestSwitchover,
  cancelSwitchover,
  SWITCHOVER_DEFAULTS,
  type CtlIO,
} from "../src/ctl/index.ts";
import { checkFlags, runCli, subcommandIndex } from "../src/lib/cli.ts";
import { ctlArgs as commonArgs, resolveCommonConfig } from "../src/lib/config.ts";
import { ConfigError } from "../src/lib/errors.ts";
import { REFUSED_SUBCOMMANDS } from "../src/lib/stolon-flags.ts";
import { newUid } from "../src/lib/ids.ts";
import { versionString } from "../src/lib/version.ts";
import { openStore, type OpenedStore } from "../src/store/index.ts";

const io: CtlIO = {
  out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  readInput: async (path) => (path === "-" ? await Bun.stdin.text() : await Bun.file(path).text()),
  confirm: async (question) => {
    if (!process.stdin.isTTY) return false;
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await rl.question(question)).trim());
    } finally {
      rl.close();
    }
  },
  now: () => new Date(),
  newUid,
};

/** Common flags given before the subcommand name, captured by the group commands' setup. */
const rootArgs: Record<string, unknown> = {};

/** Runs `fn` with the store named by the common flags (root's, overridden by the subcommand's). */
async function withStore(subArgs: Record<string, unknown>, fn: (s: OpenedStore) => Promise<void>): Promise<void> {
  const merged: Record<string, unknown> = { ...rootArgs };
  for (const k of Object.keys(commonArgs)) if (subArgs[k] !== undefined) merged[k] = subArgs[k];
  const cfg = resolveCommonConfig(merged, process.env, "STOLONCTL");
  for (const w of cfg.warnings) process.stderr.write(`stolonctl: warning: ${w}\n`);
  const opened = openStore(cfg);
  try {
    await fn(opened);
  } finally {
    await opened.store.close();
  }
}

/** Defines a subcommand that also accepts the common flags and rejects unknown ones. */
function sub<const T extends ArgsDef>(
  name: string,
  description: string,
  args: T,
  run: (args: Record<string, any>, positionals: string[]) => Promise<void>,
): CommandDef<T & typeof commonArgs> {
  const all = { ...commonArgs, ...args } as T & typeof commonArgs;
  return defineCommand({
    meta: { name, description },
    args: all,
    run: async (ctx) => {
      checkFlags(ctx.rawArgs, all);
      await run(ctx.args, ctx.args._);
    },
  });
}

const noExtra = (what: string, positionals: string[], max: number) => {
  if (positionals.length > max) throw new ConfigError(`${what}: unexpected argument "${positionals[max]}"`);
};

const yes = { yes: { type: "boolean", alias: "y", description: "do not ask for confirmation" } } as const;
const file = { file: { type: "string", alias: "f", description: "read the JSON from this file (- for stdin)" } } as const;

const ifAbsent = { "if-absent": { type: "boolean", description: "only if no cluster exists; an existing one is left as it is (exit 0)" } } as const;
const init = sub("init", "Initialize a new cluster", { spec: { type: "positional", required: false, description: "cluster spec JSON (default {\"initMode\":\"new\"})" }, ...file, ...yes, ...ifAbsent }, (a, pos) => {
  noExtra("init", pos, 1);
  return withStore(a, ({ store }) => initCluster(store, io, { spec: a.spec, file: a.file, yes: a.yes === true, ifAbsent: a["if-absent"] === true }));
});

const spec = sub("spec", "Show the cluster spec", { defaults: { type: "boolean", description: "show every field, defaults included" } }, (a, pos) => {
  noExtra("spec", pos, 0);
  return withStore(a, ({ store }) => showSpec(store, io, { defaults: a.defaults === true }));
});

const update = sub(
  "update",
  "Update the cluster spec (full replace, or a JSON merge patch with --patch)",
  { spec: { type: "positional", required: false, description: "spec or patch JSON" }, patch: { type: "boolean", alias: "p", description: "apply the JSON as a merge patch (RFC 7386)" }, ...file },
  (a, pos) => {
    noExtra("update", pos, 1);
    return withStore(a, ({ store }) => updateSpec(store, io, { patch: a.patch === true, spec: a.spec, file: a.file }));
  },
);

const statusFormat = {
  type: "string",
  alias: "f",
  description: "text or json (ours, default text), stolon (stolon's text layout) or stolon-json (what stolon's -f json prints)",
} as const;
const explainFlag = {
  explain: { type: "boolean", description: "dry run of the leader sentinel's next decision: what it would change and why (writes nothing)" },
} as const;

/** `explain` prints text or json only. */
function explainFormat(format: string): "text" | "json" {
  if (format !== "text" && format !== "json") throw new ConfigError(`--format: "${format}" is not one of text, json (explain prints no other)`);
  return format;
}

const status = sub("status", "Show the cluster status", { format: statusFormat, ...explainFlag }, (a, pos) => {
  noExtra("status", pos, 0);
  const format = a.format ?? "text";
  if (a.explain === true) return withStore(a, ({ store }) => showExplain(store, io, { format: explainFormat(format) }));
  if (!(STATUS_FORMATS as readonly string[]).includes(format))
    throw new ConfigError(`--format: "${format}" is not one of ${STATUS_FORMATS.join(", ")}`);
  return withStore(a, ({ store, election }) => showStatus(store, election(20_000), io, { format: format as StatusFormat }));
});

const explain = sub(
  "explain",
  "Dry run of the leader sentinel's next decision (same as status --explain): what it would change, why, and the candidates for master",
  { format: { type: "string", alias: "f", description: "text (default) or json" } },
  (a, pos) => {
    noExtra("explain", pos, 0);
    const format = explainFormat(a.format ?? "text");
    return withStore(a, ({ store }) => showExplain(store, io, { format }));
  },
);

const switchoverCmd = sub(
  "switchover",
  "Planned master change without losing acknowledged writes, carried out by the leader sentinel",
  {
    to: { type: "string", description: "the keeper uid to make master (default: the best eligible standby)" },
    wait: { type: "boolean", description: "follow the switchover, print each step, exit 0 when done and 1 when it failed or was rolled back" },
    timeout: { type: "string", description: `from acceptance until the promotion must have started, else it is rolled back (default ${SWITCHOVER_DEFAULTS.timeout})` },
    "drain-timeout": { type: "string", description: `how long proxies wait for open connections to go idle before cutting them (default ${SWITCHOVER_DEFAULTS.drainTimeout})` },
    cancel: { type: "boolean", description: "cancel the switchover in progress: the sentinel rolls it back unless its promotion has started" },
  },
  (a, pos) => {
    noExtra("switchover", pos, 0);
    if (a.cancel === true) {
      const extra = (["to", "wait", "timeout", "drain-timeout"] as const).filter((k) => a[k] !== undefined && a[k] !== false);
      if (extra.length > 0) throw new ConfigError(`--cancel takes no other switchover option (given: ${extra.map((k) => `--${k}`).join(", ")})`);
      return withStore(a, ({ store }) => cancelSwitchover(store, io));
    }
    return withStore(a, ({ store }) =>
      requestSwitchover(store, io, { to: a.to, wait: a.wait === true, timeout: a.timeout, drainTimeout: a["drain-timeout"] }),
    );
  },
);

const pause = sub(
  "pause",
  "Maintenance mode: the sentinel makes no failover, demotion or removal until resume (or --for has passed)",
  {
    for: { type: "string", description: "end the pause by itself after this long (e.g. 30m); default: until stolonctl resume" },
    reason: { type: "string", description: "why, shown by stolonctl status" },
  },
  (a, pos) => {
    noExtra("pause", pos, 0);
    return withStore(a, ({ store }) => pauseCluster(store, io, { for: a.for, reason: a.reason }));
  },
);

const resume = sub("resume", "End maintenance mode: the sentinel's usual rules apply again", {}, (a, pos) => {
  noExtra("resume", pos, 0);
  return withStore(a, ({ store }) => resumeCluster(store, io));
});

const keeperArg = { keeper: { type: "positional", required: true, description: "keeper uid" } } as const;

const failkeeper = sub("failkeeper", "Force a keeper to be considered failed (a master is failed over)", keeperArg, (a, pos) => {
  noExtra("failkeeper", pos, 1);
  return withStore(a, ({ store }) => failKeeper(store, io, a.keeper));
});

const removekeeper = sub("removekeeper", "Remove a keeper and its db from the cluster (not the master's)", keeperArg, (a, pos) => {
  noExtra("removekeeper", pos, 1);
  return withStore(a, ({ store }) => removeKeeper(store, io, a.keeper));
});

const confirmwipe = sub(
  "confirm-wipe",
  "Allow a keeper to remove the data it refuses to remove (a former master's): for its current request only",
  { ...keeperArg, db: { type: "string", description: "the db whose data the keeper holds (default: the one its info reports)" } },
  (a, pos) => {
    noExtra("confirm-wipe", pos, 1);
    return withStore(a, ({ store }) => confirmWipe(store, io, a.keeper, { db: a.db }));
  },
);

const promote = sub("promote", "Promote a standby cluster to a master cluster", { ...yes }, (a, pos) => {
  noExtra("promote", pos, 0);
  return withStore(a, ({ store }) => promoteCluster(store, io, { yes: a.yes === true }));
});

const clusterdataRead = sub("read", "Print the cluster data as stored", { pretty: { type: "boolean", description: "indent the JSON" } }, (a, pos) => {
  noExtra("clusterdata read", pos, 0);
  return withStore(a, ({ store }) => readClusterData(store, io, { pretty: a.pretty === true }));
});

const clusterdataWrite = sub("write", "Replace the cluster data (from a file or stdin)", { ...file, ...yes }, (a, pos) => {
  noExtra("clusterdata write", pos, 0);
  return withStore(a, ({ store }) => writeClusterData(store, io, { file: a.file, yes: a.yes === true }));
});

/**
 * A command that only groups subcommands. It takes the common flags given before the subcommand
 * name (checked, and kept for withStore) and fails clearly when no subcommand is named.
 */
function group(
  name: string,
  description: string,
  subCommands: Record<string, CommandDef<any>>,
  isRoot = false,
): CommandDef<typeof commonArgs> {
  return defineCommand({
    meta: { name, description },
    args: commonArgs,
    setup: (ctx) => {
      const idx = subcommandIndex(ctx.rawArgs, commonArgs);
      checkFlags(idx >= 0 ? ctx.rawArgs.slice(0, idx) : ctx.rawArgs, commonArgs);
      const where = isRoot ? "" : ` to ${name}`;
      if (idx < 0) throw new ConfigError(`no command given${where}: one of ${Object.keys(subCommands).join(", ")} (see --help)`);
      for (const k of Object.keys(commonArgs)) if (ctx.args[k] !== undefined) rootArgs[k] = ctx.args[k];
    },
    subCommands,
  });
}

/** stolon's subcommands that are refused, with why (stolon-flags.ts); their flags are not checked. */
const refusedSubcommands = Object.fromEntries(
  Object.entries(REFUSED_SUBCOMMANDS).map(([name, why]) => [
    name,
    defineCommand({
      meta: { name, description: "not supported (stolon's; running it says why and what to use)" },
      run: () => {
        throw new ConfigError(why);
      },
    }),
  ]),
);

const version = defineCommand({
  meta: { name: "version", description: "Print the version" },
  run: () => console.log(versionString("stolonctl")),
});

const clusterdata = group("clusterdata", "Read or write the raw cluster data", { read: clusterdataRead, write: clusterdataWrite });
export const root = group(
  "stolonctl",
  "stolon command line client",
  { init, spec, update, status, explain, switchover: switchoverCmd, pause, resume, failkeeper, removekeeper, "confirm-wipe": confirmwipe, promote, clusterdata, version, ...refusedSubcommands },
  true,
);

/** Runs stolonctl with these arguments (the multi-call executable, cmd/stolon.ts, calls this too). */
export const run = (argv: string[]): Promise<void> => runCli("stolonctl", root, argv);

if (import.meta.main) await run(process.argv.slice(2));
