/**
 * Rendering of postgresql.conf and pg_hba.conf from the DB spec and the keeper's flags. Pure.
 *
 * postgresql.conf is regenerated entirely on every write (stolon does the same): the user's
 * pgParameters, then the parameters the keeper manages itself. A user value for a managed
 * parameter is dropped and named in `ignored`, so the caller can warn once.
 */
import { hostCidr, parseIpAddress } from "./address.ts";
import { MANAGED_CONF_HEADER, quoteIdent } from "./quote.ts";
import { PG_PARAM_NAME_RE } from "../cluster/patterns.ts";
import { STANDBY_RECEIVER_TIMEOUT_MS } from "../cluster/timing.ts";

/** Parameters the keeper owns. User values for these are ignored (stolon's list, PG12+ recovery included). */
export const MANAGED_PARAMETERS: ReadonlySet<string> = new Set([
  "listen_addresses", "port", "unix_socket_directories", "wal_keep_segments", "hot_standby",
  "max_replication_slots", "max_wal_senders", "wal_log_hints", "synchronous_standby_names",
  "primary_conninfo", "primary_slot_name", "recovery_min_apply_delay", "restore_command",
  "recovery_target", "recovery_target_lsn", "recovery_target_name", "recovery_target_time",
  "recovery_target_xid", "recovery_target_timeline", "recovery_target_action", "recovery_target_inclusive",
  "data_directory", "hba_file", "ident_file", "config_file", "include", "include_dir", "include_if_exists",
]);

/** Parameters managed with a default, where the user's value wins when given. */
const DEFAULT_WAL_RECEIVER_STATUS_INTERVAL = "1s";
const DEFAULT_WAL_KEEP_SIZE = "128MB";
const DEFAULT_WAL_RETRIEVE_RETRY_INTERVAL = "500ms";
const DEFAULT_WAL_RECEIVER_TIMEOUT = `${STANDBY_RECEIVER_TIMEOUT_MS}ms`;


export interface ParameterInput {
  /** Parameters captured from the instance at init, used when the DB spec says includePreviousConfig. */
  initParameters?: Record<string, string> | null;
  includePreviousConfig?: boolean;
  /** The DB spec's pgParameters. */
  pgParameters?: Record<string, string> | null;
  listenAddress: string;
  port: number;
  socketDir: string;
  maxStandbys: number;
  additionalWalSenders: number;
  usePgrewind: boolean;
  /** synchronous_standby_names, already rendered ("" for none). */
  synchronousStandbyNames: string;
  /** Recovery settings for a standby; null for a master. */
  recovery: RecoverySettings | null;
  /**
   * A master's archive recovery (initMode pitr, until it ends): restore_command and the recovery
   * target, from pitrRecoveryParameters. Absent or null otherwise.
   */
  archiveRecovery?: Record<string, string> | null;
}

export interface RecoverySettings {
  /** A rendered conninfo (see renderConninfo); an external primary's is taken as given. */
  primaryConninfo: string;
  primarySlotName?: string;
  recoveryMinApplyDelay?: string;
  restoreCommand?: string;
}

export interface Parameters {
  params: Record<string, string>;
  /** User parameters that were dropped, each with the reason. */
  ignored: string[];
}

