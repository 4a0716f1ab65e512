/**
 * Flags shared by every component (stolon's cmd/common.go) and their resolution:
 * flag > <PREFIX>_<FLAG> environment variable (non-empty) > default. Pure: takes args and env,
 * returns a typed config or throws ConfigError listing every problem.
 */
import { existsSync } from "node:fs";
import { boundsProblem, describeBounds, parseDuration, type DurationBounds } from "../cluster/duration.ts";
import { ConfigError } from "./errors.ts";
import { parseByteSize } from "./byte-size.ts";
import { parseListenAddress } from "./listen-address.ts";
import { DEPRECATED_FLAGS, REFUSED_FLAGS, REFUSED_STORE_BACKENDS, stolonCompatArgs, SUPPORTED_STORE_BACKEND } from "./stolon-flags.ts";

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
  "store-backend": {
    type: "string",
    description: "store backend: etcdv3 (required; stolon's etcd/etcdv2, consul and kubernetes are refused with how to move)",
  },
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
  ...stolonCompatArgs,
} as const;

/**
 * The log output flags: the daemons' only (stolonctl prints for people). stolon's stolonctl has no
 * --log-color either (cmd/common.go adds it for the daemons only), so no stolon user passes it.
 */
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
  /** Non-fatal remarks (deprecated stolon flags, flags without effect), logged at start. */
  warnings: string[];
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

  /**
   * Where a flag's value comes from, as a problem or warning should name it: "--flag" when given on
   * the command line, its environment variable when set there (non-empty), undefined when not given.
   */
  origin(flag: string): string | undefined {
    if (this.args[flag] !== undefined) return `--${flag}`;
    const e = this.env[this.envName(flag)];
    return e !== undefined && e !== "" ? this.envName(flag) : undefined;
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

  /** A byte size flag (see byte-size.ts) from `min` to `max` bytes; undefined when not given. */
  byteSize(flag: string, min: number, max: number): number | undefined {
    const raw = this.string(flag);
    if (raw === undefined) return undefined;
    const r = parseByteSize(raw);
    if ("error" in r) {
      this.problems.push(`--${flag}: ${r.error}`);
      return undefined;
    }
    if (r.bytes < min || r.bytes > max) {
      this.problems.push(`--${flag}: "${raw}" is ${r.bytes} bytes, outside ${min} to ${max}`);
      return undefined;
    }
    return r.bytes;
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

  resolveStoreBackend(src);

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

  const warnings: string[] = [];
  const logLevel = resolveLogLevel(src, warnings);
  refuseFlags(src);

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
    warnings,
  };
}

/** --store-backend: etcdv3 only; stolon's other backends are refused with how to move (stolon-flags.ts). */
function resolveStoreBackend(src: FlagSource): void {
  const backend = src.string("store-backend");
  const where = src.origin("store-backend");
  if (backend === undefined)
    src.problems.push(`--store-backend is required: ${SUPPORTED_STORE_BACKEND} (or set ${src.envName("store-backend")})`);
  else if (backend !== SUPPORTED_STORE_BACKEND) {
    const why = REFUSED_STORE_BACKENDS[backend] ?? `the only supported backend is ${SUPPORTED_STORE_BACKEND}`;
    src.problems.push(`${where}: unsupported backend "${backend}": ${why}`);
  }
}

/**
 * --log-level, and stolon's deprecated --debug. As in stolon, --debug (or its environment
 * variable) set to true wins over --log-level: stolon sets the level first and then turns debug on.
 */
function resolveLogLevel(src: FlagSource, warnings: string[]): LogLevel {
  const raw = src.string("log-level") ?? "info";
  const valid = (LOG_LEVELS as readonly string[]).includes(raw);
  if (!valid) src.problems.push(`${src.origin("log-level")}: "${raw}" is not one of ${LOG_LEVELS.join(", ")}`);
  const debugFrom = src.origin("debug");
  if (debugFrom === undefined) return valid ? (raw as LogLevel) : "info";
  const debug = src.bool("debug", false);
  const replacement = debugFrom.startsWith("--") ? DEPRECATED_FLAGS.debug : `${src.envName("log-level")}=debug`;
  if (!debug) warnings.push(`${debugFrom} is deprecated and false here, so it has no effect; remove it (to see debug logs, use ${replacement})`);
  else if (src.origin("log-level") !== undefined && raw !== "debug")
    warnings.push(`${debugFrom} is deprecated: use ${replacement}; as in stolon, it wins over ${src.origin("log-level")} ${raw}`);
  else warnings.push(`${debugFrom} is deprecated: use ${replacement}`);
  return debug ? "debug" : valid ? (raw as LogLevel) : "info";
}

/**
 * stolon flags that cannot be honoured (stolon-flags.ts REFUSED_FLAGS): the ones given are one
 * problem per reason, and the reason is not repeated when --store-backend already gave it.
 */
function refuseFlags(src: FlagSource): void {
  const byReason = new Map<string, string[]>();
  for (const [flag, why] of Object.entries(REFUSED_FLAGS)) {
    const where = src.origin(flag);
    if (where !== undefined) byReason.set(why, [...(byReason.get(why) ?? []), where]);
  }
  const backendWhy = REFUSED_STORE_BACKENDS[src.string("store-backend") ?? ""];
  for (const [why, wheres] of byReason) {
    const verb = wheres.length > 1 ? "are" : "is";
    src.problems.push(`${wheres.join(", ")} ${verb} not supported: ${why === backendWhy ? `see ${src.origin("store-backend")}` : why}`);
  }
}

/** Resolves only the common flags; throws ConfigError listing every problem. */
export function resolveCommonConfig(args: Args, env: Env, prefix: EnvPrefix): CommonConfig {
  const src = new FlagSource(args, env, prefix);
  const cfg = resolveCommon(src);
  if (src.problems.length > 0) throw new ConfigError(src.problems);
  return cfg;
}
