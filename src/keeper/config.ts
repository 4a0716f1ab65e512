/**
 * stolon-keeper's flags (reference §3.2) and their resolution: flag > STKEEPER_* env > default.
 * Every problem is reported at once. File reads (password files) go through an injected reader so
 * the rules are table-testable.
 */
import { commonArgs, FlagSource, resolveCommon, type CommonConfig } from "../lib/config.ts";
import { DEFAULT_KEEPER_PRIORITY, MAX_KEEPER_PRIORITY, UID_RE } from "../cluster/index.ts";
import { ConfigError, describeError } from "../lib/errors.ts";
import { hostProblem, listensOnLoopbackOnly, parseIpAddress } from "../postgres/address.ts";
import { AUTH_METHODS, isAuthMethod, type AuthMethod } from "../postgres/config.ts";
import { scramPasswordProblem } from "../postgres/scram.ts";
import { DEPRECATED_FLAGS } from "../lib/stolon-flags.ts";

export const keeperArgs = {
  ...commonArgs,
  uid: { type: "string", description: "keeper uid, [a-z0-9_]+ (default: the saved one, or a generated one)" },
  id: { type: "string", description: `deprecated (stolon): use ${DEPRECATED_FLAGS.id}` },
  "data-dir": { type: "string", description: "data directory (required)" },
  "pg-listen-address": { type: "string", description: "address PostgreSQL listens on (required; * for all)" },
  "pg-advertise-address": { type: "string", description: "address the other nodes reach PostgreSQL on (default: --pg-listen-address)" },
  "pg-port": { type: "string", description: "PostgreSQL port (default: 5432)" },
  "pg-advertise-port": { type: "string", description: "port the other nodes reach PostgreSQL on (default: --pg-port)" },
  "pg-bin-path": { type: "string", description: "directory of the PostgreSQL binaries (default: PATH, then /usr/lib/postgresql/<newest>/bin)" },
  "pg-repl-username": { type: "string", description: "replication user name (required)" },
  "pg-repl-password": { type: "string", description: "replication user password" },
  "pg-repl-passwordfile": { type: "string", description: "file holding the replication user password" },
  "pg-repl-auth-method": { type: "string", description: `replication auth method: ${AUTH_METHODS.join(" or ")} (default: md5)` },
  "pg-su-username": { type: "string", description: "superuser name (default: the PostgreSQL OS user)" },
  "pg-su-password": { type: "string", description: "superuser password" },
  "pg-su-passwordfile": { type: "string", description: "file holding the superuser password" },
  "pg-su-auth-method": { type: "string", description: `superuser auth method: ${AUTH_METHODS.join(" or ")} (default: md5)` },
  "allow-trust-on-network": {
    type: "boolean",
    description: "let a trust auth method apply to connections from other hosts, not only the local socket and loopback (default: false; stolonctl status shows it)",
  },
  "pg-os-user": { type: "string", description: "OS user that runs PostgreSQL when the keeper runs as root (default: postgres)" },
  "can-be-master": { type: "boolean", description: "this keeper may be elected master (default: true)" },
  "can-be-synchronous-replica": { type: "boolean", description: "this keeper may be a synchronous standby (default: true)" },
  priority: {
    type: "string",
    description: `failover priority, 0..${MAX_KEEPER_PRIORITY}: among standbys within one WAL segment of the most advanced, the highest wins; 0 = never elected automatically, still a switchover target (default: ${DEFAULT_KEEPER_PRIORITY})`,
  },
  "disable-data-dir-locking": { type: "boolean", description: "do not lock the data dir (default: false)" },
} as const;

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
  /** --priority, 0..MAX_KEEPER_PRIORITY (published in the keeper's info). */
  priority: number;
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
  if (!isAuthMethod(v)) {
    src.problems.push(`--${flag}: "${v}" is not one of ${AUTH_METHODS.join(", ")}`);
    return "md5";
  }
  return v;
}

