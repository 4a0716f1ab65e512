/**
 * What stolonctl's subcommands need from the outside, so they run against a fake Store and a
 * scripted IO in unit tests and against etcd and a terminal in real use.
 */
import { ConfigError, describeError } from "../lib/errors.ts";

export interface CtlIO {
  /** Writes one block of output to stdout. */
  out(text: string): void;
  /** Reads a file, or stdin for "-". */
  readInput(path: string): Promise<string>;
  /** Asks a yes/no question; resolves false when there is no terminal to ask on. */
  confirm(question: string): Promise<boolean>;
  now(): Date;
  newUid(): string;
}

/** The JSON text given either as a positional argument or with -f FILE|-; never both. */
export async function readJsonArg(
  io: CtlIO,
  what: string,
  positional: string | undefined,
  file: string | undefined,
): Promise<unknown | undefined> {
  if (positional !== undefined && file !== undefined)
    throw new ConfigError(`give the ${what} either as an argument or with --file, not both`);
  let text: string | undefined = positional;
  let source = "argument";
  if (file !== undefined) {
    source = file === "-" ? "stdin" : `file ${file}`;
    try {
      text = await io.readInput(file);
    } catch (err) {
      throw new ConfigError(`cannot read ${what} from ${source}: ${describeError(err)}`, { cause: err });
    }
  }
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`the ${what} (${source}) is not valid JSON: ${describeError(err)}`, { cause: err });
  }
}
