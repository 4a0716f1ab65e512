/**
 * The small layer over citty that every entry point shares: unknown flags are errors (citty
 * ignores them), --help and --version, and one-line errors with exit code 1.
 */
import { runCommand, showUsage, type ArgsDef, type CommandDef } from "citty";
import { ConfigError, StolonError } from "./errors.ts";
import { printFatal } from "./log.ts";
import { versionString } from "./version.ts";

type FlagDef = { type?: string; alias?: string | string[] };

function flagNames(argsDef: ArgsDef): { value: Set<string>; bool: Set<string> } {
  const value = new Set<string>();
  const bool = new Set<string>();
  for (const [name, d] of Object.entries(argsDef) as [string, FlagDef][]) {
    if (d.type === "positional") continue;
    const set = d.type === "boolean" ? bool : value;
    set.add(name);
    for (const a of d.alias === undefined ? [] : Array.isArray(d.alias) ? d.alias : [d.alias]) set.add(a);
  }
  return { value, bool };
}

/**
 * The values Go's strconv.ParseBool takes, which stolon's boolean flags (pflag) accept after "=":
 * `--can-be-master=0` or `=False` in a stolon manifest means false.
 */
const GO_TRUE = /^(1|t|T|TRUE|true|True)$/;
const GO_BOOL = /^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/;

/**
 * Rewrites what citty would misread the way stolon's pflag reads it: `-f=<value>` (a short flag
 * with "=", which citty reads as the value "=<value>" or as several short flags) becomes
 * `--file=<value>`, and a boolean flag's `=<value>` with any value Go accepts becomes `=true` or
 * `=false` (citty reads every value but "false" as true). Stops at "--".
 */
export function normalizeFlags(rawArgs: readonly string[], argsDef: ArgsDef): string[] {
  const { bool, value: valueFlags } = flagNames(argsDef);
  const longName = new Map<string, string>();
  for (const [name, d] of Object.entries(argsDef) as [string, FlagDef][])
    for (const a of d.alias === undefined ? [] : Array.isArray(d.alias) ? d.alias : [d.alias]) longName.set(a, name);
  const end = rawArgs.indexOf("--");
  return rawArgs.map((arg, i) => {
    const m = /^(--?)([^=]+)=(.*)$/s.exec(arg);
    // The value of a flag given as "--flag value" is left as it is, whatever it looks like.
    const isValue = i > 0 && valueFlags.has((rawArgs[i - 1] ?? "").replace(/^--?/, ""));
    if ((end >= 0 && i > end) || !m || isValue) return arg;
    const name = m[1] === "-" ? longName.get(m[2]!) : m[2]!;
    if (name === undefined) return arg;
    const value = bool.has(name) && GO_BOOL.test(m[3]!) ? String(GO_TRUE.test(m[3]!)) : m[3]!;
    return `--${name}=${value}`;
  });
}

/**
 * Throws ConfigError naming every flag in `rawArgs` that `argsDef` does not define, and every
 * value flag given without a value. Stops at "--".
 */
export function checkFlags(rawArgs: readonly string[], argsDef: ArgsDef): void {
  const { value, bool } = flagNames(argsDef);
  const problems: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] ?? "";
    if (arg === "--") break;
    if (!arg.startsWith("-") || arg === "-") continue;
    const [name = "", inline] = arg.replace(/^--?/, "").split(/=(.*)/s, 2);
    if (value.has(name)) {
      if (inline === undefined) {
        const next = rawArgs[i + 1];
        if (next === undefined) problems.push(`flag ${arg} needs a value`);
        i++;
      }
    } else if (bool.has(name) || (name.startsWith("no-") && bool.has(name.slice(3)))) {
      if (inline !== undefined && !GO_BOOL.test(inline)) problems.push(`flag ${arg}: value must be true or false`);
    } else problems.push(`unknown flag ${arg.split("=")[0]}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/** Index of the subcommand name in rawArgs (the first positional, skipping flag values). */
export function subcommandIndex(rawArgs: readonly string[], argsDef: ArgsDef): number {
  const { value } = flagNames(argsDef);
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] ?? "";
    if (arg === "--") return -1;
    if (arg.startsWith("-") && arg !== "-") {
      if (!arg.includes("=") && value.has(arg.replace(/^--?/, ""))) i++;
      continue;
    }
    return i;
  }
  return -1;
}

/**
 * Runs a citty command tree as a program: --help/-h shows the usage of the (sub)command named,
 * --version prints the version; any error is printed as one line and exits with code 1.
 */
export async function runCli(name: string, root: CommandDef<any>, rawArgs: string[]): Promise<void> {
  try {
    if (rawArgs.includes("--help") || rawArgs.includes("-h")) {
      let cmd: CommandDef<any> = root;
      let parent: CommandDef<any> | undefined;
      let rest = rawArgs;
      for (;;) {
        const subs = (cmd.subCommands ?? {}) as Record<string, CommandDef<any>>;
        const idx = subcommandIndex(rest, (cmd.args ?? {}) as ArgsDef);
        const sub = idx >= 0 ? subs[rest[idx] ?? ""] : undefined;
        if (!sub) break;
        parent = cmd;
        cmd = sub;
        rest = rest.slice(idx + 1);
      }
      await showUsage(cmd, parent);
      return;
    }
    if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "version")) {
      console.log(versionString(name));
      return;
    }
    await runCommand(root, { rawArgs: normalizeFlags(rawArgs, allArgs(root)) });
  } catch (err) {
    // citty colours parts of its messages; an error line should be plain text.
    printFatal(`${name}: ${errorLine(err).replace(/\u001b\[[0-9;]*m/g, "")}`);
    process.exitCode = 1;
  }
}

/**
 * The flags of a command and of all its subcommands, for normalizeFlags: none of our commands
 * uses one name for a boolean flag in one place and a value flag in another.
 */
function allArgs(cmd: CommandDef<any>): ArgsDef {
  const subs = Object.values((cmd.subCommands ?? {}) as Record<string, CommandDef<any>>);
  return Object.assign({}, ...subs.map(allArgs), cmd.args ?? {}) as ArgsDef;
}

function errorLine(err: unknown): string {
  if (err instanceof ConfigError && err.problems.length > 1) return `invalid arguments:\n  ${err.problems.join("\n  ")}`;
  if (err instanceof StolonError) return err.message;
  if (err instanceof Error) {
    // citty's own argument errors carry a code; anything else is unexpected and worth a stack.
    if ("code" in err && typeof err.code === "string" && err.code.startsWith("E")) return `${err.message} (see --help)`;
    return `unexpected error: ${err.stack ?? err.message}`;
  }
  return String(err);
}