/** The full parameter set for postgresql.conf. */
export function buildParameters(input: ParameterInput): Parameters {
  const ignored: string[] = [];
  const params: Record<string, string> = {};
  const addUser = (source: Record<string, string> | null | undefined) => {
    for (const [k, v] of Object.entries(source ?? {})) {
      if (!PG_PARAM_NAME_RE.test(k)) ignored.push(`${JSON.stringify(k)}: not a parameter name`);
      else if (MANAGED_PARAMETERS.has(k.toLowerCase())) ignored.push(`${k}: managed by the keeper`);
      else if (typeof v !== "string") ignored.push(`${k}: value is not a string`);
      else params[k.toLowerCase()] = v;
    }
  };
  if (input.includePreviousConfig) addUser(input.initParameters);
  addUser(input.pgParameters);

  // wal_level: at least replica; logical is a superset and is kept.
  params.wal_level = params.wal_level === "logical" ? "logical" : "replica";
  params.hot_standby = "on";
  params.wal_keep_size ??= DEFAULT_WAL_KEEP_SIZE;
  // A walsender learns that its standby was named synchronous from its own configuration, but it
  // releases waiting commits only on the standby's next reply. With nothing else written (the
  // commits are the ones waiting) that reply came after wal_receiver_status_interval, 10 s by
  // default: a failover in synchronous mode paused writes for 5 to 10 s more than needed.
  params.wal_receiver_status_interval ??= DEFAULT_WAL_RECEIVER_STATUS_INTERVAL;
  // A standby pointed at a new master usually asks for its slot before that master's keeper has
  // created it; PostgreSQL then waits wal_retrieve_retry_interval (5 s by default) before it asks
  // again, and in synchronous mode every commit on the new master waits that long too.
  params.wal_retrieve_retry_interval ??= DEFAULT_WAL_RETRIEVE_RETRY_INTERVAL;
  // A master that goes silent without closing its connections (a frozen VM, a network cut) is
  // noticed by its standbys only through wal_receiver_timeout, 60 s by default: the receiver asks
  // for a reply after half of it and gives up after all of it. The sentinel fails a silent master
  // at once only when its standbys lost it too (MASTER_SILENT_MS), so this bounds a node-loss
  // failover (see STANDBY_RECEIVER_TIMEOUT_MS).
  params.wal_receiver_timeout ??= DEFAULT_WAL_RECEIVER_TIMEOUT;
  params.unix_socket_directories = input.socketDir;
  params.listen_addresses = input.listenAddress;
  params.port = String(input.port);
  params.max_replication_slots = String(input.maxStandbys);
  // One sender per standby, one per base backup in flight, and a margin, as stolon does.
  params.max_wal_senders = String(2 * input.maxStandbys + 2 + input.additionalWalSenders);
  if (input.usePgrewind) params.wal_log_hints = "on";
  params.synchronous_standby_names = input.synchronousStandbyNames;

  if (input.recovery) {
    params.primary_conninfo = input.recovery.primaryConninfo;
    if (input.recovery.primarySlotName) params.primary_slot_name = input.recovery.primarySlotName;
    if (input.recovery.recoveryMinApplyDelay) params.recovery_min_apply_delay = input.recovery.recoveryMinApplyDelay;
    if (input.recovery.restoreCommand) params.restore_command = input.recovery.restoreCommand;
    params.recovery_target_timeline = "latest";
  }
  Object.assign(params, input.archiveRecovery ?? {});
  return { params, ignored };
}

/** stolon's pitrConfig.recoveryTargetSettings: at most one target (spec validation), and the timeline. */
export interface RecoveryTargets {
  recoveryTarget?: string;
  recoveryTargetLsn?: string;
  recoveryTargetName?: string;
  recoveryTargetTime?: string;
  recoveryTargetXid?: string;
  recoveryTargetTimeline?: string;
}

/** Each recovery target field and the PostgreSQL parameter it sets. */
const RECOVERY_TARGET_PARAMETERS: readonly (readonly [keyof RecoveryTargets, string])[] = [
  ["recoveryTarget", "recovery_target"],
  ["recoveryTargetLsn", "recovery_target_lsn"],
  ["recoveryTargetName", "recovery_target_name"],
  ["recoveryTargetTime", "recovery_target_time"],
  ["recoveryTargetXid", "recovery_target_xid"],
  ["recoveryTargetTimeline", "recovery_target_timeline"],
];

/**
 * The parameters of a master's archive recovery (initMode pitr), as stolon sets them: the
 * restore_command; with recovery targets, each one given and recovery_target_action = 'promote'
 * (PostgreSQL's default, pause, would keep the db read-only until someone calls
 * pg_wal_replay_resume()); without, recovery_target_timeline = 'latest' (to the end of the archive).
 * Empty strings count as not set, as in stolon.
 */
