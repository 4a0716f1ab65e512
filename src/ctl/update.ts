import { isPlainObject, mergePatch, unknownSpecFields, validateSpec, validateSpecUpdate, type ClusterSpec } from "../cluster/index.ts";
import { ConfigError, SpecError } from "../lib/errors.ts";
import type { Store } from "../store/index.ts";
import { readJsonArg, type CtlIO } from "./io.ts";
import { writeClusterDataWithRetry } from "./cas.ts";

export interface UpdateOptions {
  patch: boolean;
  spec?: string;
  file?: string;
}

/**
 * `stolonctl update`: replaces the spec, or applies a JSON merge patch (RFC 7386) to it. The new
 * spec must be valid and a legal change of the old one. Written by compare-and-swap; when another
 * writer got there first the update is re-applied to the fresh data (writeClusterDataWithRetry).
 */
export async function updateSpec(store: Store, io: CtlIO, opts: UpdateOptions): Promise<void> {
  const input = await readJsonArg(io, opts.patch ? "patch" : "cluster spec", opts.spec, opts.file);
  if (input === undefined) throw new ConfigError("no spec given: pass it as an argument or with --file (- for stdin)");
  if (opts.patch && !isPlainObject(input))
    throw new ConfigError("the patch must be a JSON object");

  await writeClusterDataWithRetry(
    store,
    (cd) => {
      const prev = cd.cluster.spec;
      const next = opts.patch ? mergePatch(prev, input) : input;
      // Fields the stored spec already had that this version does not know (stolon's, a newer
      // version's) are kept; new ones in what the user gives are typos.
      const problems = validateSpec(next, { keepUnknown: unknownSpecFields(prev) });
      if (problems.length === 0) problems.push(...validateSpecUpdate(prev, next as ClusterSpec));
      if (problems.length > 0) throw new SpecError(problems, "spec update refused");

      const changed = changedFields(prev, next as ClusterSpec);
      if (changed.length === 0) {
        io.out("cluster spec unchanged");
        return null;
      }
      cd.cluster.spec = next as ClusterSpec;
      cd.cluster.generation += 1;
      cd.cluster.changeTime = io.now().toISOString();
      return `cluster spec updated: ${changed.join(", ")}`;
    },
    (msg) => io.out(msg),
  );
}

function changedFields(a: ClusterSpec, b: ClusterSpec): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return [...keys].filter((k) => JSON.stringify(ra[k]) !== JSON.stringify(rb[k])).sort();
}
