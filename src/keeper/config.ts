/**
 * stolon-keeper's flags (reference §3.2) and their resolution: flag > STKEEPER_* env > default.
 * Every problem is reported at once. File reads (password files) go through an injected reader so
 * the rules are table-testable.
 */
import { commonArgs, FlagSource, resolveCommon, type CommonConfig } from "../lib/config.ts";
import { UID_RE } from "../cluster/index.ts";
import { ConfigError, describeError } from "../lib/errors.ts";
import { hostProblem, listensOnLoopbackOnly, parseIpAddress } from "../postgres/address.ts";
import { scramPasswordProblem } from "../postgres/scram.ts";

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
  "allow-trust-on-network": {
    type: "boolean",
    description: "let a trust auth method apply to connections from other hosts, not only the local socket and loopback (default: false; stolonctl status shows it)",
  },
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
  /**
   * --allow-trust-on-network given and a user has the trust method: pg_hba.conf has trust on host
   * lines for every address. Published in the keeper's info so that stolonctl status shows it.
   */
  trustOnNetwork: boolean;
  /** Non-fatal remarks about the configuration (logged at start). */
  warnings: string[];
}

export interface KeeperConfigEnv {
  isRoot: boolean;
  /** Name of the OS user the keeper runs as. */
  currentUser: string;
  readFile(path: string): string;
}

export const KEEPER_UID_RE = UID_RE;
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
      p.push(`--pg-${who}-passwordfile: cannot read "${file}": ${describeError(err)}`);
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
  const flag = `--pg-${who}-password${file !== undefined ? "file" : ""}`;
  if (pw !== undefined && /[\r\n\0]/.test(pw)) {
    p.push(`${flag}: the password contains a newline or NUL`);
    return undefined;
  }
  const scram = pw === undefined ? null : scramPasswordProblem(pw);
  if (scram !== null) {
    p.push(`${flag}: the keeper cannot compute the SCRAM verifier PostgreSQL would for this password: ${scram}`);
    return undefined;
  }
  return pw;
}

/** What anyone who can reach the port gets with trust for each user. */
const TRUST_RISK = {
  su: "superuser, who can read and change every database and run programs as the PostgreSQL OS user",
  repl: "replication user, who can copy every database with pg_basebackup",
} as const;

/**
 * trust on host lines is refused unless the operator opts in, or PostgreSQL listens on loopback
 * addresses only and is advertised on one: a loopback listener advertised on a network address is
 * reached through a relay (a port forward, a service mesh's sidecar), so its loopback connections
 * come from the network. The local (Unix socket) lines may always use trust.
 */
function checkTrust(
  src: FlagSource,
  o: {
    allow: boolean;
    listen: string | undefined;
    advertise: string | undefined;
    port: number;
    users: { who: "su" | "repl"; name: string | undefined; auth: AuthMethod }[];
  },
  warnings: string[],
): boolean {
  const trusted = o.users.filter((u) => u.auth === "trust");
  if (trusted.length === 0) {
    if (o.allow) warnings.push("--allow-trust-on-network has no effect: neither --pg-su-auth-method nor --pg-repl-auth-method is trust");
    return false;
  }
  if (o.allow) {
    for (const u of trusted)
      warnings.push(
        `--allow-trust-on-network: anyone who can reach port ${o.port} from any host connects with no password as the ${TRUST_RISK[u.who]} ("${u.name ?? ""}")`,
      );
    return true;
  }
  if (o.listen === undefined) return false;
  let where: string;
  if (!listensOnLoopbackOnly(o.listen)) where = `PostgreSQL listens on ${o.listen}`;
  else if (o.advertise !== undefined && !listensOnLoopbackOnly(o.advertise))
    where = `PostgreSQL listens on ${o.listen} but is advertised on ${o.advertise} (a relay brings it connections from the network)`;
  else return false;
  for (const u of trusted)
    src.problems.push(
      `--pg-${u.who}-auth-method trust: ${where}, so trust would let anyone who can reach port ${o.port} ` +
        `connect with no password as the ${TRUST_RISK[u.who]}; give a password with --pg-${u.who}-passwordfile and the md5 method, ` +
        `listen on a loopback address only, or, if every host that can reach the port is trusted, add --allow-trust-on-network`,
    );
  return false;
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
  else
    for (const e of pgListenAddress.split(",").map((x) => x.trim())) {
      const problem = e === "*" ? null : hostProblem(e);
      if (problem !== null) p.push(`--pg-listen-address: ${problem}`);
    }
  let pgAdvertiseAddress = src.string("pg-advertise-address");
  if (pgAdvertiseAddress === undefined && pgListenAddress !== undefined) {
    const single = parseIpAddress(pgListenAddress);
    if (pgListenAddress === "*" || pgListenAddress.includes(",") || (!("error" in single) && single.unspecified))
      p.push(`--pg-advertise-address is required when --pg-listen-address is "${pgListenAddress}": the other nodes need an address they can reach`);
    else pgAdvertiseAddress = pgListenAddress;
  } else if (pgAdvertiseAddress !== undefined) {
    // Published in etcd: the other keepers connect to it and the proxy forwards to it.
    const problem = hostProblem(pgAdvertiseAddress);
    if (problem !== null) p.push(`--pg-advertise-address: ${problem}`);
  }
  if (pgAdvertiseAddress !== undefined && listensOnLoopbackOnly(pgAdvertiseAddress))
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
  for (const who of ["su", "repl"] as const)
    if (typeof args[`pg-${who}-password`] === "string")
      warnings.push(
        `--pg-${who}-password: a password on the command line can be read by every user of this host (ps, /proc/<pid>/cmdline) and stays in shell history; ` +
          `put it in a file only the keeper can read and pass --pg-${who}-passwordfile instead`,
      );
  const trustOnNetwork = checkTrust(
    src,
    {
      allow: src.bool("allow-trust-on-network", false),
      listen: pgListenAddress,
      advertise: pgAdvertiseAddress,
      port: pgPort,
      users: [
        { who: "su", name: suUsername, auth: suAuth },
        { who: "repl", name: replUsername, auth: replAuth },
      ],
    },
    warnings,
  );
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
    trustOnNetwork,
    warnings,
  };
}
