/**
 * Flags shared by every component (stolon's cmd/common.go) and their resolution:
 * flag > <PREFIX>_<FLAG> environment variable (non-empty) > default. Pure: takes args and env,
 * returns a typed config or throws ConfigError listing every problem.
 */
import { existsSync } from "node:fs";
import { boundsProblem, describeBounds, parseDuration, type DurationBounds } from "../cluster/duration.ts";
import { ConfigError } from "./errors.ts";
import { parseListenAddress } from "./listen-address.ts";

/** --store-timeout bounds every etcd request of every component. */
export const STORE_TIMEOUT_BOUNDS: DurationBounds = { minMs: 100, maxMs: 600_000 };
const STORE_TIMEOUT_DEFAULT = "5s";

export type EnvPrefix = "STOLONCTL" | "STKEEPER" | "STSENTINEL" | "STPROXY";
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
/** --log-color: true or false, or "auto" (the default): colours when stderr is a terminal. */
export type LogColor = boolean | "auto";

/** citty argument definitions. No citty defaults: undefined means "not given", so env can apply. */
export const commonArgs = {
  "cluster-name": { type: "string", description: "cluster name (required)" },
  "store-backend": { type: "string", description: "store backend: etcdv3 (alias: etcd) (required)" },
  "store-endpoints": {
    type: "string",
    description: "comma separated list of store endpoints (default: http://127.0.0.1:2379)",
  },
  "store-prefix": { type: "string", description: "store base prefix (default: stolon/cluster)" },
  "store-timeout": {
    type: "string",
    description: `store request timeout, ${describeBounds(STORE_TIMEOUT_BOUNDS)} (default: ${STORE_TIMEOUT_DEFAULT})`,
  },
  "store-cert-file": { type: "string", description: "certificate file for client identification to the store" },
  "store-key": { type: "string", description: "private key file for client identification to the store" },
  "store-ca-file": { type: "string", description: "CA certificate file for the store's TLS" },
  "store-skip-tls-verify": { type: "boolean", description: "skip the store certificate's host name verification" },
  "log-level": { type: "string", description: "debug, info, warn or error (default: info)" },
  "log-format": { type: "string", description: "text or json, one object per line (default: text)" },
  "log-color": {
    type: "boolean",
    description: "colour the level in text logs; only ever on a terminal (default: auto; the environment variable also takes auto)",
  },
  "metrics-listen-address": { type: "string", description: "listen address (host:port, :port) of /metrics, /health and /ready (default: none)" },
} as const;

/** The log output flags: the daemons' only, as in stolon (stolonctl prints for people). */
const DAEMON_ONLY_FLAGS = ["log-format", "log-color"] as const;

/** The common flags stolonctl takes: commonArgs without the daemons' log output flags. */
export const ctlArgs = Object.fromEntries(
  Object.entries(commonArgs).filter(([k]) => !(DAEMON_ONLY_FLAGS as readonly string[]).includes(k)),
) as Omit<typeof commonArgs, (typeof DAEMON_ONLY_FLAGS)[number]>;

export interface CommonConfig {
  clusterName: string;
  storeBackend: "etcdv3";
  storeEndpoints: string[];
  storePrefix: string;
  storeTimeoutMs: number;
  storeCertFile?: string;
  storeKeyFile?: string;
  storeCaFile?: string;
  storeSkipTlsVerify: boolean;
  logLevel: LogLevel;
  /** Always text and auto for stolonctl. */
  logFormat: LogFormat;
  logColor: LogColor;
  metricsListenAddress?: string;
}

type Args = Record<string, unknown>;
type Env = Record<string, string | undefined>;

/** Looks a flag up: the command line first, then the component's environment variable. */
export class FlagSource {
  constructor(
    private readonly args: Args,
    private readonly env: Env,
    readonly envPrefix: EnvPrefix,
    readonly problems: string[] = [],
  ) {}

  envName(flag: string): string {
    return `${this.envPrefix}_${flag.toUpperCase().replace(/-/g, "_")}`;
  }

  string(flag: string): string | undefined {
    const v = this.args[flag];
    if (typeof v === "string") return v;
    const e = this.env[this.envName(flag)];
    return e !== undefined && e !== "" ? e : undefined;
  }

  bool(flag: string, def: boolean): boolean {
    const v = this.args[flag];
    if (typeof v === "boolean") return v;
    const e = this.env[this.envName(flag)];
    if (e === undefined || e === "") return def;
    if (/^(1|t|true)$/i.test(e)) return true;
    if (/^(0|f|false)$/i.test(e)) return false;
    this.problems.push(`${this.envName(flag)}: "${e}" is not a boolean (use true or false)`);
    return def;
  }

  /** A boolean flag whose absence means "auto", which its environment variable may also say. */
  boolOrAuto(flag: string): boolean | "auto" {
    const v = this.args[flag];
    if (typeof v === "boolean") return v;
    const e = this.env[this.envName(flag)];
    if (e === undefined || e === "" || /^auto$/i.test(e)) return "auto";
    if (/^(1|t|true)$/i.test(e)) return true;
    if (/^(0|f|false)$/i.test(e)) return false;
    this.problems.push(`${this.envName(flag)}: "${e}" is not true, false or auto`);
    return "auto";
  }

