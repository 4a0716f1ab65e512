/**
 * stolon-keeper's flags (reference §3.2) and their resolution: flag > STKEEPER_* env > default.
 * Every problem is reported at once. File reads (password files) go through an injected reader so
 * the rules are table-testable.
 */
import { commonArgs, FlagSource, resolveCommon, type CommonConfig } from "../lib/config.ts";
import { ConfigError } from "../lib/errors.ts";

export const keeperArgs = {
  ...commonArgs,
  uid: { type: "string", description: "keeper uid, [a-z0-9_]+ (default: the saved one, or a generated one)" },
  "data-dir": { type: "string", description: "data directory (required)" },
  "pg-listen-address": { type: "string", description: "address PostgreSQL listens on (required; * for all)" },
  "pg-advertise-address": { type: "string", description: "address the other nodes reach PostgreSQL on (default: --pg-listen-address)" },
  "pg-port": { type: "string", description: "PostgreSQL port (default: 5432)" },
  "pg-advertise-port": { type: "string", description: "port the other nodes reach PostgreSQL on (default: --pg-port)" },
  "pg-bin-path": { type: "string", description: "directory of the PostgreSQL binaries (default: PATH, then /usr/lib/postgresql/<newest>/bin)" },
  "pg-repl-username": { type: "string", description: "replication user name (required)" },
  "pg-repl-password": { type: "string", description: "replication user password" },
  "pg-repl-passwordfile": { type: "string", description: "file holding the replication user password" },
  "pg-repl-auth-method": { type: "string", description: "replication auth method: md5 or trust (default: md5)" },
  "pg-su-username": { type: "string", description: "superuser name (default: the PostgreSQL OS user)" },
  "pg-su-password": { type: "string", description: "superuser password" },
  "pg-su-passwordfile": { type: "string", description: "file holding the superuser password" },
  "pg-su-auth-method": { type: "string", description: "superuser auth method: md5 or trust (default: md5)" },
  "pg-os-user": { type: "string", description: "OS user that runs PostgreSQL when the keeper runs as root (default: postgres)" },
  "can-be-master": { type: "boolean", description: "this keeper may be elected master (default: true)" },
  "can-be-synchronous-replica": { type: "boolean", description: "this keeper may be a synchronous standby (default: true)" },
  "disable-data-dir-locking": { type: "boolean", description: "do not lock the data dir (default: false)" },
} as const;

export type AuthMethod = "md5" | "trust";

export interface PgUserConfig {
  username: string;
  password?: string;
  authMethod: AuthMethod;
}

export interface KeeperConfig {
  common: CommonConfig;
  uid?: string;
  dataDir: string;
  pgListenAddress: string;
  pgAdvertiseAddress: string;
  pgPort: number;
  pgAdvertisePort: number;
  pgBinPath?: string;
  repl: PgUserConfig;
  su: PgUserConfig;
  /** The OS user PostgreSQL runs as; null = the keeper's own user. */
  pgOsUser: string | null;
  canBeMaster: boolean;
  canBeSynchronousReplica: boolean;
  disableDataDirLocking: boolean;
  /** Non-fatal remarks about the configuration (logged at start). */
  warnings: string[];
}

export interface KeeperConfigEnv {
  isRoot: boolean;
  /** Name of the OS user the keeper runs as. */
  currentUser: string;
  readFile(path: string): string;
}

