/**
 * stolon-proxy's flags (reference §3.4) plus --hold-timeout, --max-connections,
 * --max-held-connections, --drain-timeout and the read-only port's (--read-only-port,
 * --read-only-listen-address, --read-only-max-lag, --read-only-fallback), each also from STPROXY_*.
 */
import { describeBounds, type DurationBounds } from "../cluster/duration.ts";
import { SWITCHOVER_DRAIN_TIMEOUT_BOUNDS } from "../cluster/types.ts";
import { commonArgs, FlagSource, resolveCommon, type CommonConfig } from "../lib/config.ts";
import { ConfigError } from "../lib/errors.ts";
import { READ_ONLY_FALLBACKS, type ReadOnlyFallback } from "./read-only.ts";

export const DEFAULT_MAX_CONNECTIONS = 1000;
export const DEFAULT_MAX_HELD = 100;
/** Each connection costs two sockets: past this the proxy would run out of descriptors first. */
export const MAX_CONNECTIONS_LIMIT = 100_000;
/** --hold-timeout: how long a client waits for a master to be routed; 0 closes it at once. */
export const HOLD_TIMEOUT_BOUNDS: DurationBounds = { minMs: 100, maxMs: 3_600_000, zero: "no hold" };
const HOLD_TIMEOUT_DEFAULT = "4s";
/**
 * --drain-timeout: during a switchover (ProxySpec.hold), how long the connections open when the
 * hold began may take to reach an idle point before the rest are cut. The bounds are the
 * switchover's own (a proxy must accept whatever stolonctl may ask for).
 */
export const DRAIN_TIMEOUT_BOUNDS: DurationBounds = SWITCHOVER_DRAIN_TIMEOUT_BOUNDS;
export const DRAIN_TIMEOUT_DEFAULT = "5s";

/** --read-only-max-lag: at most 1 TiB (a bound, not a useful value). */
const READ_ONLY_MAX_LAG_LIMIT = 1024 ** 4;

export const proxyArgs = {
  ...commonArgs,
  "listen-address": { type: "string", description: "address to listen on (default: 127.0.0.1)" },
  port: { type: "string", description: "port to listen on (default: 5432)" },
  "stop-listening": { type: "boolean", description: "stop listening while the store cannot be read for proxyTimeout (default: true)" },
  "tcp-keepalive-idle": { type: "string", description: "seconds of idle before TCP keepalive probes (default: 0 = OS default)" },
  "tcp-keepalive-count": { type: "string", description: "accepted for stolon compatibility; Bun fixes it at 10" },
  "tcp-keepalive-interval": { type: "string", description: "accepted for stolon compatibility; Bun fixes it at 1 s" },
  "hold-timeout": {
    type: "string",
    description: `how long a client that connects while no master is routed waits for one, ${describeBounds(HOLD_TIMEOUT_BOUNDS)} (default: ${HOLD_TIMEOUT_DEFAULT}, below the default proxyTimeout)`,
  },
  "max-connections": {
    type: "string",
    description: `client connections forwarded, waiting for a master or being refused, past which a new client gets SQLSTATE 53300 "too many clients" (default: ${DEFAULT_MAX_CONNECTIONS}, at most ${MAX_CONNECTIONS_LIMIT}; env STPROXY_MAX_CONNECTIONS)`,
  },
  "max-held-connections": {
    type: "string",
    description: `clients waiting for a master (see --hold-timeout), past which a new one gets SQLSTATE 53300 at once (default: ${DEFAULT_MAX_HELD}; 0: nobody waits, a client gets 57P03 "no master available" at once; not applied during a switchover's hold, where only --max-connections bounds the waiting clients; env STPROXY_MAX_HELD_CONNECTIONS)`,
  },
  "drain-timeout": {
    type: "string",
    description: `during a switchover, the longest the connections open when it began may take to reach an idle point before the rest are cut; when given it caps the switchover's own drain timeout (the smaller wins), when not given the switchover's applies, and this default only when the switchover's cannot be used; ${describeBounds(DRAIN_TIMEOUT_BOUNDS)} (default: ${DRAIN_TIMEOUT_DEFAULT}; env STPROXY_DRAIN_TIMEOUT)`,
  },
  "read-only-port": {
    type: "string",
    description: "port of a second listener whose connections go to the standbys, spread over the eligible ones (default: 0 = off; env STPROXY_READ_ONLY_PORT)",
  },
  "read-only-listen-address": { type: "string", description: "address of the read-only listener (default: the --listen-address)" },
  "read-only-max-lag": {
    type: "string",
    description: 'the most a standby may lag behind the master (replayed WAL, per the keepers\' reports) to get read-only connections: bytes or a size such as "16MB" (default: the spec\'s maxStandbyLag)',
  },
  "read-only-fallback": {
    type: "string",
    description: `when no standby is eligible: master (send read-only clients to the master), hold (wait for a standby up to --hold-timeout) or refuse (SQLSTATE 57P03 at once) (default: master)`,
  },
} as const;

