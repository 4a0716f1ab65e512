/**
 * stolon-sentinel's flags: the common ones plus --initial-cluster-spec, each also from
 * STSENTINEL_*. The spec file is read and validated at start-up: a bad one is a start-up error.
 */
import { parseSpec, type ClusterSpec } from "../cluster/index.ts";
import { commonArgs, FlagSource, resolveCommon, type CommonConfig } from "../lib/config.ts";
import { ConfigError, SpecError, describeError } from "../lib/errors.ts";

export const sentinelArgs = {
  ...commonArgs,
  "initial-cluster-spec": { type: "string", description: "JSON cluster spec used to create the cluster when the store has no cluster data" },
} as const;

export interface SentinelConfig {
  common: CommonConfig;
  initialSpec?: ClusterSpec;
}

export function resolveSentinelConfig(
  args: Record<string, unknown>,
  env: Record<string, string | undefined>,
  readFile: (path: string) => string,
): SentinelConfig {
  const src = new FlagSource(args, env, "STSENTINEL");
  const common = resolveCommon(src);
  const file = src.string("initial-cluster-spec");
  let initialSpec: ClusterSpec | undefined;
  if (file !== undefined) {
    let text = "";
    try {
      text = readFile(file);
    } catch (err) {
      src.problems.push(`--initial-cluster-spec: cannot read "${file}": ${describeError(err)}`);
    }
    if (text !== "") {
      try {
        initialSpec = parseSpec(JSON.parse(text));
      } catch (err) {
        const why = err instanceof SpecError ? err.problems.join("; ") : `not JSON: ${describeError(err)}`;
        src.problems.push(`--initial-cluster-spec ${file}: ${why}`);
      }
    }
  }
  if (src.problems.length > 0) throw new ConfigError(src.problems);
  return { common, initialSpec };
}