export const KEEPER_UID_RE = /^[a-z0-9_]+$/;
/** Role names go into pg_hba.conf and SQL quoted; these characters cannot be quoted safely there. */
const ROLE_NAME_RE = /^[^"\s\0]+$/;

function readPassword(src: FlagSource, who: "repl" | "su", env: KeeperConfigEnv): string | undefined {
  const p = src.problems;
  const direct = src.string(`pg-${who}-password`);
  const file = src.string(`pg-${who}-passwordfile`);
  if (direct !== undefined && file !== undefined) {
    p.push(`--pg-${who}-password and --pg-${who}-passwordfile are mutually exclusive`);
    return undefined;
  }
  let pw = direct;
  if (file !== undefined) {
    try {
      pw = env.readFile(file).replace(/[\r\n]+$/, "");
    } catch (err) {
      p.push(`--pg-${who}-passwordfile: cannot read "${file}": ${(err as Error).message}`);
      return undefined;
    }
    if (pw === "") {
      p.push(`--pg-${who}-passwordfile: "${file}" is empty`);
      return undefined;
    }
  } else if (pw === "") {
    p.push(`--pg-${who}-password: empty password`);
    return undefined;
  }
  if (pw !== undefined && /[\r\n\0]/.test(pw)) {
    p.push(`--pg-${who}-password${file !== undefined ? "file" : ""}: the password contains a newline or NUL`);
    return undefined;
  }
  return pw;
}

function authMethod(src: FlagSource, flag: string): AuthMethod {
  const v = src.string(flag) ?? "md5";
  if (v !== "md5" && v !== "trust") {
    src.problems.push(`--${flag}: "${v}" is not one of md5, trust`);
    return "md5";
  }
  return v;
}

/** Resolves every keeper flag; throws ConfigError listing every problem. */
export function resolveKeeperConfig(args: Record<string, unknown>, envVars: Record<string, string | undefined>, env: KeeperConfigEnv): KeeperConfig {
  const src = new FlagSource(args, envVars, "STKEEPER");
  const p = src.problems;
  const warnings: string[] = [];
  const common = resolveCommon(src);

  const uid = src.string("uid");
  if (uid !== undefined && !KEEPER_UID_RE.test(uid)) p.push(`--uid: "${uid}" must match ${KEEPER_UID_RE.source} (lower case letters, digits and _)`);

  const dataDir = src.string("data-dir");
  if (dataDir === undefined) p.push("--data-dir is required (or set STKEEPER_DATA_DIR)");

  const pgListenAddress = src.string("pg-listen-address");
  if (pgListenAddress === undefined) p.push("--pg-listen-address is required (or set STKEEPER_PG_LISTEN_ADDRESS)");
  let pgAdvertiseAddress = src.string("pg-advertise-address");
  if (pgAdvertiseAddress === undefined && pgListenAddress !== undefined) {
    if (["*", "0.0.0.0", "::"].includes(pgListenAddress))
      p.push(`--pg-advertise-address is required when --pg-listen-address is "${pgListenAddress}": the other nodes need an address they can reach`);
    else pgAdvertiseAddress = pgListenAddress;
  }
  if (pgAdvertiseAddress !== undefined && /^(localhost|127\.|::1$)/.test(pgAdvertiseAddress))
    warnings.push(`--pg-advertise-address ${pgAdvertiseAddress} is a loopback address: only nodes on this host can reach it`);

  const pgPort = src.integer("pg-port", 5432, 1, 65535);
  const pgAdvertisePort = src.integer("pg-advertise-port", pgPort, 1, 65535);

  const replUsername = src.string("pg-repl-username");
  if (replUsername === undefined) p.push("--pg-repl-username is required (or set STKEEPER_PG_REPL_USERNAME)");
  const replAuth = authMethod(src, "pg-repl-auth-method");
  const replPassword = readPassword(src, "repl", env);

  let pgOsUser: string | null = null;
  const osUserFlag = src.string("pg-os-user");
  if (env.isRoot) {
    pgOsUser = osUserFlag ?? "postgres";
    if (pgOsUser === "root") p.push("--pg-os-user: PostgreSQL refuses to run as root; name an unprivileged user");
  } else if (osUserFlag !== undefined && osUserFlag !== env.currentUser) {
    p.push(`--pg-os-user ${osUserFlag}: only a keeper running as root can run PostgreSQL as another user (running as ${env.currentUser})`);
  }

  const suUsername = src.string("pg-su-username") ?? pgOsUser ?? env.currentUser;
  const suAuth = authMethod(src, "pg-su-auth-method");
  const suPassword = readPassword(src, "su", env);

  for (const [who, auth] of [["repl", replAuth], ["su", suAuth]] as const) {
    const given = src.string(`pg-${who}-password`) !== undefined || src.string(`pg-${who}-passwordfile`) !== undefined;
    if (auth === "trust" && given) p.push(`--pg-${who}-auth-method trust: a password must not be given with trust`);
    if (auth === "md5" && !given) p.push(`--pg-${who}-password or --pg-${who}-passwordfile is required with the md5 auth method`);
  }
  for (const [flag, name] of [["pg-repl-username", replUsername], ["pg-su-username", suUsername]] as const)
    if (name !== undefined && !ROLE_NAME_RE.test(name)) p.push(`--${flag}: "${name}" must not contain quotes, spaces or NUL`);
  if (replUsername !== undefined && replUsername === suUsername) {
    if (replPassword !== suPassword) p.push("--pg-su-username equals --pg-repl-username, so their passwords must be the same");
    if (replAuth !== suAuth) p.push("--pg-su-username equals --pg-repl-username, so their auth methods must be the same");
  }

  const canBeMaster = src.bool("can-be-master", true);
  const canBeSynchronousReplica = src.bool("can-be-synchronous-replica", true);
  const disableDataDirLocking = src.bool("disable-data-dir-locking", false);
  if (p.length > 0) throw new ConfigError(p);
  return {
    common,
    uid,
    dataDir: dataDir!,
    pgListenAddress: pgListenAddress!,
    pgAdvertiseAddress: pgAdvertiseAddress!,
    pgPort,
    pgAdvertisePort,
    pgBinPath: src.string("pg-bin-path"),
    repl: { username: replUsername!, password: replPassword, authMethod: replAuth },
    su: { username: suUsername, password: suPassword, authMethod: suAuth },
    pgOsUser,
    canBeMaster,
    canBeSynchronousReplica,
    disableDataDirLocking,
    warnings,
  };
}