/** The read-only listener's settings; absent when --read-only-port is not given. */
export interface ReadOnlyConfig {
  listenAddress: string;
  port: number;
  /** null: the spec's maxStandbyLag. */
  maxLagBytes: number | null;
  fallback: ReadOnlyFallback;
}

export interface ProxyConfig {
  common: CommonConfig;
  listenAddress: string;
  port: number;
  stopListening: boolean;
  keepAliveIdleMs: number;
  holdMs: number;
  /** Forwarded + held + being refused, past which a new client is refused. */
  maxConnections: number;
  /** Held clients, past which a new one is refused. */
  maxHeld: number;
  /** --drain-timeout (its default when not given). */
  drainTimeoutMs: number;
  /** --drain-timeout (or STPROXY_DRAIN_TIMEOUT) was given: it caps a switchover's drain timeout. */
  drainTimeoutGiven: boolean;
  readOnly: ReadOnlyConfig | null;
  warnings: string[];
}

export function resolveProxyConfig(args: Record<string, unknown>, env: Record<string, string | undefined>): ProxyConfig {
  const src = new FlagSource(args, env, "STPROXY");
  const common = resolveCommon(src);
  const warnings: string[] = [];
  const idle = src.integer("tcp-keepalive-idle", 0, 0, 86_400);
  for (const flag of ["tcp-keepalive-count", "tcp-keepalive-interval"]) {
    const v = src.integer(flag, 0, 0, 86_400);
    if (v !== 0) warnings.push(`--${flag} ${v} is ignored: Bun's sockets always use 10 probes 1 s apart after --tcp-keepalive-idle`);
  }
  const cfg: ProxyConfig = {
    common,
    listenAddress: src.string("listen-address") ?? "127.0.0.1",
    port: src.integer("port", 5432, 1, 65535),
    stopListening: src.bool("stop-listening", true),
    keepAliveIdleMs: idle * 1000,
    holdMs: src.durationMs("hold-timeout", HOLD_TIMEOUT_DEFAULT, HOLD_TIMEOUT_BOUNDS),
    maxConnections: src.integer("max-connections", DEFAULT_MAX_CONNECTIONS, 1, MAX_CONNECTIONS_LIMIT),
    maxHeld: src.integer("max-held-connections", DEFAULT_MAX_HELD, 0, MAX_CONNECTIONS_LIMIT),
    drainTimeoutMs: src.durationMs("drain-timeout", DRAIN_TIMEOUT_DEFAULT, DRAIN_TIMEOUT_BOUNDS),
    drainTimeoutGiven: src.origin("drain-timeout") !== undefined,
    readOnly: null,
    warnings,
  };
  cfg.readOnly = resolveReadOnly(src, cfg, warnings);
  if (cfg.maxHeld > cfg.maxConnections)
    warnings.push(`--max-held-connections ${cfg.maxHeld} is above --max-connections ${cfg.maxConnections}: at most ${cfg.maxConnections} clients can wait`);
  if (src.problems.length > 0) throw new ConfigError(src.problems);
  return cfg;
}

/** The read-only listener's flags; null when --read-only-port is absent or 0 (others given then are warned about). */
function resolveReadOnly(src: FlagSource, cfg: ProxyConfig, warnings: string[]): ReadOnlyConfig | null {
  const port = src.integer("read-only-port", 0, 0, 65535);
  const maxLagBytes = src.byteSize("read-only-max-lag", 0, READ_ONLY_MAX_LAG_LIMIT) ?? null;
  const fallbackRaw = src.string("read-only-fallback") ?? "master";
  const fallback = READ_ONLY_FALLBACKS.find((f) => f === fallbackRaw);
  if (!fallback) src.problems.push(`--read-only-fallback: "${fallbackRaw}" is not one of ${READ_ONLY_FALLBACKS.join(", ")}`);
  const listenAddress = src.string("read-only-listen-address") ?? cfg.listenAddress;
  if (port === 0) {
    const given = ["read-only-listen-address", "read-only-max-lag", "read-only-fallback"].filter((f) => src.origin(f) !== undefined);
    if (given.length > 0) warnings.push(`${given.map((f) => src.origin(f)).join(", ")} ignored: there is no read-only listener without --read-only-port`);
    return null;
  }
  if (port === cfg.port && (listenAddress === cfg.listenAddress || listenAddress === "0.0.0.0" || cfg.listenAddress === "0.0.0.0"))
    src.problems.push(`--read-only-port: ${port} is the read-write --port on the same address`);
  return { listenAddress, port, maxLagBytes, fallback: fallback ?? "master" };
}