/** --pg-listen-address and --pg-advertise-address: the advertised one defaults to a single listen address. */
function resolveAddresses(src: FlagSource, warnings: string[]): { listen: string | undefined; advertise: string | undefined } {
  const p = src.problems;
  const listen = src.string("pg-listen-address");
  if (listen === undefined) p.push("--pg-listen-address is required (or set STKEEPER_PG_LISTEN_ADDRESS)");
  else
    for (const e of listen.split(",").map((x) => x.trim())) {
      const problem = e === "*" ? null : hostProblem(e);
      if (problem !== null) p.push(`--pg-listen-address: ${problem}`);
    }
  let advertise = src.string("pg-advertise-address");
  if (advertise === undefined && listen !== undefined) {
    const single = parseIpAddress(listen);
    if (listen === "*" || listen.includes(",") || (!("error" in single) && single.unspecified))
      p.push(`--pg-advertise-address is required when --pg-listen-address is "${listen}": the other nodes need an address they can reach`);
    else advertise = listen;
  } else if (advertise !== undefined) {
    // Published in etcd: the other keepers connect to it and the proxy forwards to it.
    const problem = hostProblem(advertise);
    if (problem !== null) p.push(`--pg-advertise-address: ${problem}`);
  }
  if (advertise !== undefined && listensOnLoopbackOnly(advertise))
    warnings.push(`--pg-advertise-address ${advertise} is a loopback address: only nodes on this host can reach it`);
  return { listen, advertise };
}

/** --pg-os-user: only a keeper running as root runs PostgreSQL as another user (postgres by default). */
function resolvePgOsUser(src: FlagSource, env: KeeperConfigEnv): string | null {
  const osUserFlag = src.string("pg-os-user");
  if (env.isRoot) {
    const pgOsUser = osUserFlag ?? "postgres";
    if (pgOsUser === "root") src.problems.push("--pg-os-user: PostgreSQL refuses to run as root; name an unprivileged user");
    return pgOsUser;
  }
  if (osUserFlag !== undefined && osUserFlag !== env.currentUser)
    src.problems.push(`--pg-os-user ${osUserFlag}: only a keeper running as root can run PostgreSQL as another user (running as ${env.currentUser})`);
  return null;
}

interface ResolvedUser {
  username: string | undefined;
  password: string | undefined;
  authMethod: AuthMethod;
}

/**
 * The rules between the two users, their passwords and auth methods, and where PostgreSQL
 * listens. Returns trustOnNetwork (see checkTrust).
 */
function checkUsers(
  src: FlagSource,
  args: Record<string, unknown>,
  o: { repl: ResolvedUser; su: ResolvedUser; listen: string | undefined; advertise: string | undefined; port: number },
  warnings: string[],
): boolean {
  const p = src.problems;
  const { repl, su } = o;
  for (const [who, auth] of [["repl", repl.authMethod], ["su", su.authMethod]] as const) {
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
      listen: o.listen,
      advertise: o.advertise,
      port: o.port,
      users: [
        { who: "su", name: su.username, auth: su.authMethod },
        { who: "repl", name: repl.username, auth: repl.authMethod },
      ],
    },
    warnings,
  );
  for (const [flag, name] of [["pg-repl-username", repl.username], ["pg-su-username", su.username]] as const)
    if (name !== undefined && !ROLE_NAME_RE.test(name)) p.push(`--${flag}: "${name}" must not contain quotes, spaces or NUL`);
  if (repl.username !== undefined && repl.username === su.username) {
    if (repl.password !== su.password) p.push("--pg-su-username equals --pg-repl-username, so their passwords must be the same");
    if (repl.authMethod !== su.authMethod) p.push("--pg-su-username equals --pg-repl-username, so their auth methods must be the same");
  }
  return trustOnNetwork;
}

/**
 * --uid, or stolon's deprecated --id (a warning names the replacement). The command line wins over
 * the environment as for every flag; within one of them, --id and --uid that differ are refused:
 * stolon takes whichever comes last, and a keeper that guesses its identity wrong joins as another.
 */