export function pitrRecoveryParameters(o: { restoreCommand?: string; targets?: RecoveryTargets | null }): Record<string, string> {
  const params: Record<string, string> = {};
  if (o.restoreCommand) params.restore_command = o.restoreCommand;
  const given = RECOVERY_TARGET_PARAMETERS.filter(([field]) => typeof o.targets?.[field] === "string" && o.targets[field] !== "");
  if (given.length === 0) {
    params.recovery_target_timeline = "latest";
    return params;
  }
  for (const [field, name] of given) params[name] = o.targets![field]!;
  params.recovery_target_action = "promote";
  return params;
}

/** synchronous_standby_names for the given standbys: 'N ("stolon_a","stolon_b")', all of them required. */
export function synchronousStandbyNames(names: readonly string[]): string {
  if (names.length === 0) return "";
  const quoted = [...names].sort().map(quoteIdent);
  return `${names.length} (${quoted.join(",")})`;
}

/**
 * A postgresql.conf value: single-quoted, with `\` and `'` escaped and control characters written
 * as escapes, so no value can end the line and inject another setting.
 */
export function quoteParameterValue(v: string): string {
  const escaped = v
    .replace(/\\/g, "\\\\")
    .replace(/'/g, "''")
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t")
    .replace(/[\0-\x08\x0b\x0c\x0e-\x1f]/g, "");
  return `'${escaped}'`;
}

export function renderPostgresqlConf(params: Record<string, string>): string {
  const lines = [`${MANAGED_CONF_HEADER}. Every change here is overwritten: use the cluster spec (stolonctl update).`];
  for (const k of Object.keys(params).sort()) lines.push(`${k} = ${quoteParameterValue(params[k]!)}`);
  return lines.join("\n") + "\n";
}

/** The authentication methods the keeper writes into pg_hba.conf for its superuser and replication user. */
export const AUTH_METHODS = ["md5", "trust"] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
export const isAuthMethod = (v: string): v is AuthMethod => (AUTH_METHODS as readonly string[]).includes(v);

export interface HbaInput {
  suUsername: string;
  suAuthMethod: AuthMethod;
  replUsername: string;
  replAuthMethod: AuthMethod;
  accessMode: "all" | "strict";
  /**
   * In strict mode on a master: the addresses of the other DBs, which get /32 (/128) rules. They
   * come from the keepers' infos in etcd: anything that is not an IP address is left out and named.
   */
  standbyAddresses: string[];
  isMaster: boolean;
  /** The spec's pgHBA; null means the md5 defaults for everyone. */
  pgHBA: string[] | null | undefined;
  /** Only the superuser and the replication user may connect (sync-repl master restart). */
  internalOnly: boolean;
  /**
   * Fenced (a master cut from etcd): replication, and the superuser on the local socket only (the
   * keeper), nothing else; no client can write, whatever its role.
   */
  fenced?: boolean;
  /**
   * The operator opted in (--allow-trust-on-network) to trust on host lines for any address.
   * Without it, a user whose method is trust gets host lines for loopback addresses only.
   */
  trustOnNetwork?: boolean;
}

/** What host lines accept without the opt-in when the method is trust: this host only. */
const LOOPBACK_NETS = ["127.0.0.0/8", "::1/128"];
const ALL_NETS = ["0.0.0.0/0", "::0/0"];

/**
 * pg_hba.conf: the keeper's own local rules, the superuser and replication rules for the other
 * nodes (everywhere, or in strict mode only from the other DBs' addresses and only on the
 * master), then the user's lines, or `host all all 0.0.0.0/0 md5` (and ::0/0) when pgHBA is null.
 * trust never reaches a host line for a non-loopback address unless `trustOnNetwork` is set.
 */
export function renderHba(input: HbaInput): { text: string; ignored: string[] } {
  const su = quoteIdent(input.suUsername);
  const repl = quoteIdent(input.replUsername);
  const ignored: string[] = [];
  const lines = [
    `${MANAGED_CONF_HEADER}. Every change here is overwritten: use pgHBA in the cluster spec.`,
    `local postgres ${su} ${input.suAuthMethod}`,
    `local replication ${repl} ${input.replAuthMethod}`,
  ];
  const onNetwork = (method: AuthMethod) => method !== "trust" || input.trustOnNetwork === true;
  /** The networks a user's host lines cover when the keeper would give it all of them. */
  const allNets = (method: AuthMethod) => (onNetwork(method) ? ALL_NETS : LOOPBACK_NETS);
  if (input.fenced) {
    for (const net of allNets(input.replAuthMethod)) lines.push(`host replication ${repl} ${net} ${input.replAuthMethod}`);
    return { text: lines.join("\n") + "\n", ignored };
  }
  if (input.accessMode === "all") {
    // IPv4 then IPv6, each with the superuser's rule and the replication user's.
    const suNets = allNets(input.suAuthMethod);
    const replNets = allNets(input.replAuthMethod);
    suNets.forEach((suNet, i) => {
      lines.push(`host all ${su} ${suNet} ${input.suAuthMethod}`);
      lines.push(`host replication ${repl} ${replNets[i]} ${input.replAuthMethod}`);
    });
  } else if (input.isMaster) {
    const hosts = new Map<string, boolean>();
    for (const addr of input.standbyAddresses) {
      const ip = parseIpAddress(addr);
      const shown = JSON.stringify(addr.length > 64 ? `${addr.slice(0, 64)}...` : addr);
      if ("error" in ip) ignored.push(`strict mode: standby address ${shown} is ${ip.error}: no superuser or replication rule for it`);
      else if (ip.unspecified) ignored.push(`strict mode: standby address ${shown} is not a host address: no superuser or replication rule for it`);
      else hosts.set(hostCidr(ip), ip.loopback);
    }
    for (const [cidr, loopback] of [...hosts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      for (const [kind, name, method] of [["all", su, input.suAuthMethod], ["replication", repl, input.replAuthMethod]] as const) {
        if (loopback || onNetwork(method)) lines.push(`host ${kind} ${name} ${cidr} ${method}`);
        else ignored.push(`strict mode: no trust rule for ${name} from ${cidr}: trust on the network needs --allow-trust-on-network`);
      }
    }
  }
  if (!input.internalOnly) {
    if (input.pgHBA === null || input.pgHBA === undefined) {
      lines.push("host all all 0.0.0.0/0 md5", "host all all ::0/0 md5");
    } else {
      for (const l of input.pgHBA) {
        if (/[\n\r\0]/.test(l)) ignored.push(`pgHBA entry ${JSON.stringify(l)}: contains a newline or NUL`);
        else lines.push(l);
      }
    }
  }
  return { text: lines.join("\n") + "\n", ignored };
}

/**
 * pg_hba.conf of a master's archive recovery (initMode pitr): only the keeper, as its superuser on
 * the local socket, without a password: the restored database has its own roles and passwords
 * until the keeper sets its own once the recovery ended (the socket dir is the PostgreSQL user's,
 * mode 0700). Nobody else connects to a database that is not yet what was asked for.
 */
export function renderRecoveryHba(suUsername: string): string {
  return [`${MANAGED_CONF_HEADER}. The archive recovery of a pitr init: only the keeper connects.`, `local all ${quoteIdent(suUsername)} trust`].join("\n") + "\n";
}

/** Who the fenced pg_hba.conf lets in: the superuser locally (the keeper) and the replication user. */
export type FencedHbaInput = Pick<HbaInput, "suUsername" | "suAuthMethod" | "replUsername" | "replAuthMethod">;

/**
 * pg_hba.conf of a fenced master (see PgManager.fence), rendered by renderHba like every other
 * pg_hba.conf: the plan keeps a fenced master's file the same through its `fenced` input.
 */
export function renderFencedHba(input: FencedHbaInput): string {
  return renderHba({ ...input, accessMode: "all", standbyAddresses: [], isMaster: true, pgHBA: [], internalOnly: true, fenced: true }).text;
}