  /** A duration flag, which must lie within `bounds` (a problem names the flag, the value and the bound). */
  durationMs(flag: string, def: string, bounds: DurationBounds): number {
    const raw = this.string(flag) ?? def;
    const d = parseDuration(raw);
    if ("error" in d) {
      this.problems.push(`--${flag}: ${d.error}`);
      return 0;
    }
    const out = boundsProblem(raw, d.ms, bounds);
    if (out !== null) this.problems.push(`--${flag}: ${out}`);
    return d.ms;
  }

  integer(flag: string, def: number, min: number, max: number): number {
    const raw = this.string(flag);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || n < min || n > max) {
      this.problems.push(`--${flag}: must be an integer from ${min} to ${max}, got "${raw}"`);
      return def;
    }
    return n;
  }
}

const CLUSTER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** --log-format and --log-color (daemons only). */
function resolveLogOutput(src: FlagSource): { logFormat: LogFormat; logColor: LogColor } {
  if (src.envPrefix === "STOLONCTL") return { logFormat: "text", logColor: "auto" };
  const logFormat = (src.string("log-format") ?? "text") as LogFormat;
  if (!LOG_FORMATS.includes(logFormat))
    src.problems.push(`--log-format: "${logFormat}" is not one of ${LOG_FORMATS.join(", ")}`);
  const logColor = src.boolOrAuto("log-color");
  return { logFormat: LOG_FORMATS.includes(logFormat) ? logFormat : "text", logColor };
}

/** Resolves the common flags. Problems are appended to `src.problems`; the caller throws. */
export function resolveCommon(src: FlagSource): CommonConfig {
  const p = src.problems;
  const clusterName = src.string("cluster-name");
  if (clusterName === undefined) p.push(`--cluster-name is required (or set ${src.envName("cluster-name")})`);
  else if (!CLUSTER_NAME_RE.test(clusterName))
    p.push(`--cluster-name: "${clusterName}" must start with a letter or digit and contain only letters, digits, "_", "." and "-"`);

  const backend = src.string("store-backend");
  if (backend === undefined) p.push(`--store-backend is required: etcdv3 (or set ${src.envName("store-backend")})`);
  else if (backend !== "etcdv3" && backend !== "etcd")
    p.push(`--store-backend: unsupported backend "${backend}" (supported: etcdv3, with "etcd" as an alias)`);

  const endpointsRaw = src.string("store-endpoints") ?? "http://127.0.0.1:2379";
  const endpoints = endpointsRaw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (endpoints.length === 0) p.push("--store-endpoints: no endpoint given");
  const schemes = new Set<string>();
  for (const e of endpoints) {
    let url: URL | undefined;
    try {
      url = new URL(e);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "" || url.pathname.length > 1)
      p.push(`--store-endpoints: "${e}" is not an endpoint URL such as http://127.0.0.1:2379`);
    else schemes.add(url.protocol);
  }
  if (schemes.size > 1) p.push("--store-endpoints: all endpoints must use the same scheme (http or https)");

  const storePrefix = src.string("store-prefix") ?? "stolon/cluster";
  const storeTimeoutMs = src.durationMs("store-timeout", STORE_TIMEOUT_DEFAULT, STORE_TIMEOUT_BOUNDS);

  const storeCertFile = src.string("store-cert-file");
  const storeKeyFile = src.string("store-key");
  const storeCaFile = src.string("store-ca-file");
  if ((storeCertFile === undefined) !== (storeKeyFile === undefined))
    p.push("--store-cert-file and --store-key must be given together");
  for (const [flag, file] of [
    ["store-cert-file", storeCertFile],
    ["store-key", storeKeyFile],
    ["store-ca-file", storeCaFile],
  ] as const)
    if (file !== undefined && !existsSync(file)) p.push(`--${flag}: file "${file}" does not exist`);
  if ((storeCertFile || storeCaFile) && !schemes.has("https:") && schemes.size > 0)
    p.push("--store-cert-file/--store-ca-file given but --store-endpoints do not use https");

  const logLevel = (src.string("log-level") ?? "info") as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) p.push(`--log-level: "${logLevel}" is not one of ${LOG_LEVELS.join(", ")}`);

  const metricsListenAddress = src.string("metrics-listen-address");
  if (metricsListenAddress !== undefined) {
    const a = parseListenAddress(metricsListenAddress);
    if ("error" in a) p.push(`--metrics-listen-address: ${a.error}`);
  }

  return {
    clusterName: clusterName ?? "",
    storeBackend: "etcdv3",
    storeEndpoints: endpoints,
    storePrefix,
    storeTimeoutMs,
    storeCertFile,
    storeKeyFile,
    storeCaFile,
    storeSkipTlsVerify: src.bool("store-skip-tls-verify", false),
    logLevel,
    ...resolveLogOutput(src),
    metricsListenAddress,
  };
}

/** Resolves only the common flags; throws ConfigError listing every problem. */
export function resolveCommonConfig(args: Args, env: Env, prefix: EnvPrefix): CommonConfig {
  const src = new FlagSource(args, env, prefix);
  const cfg = resolveCommon(src);
  if (src.problems.length > 0) throw new ConfigError(src.problems);
  return cfg;
}