function resolveUid(src: FlagSource, warnings: string[]): string | undefined {
  const idWhere = src.origin("id");
  if (idWhere !== undefined)
    warnings.push(`${idWhere} is deprecated: use ${idWhere.startsWith("--") ? DEPRECATED_FLAGS.id : src.envName("uid")}`);
  const from = (flag: string, where: string) => (src.origin(flag) === where ? src.string(flag) : undefined);
  // One source at a time, the command line first.
  for (const [uidName, idName] of [["--uid", "--id"], [src.envName("uid"), src.envName("id")]] as const) {
    const byUid = from("uid", uidName);
    const byId = from("id", idName);
    if (byUid !== undefined && byId !== undefined && byUid !== byId) {
      src.problems.push(`${uidName} "${byUid}" and ${idName} "${byId}" differ: give only ${uidName}`);
      return undefined;
    }
    const [uid, where] = byUid !== undefined ? [byUid, uidName] : [byId, idName];
    if (uid === undefined) continue;
    if (!KEEPER_UID_RE.test(uid)) src.problems.push(`${where}: "${uid}" must match ${KEEPER_UID_RE.source} (lower case letters, digits and _)`);
    return uid;
  }
  return undefined;
}

/** Resolves every keeper flag; throws ConfigError listing every problem. */
export function resolveKeeperConfig(args: Record<string, unknown>, envVars: Record<string, string | undefined>, env: KeeperConfigEnv): KeeperConfig {
  const src = new FlagSource(args, envVars, "STKEEPER");
  const p = src.problems;
  const warnings: string[] = [];
  const common = resolveCommon(src);

  const uid = resolveUid(src, warnings);

  const dataDir = src.string("data-dir");
  if (dataDir === undefined) p.push("--data-dir is required (or set STKEEPER_DATA_DIR)");

  const { listen, advertise } = resolveAddresses(src, warnings);
  const pgPort = src.integer("pg-port", 5432, 1, 65535);
  const pgAdvertisePort = src.integer("pg-advertise-port", pgPort, 1, 65535);

  // The order of the checks is the order of the problems reported: repl, the OS user, su.
  const replUsername = src.string("pg-repl-username");
  if (replUsername === undefined) p.push("--pg-repl-username is required (or set STKEEPER_PG_REPL_USERNAME)");
  const repl: ResolvedUser = { username: replUsername, authMethod: authMethod(src, "pg-repl-auth-method"), password: readPassword(src, "repl", env) };
  const pgOsUser = resolvePgOsUser(src, env);
  const suUsername = src.string("pg-su-username") ?? pgOsUser ?? env.currentUser;
  const su: ResolvedUser = { username: suUsername, authMethod: authMethod(src, "pg-su-auth-method"), password: readPassword(src, "su", env) };
  const trustOnNetwork = checkUsers(src, args, { repl, su, listen, advertise, port: pgPort }, warnings);

  const canBeMaster = src.bool("can-be-master", true);
  const canBeSynchronousReplica = src.bool("can-be-synchronous-replica", true);
  const priority = src.integer("priority", DEFAULT_KEEPER_PRIORITY, 0, MAX_KEEPER_PRIORITY);
  const disableDataDirLocking = src.bool("disable-data-dir-locking", false);
  if (p.length > 0) throw new ConfigError(p);
  return {
    common,
    uid,
    dataDir: dataDir!,
    pgListenAddress: listen!,
    pgAdvertiseAddress: advertise!,
    pgPort,
    pgAdvertisePort,
    pgBinPath: src.string("pg-bin-path"),
    repl: { username: replUsername!, password: repl.password, authMethod: repl.authMethod },
    su: { username: suUsername, password: su.password, authMethod: su.authMethod },
    pgOsUser,
    canBeMaster,
    canBeSynchronousReplica,
    priority,
    disableDataDirLocking,
    trustOnNetwork,
    warnings,
  };
}
