/**
 * stolon's keepers, simulated for the takeover tests: data dirs laid out as stolon's keeper
 * (v0.17, PostgreSQL 12+) leaves them, real PostgreSQL instances running on them, and a loop per
 * "stolon keeper" that publishes a stolon-format KeeperInfo under a lease, as stolon's keeper does.
 *
 * What stolon's keeper writes, from its source (cmd/keeper/cmd/keeper.go, internal/postgresql/):
 *  - <data-dir>/keeperstate  {"UID","ClusterUID"}          (Go encoding/json of KeeperLocalState)
 *  - <data-dir>/dbstate      {"UID","Generation","Initializing","InitPGParameters"}
 *  - <data-dir>/lock         an fcntl lock, 0644
 *  - <data-dir>/postgres     PGDATA: initdb -U <su>; a standby is a pg_basebackup copy
 *  - postgresql.conf         every parameter as `name = 'value'` (stolon owns the whole file), for a
 *                            standby also primary_conninfo (password inline), primary_slot_name and
 *                            recovery_target_timeline = 'latest'; standby.signal (empty)
 *  - pg_hba.conf             its lines, one per line
 *  - postgresql.auto.conf    a symlink to /dev/null (ALTER SYSTEM neutralised)
 * The postmaster runs with `-c unix_socket_directories=/tmp`. On SIGTERM stolon's keeper stops
 * PostgreSQL with a fast shutdown; its info is left to expire (TTL max(sleepInterval, 20 s)).
 *
 * As root, everything is the "postgres" OS user's, as under a stolon keeper run by that user.
 */
import { chownSync, lchownSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EtcdBackend } from "../../../src/store/index.ts";
import { freePort } from "../../harness/util.ts";
import { BunCommandRunner, lookupUserByName, type OsUser } from "../../../src/postgres/index.ts";
import { PG_BIN } from "./keeper.ts";
import { queryOnce, superuserSql } from "./sql.ts";
import { holdFcntlLock } from "../../harness/fcntl-lock.ts";

/** stolon's store prefix and the info TTL its keeper asks for (MinTTL, 20 s). */
export const STOLON_PREFIX = "stolon/cluster";
const INFO_TTL_S = 20;
/** How often a simulated keeper publishes its info (stolon: every sleepInterval). */
const PUBLISH_MS = 1000;

/**
 * `n` different ports that were free a moment ago, all chosen before any is used: a port chosen
 * while a PostgreSQL is stopped for a moment (between stolon's keeper and ours) could be its own.
 */
export function distinctFreePorts(n: number): number[] {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(freePort());
  return [...ports];
}

export interface StolonNode {
  /** The keeper uid (stolon generates 8 hex digits). */
  uid: string;
  /** The uid of its db in the cluster data. */
  dbUid: string;
  /** The keeper's --data-dir; PGDATA is <dataDir>/postgres. */
  dataDir: string;
  port: number;
  /** The admin listener of our keeper on this node. */
  adminPort: number;
  bootUUID: string;
}

export const pgdataOf = (n: StolonNode) => join(n.dataDir, "postgres");

/**
 * The passwords of the simulated stolon cluster: plain, because stolon writes primary_conninfo
 * into postgresql.conf doubling only single quotes (a backslash or a space would need more).
 */
export const SU_PASSWORD = "stolon-su-pw";
export const REPL_PASSWORD = "stolon-repl-pw";

/**
 * Our keeper's auth flags for the same roles, password files written under `dir`; `owner` is the
 * OS user the keeper runs as, when not this process's (the files are 0600).
 */
export function stolonAuthArgs(dir: string, owner?: OsUser): string[] {
  const file = (name: string, password: string) => {
    const p = join(dir, `sim-${name}${owner ? `-${owner.name}` : ""}.pw`);
    writeFileSync(p, password + "\n", { mode: 0o600 });
    if (owner) chownSync(p, owner.uid, owner.gid);
    return p;
  };
  return ["--pg-su-username", "stolon", "--pg-su-passwordfile", file("su", SU_PASSWORD), "--pg-repl-username", "repl", "--pg-repl-passwordfile", file("repl", REPL_PASSWORD)];
}

/** A marker file put in each PGDATA when it is made: a copy made again (pg_basebackup, initdb) has none. */
export const MARKER = "stolon-sim-marker";

const osUser = (): OsUser | null => (process.getuid?.() === 0 ? lookupUserByName("postgres") : null);

/** Go's encoding/json of stolon's KeeperLocalState and DBLocalState. */
export function writeStolonState(n: StolonNode, o: { clusterUID: string; generation: number; initializing?: boolean; keeperUID?: string }): void {
  const u = osUser();
  const write = (name: string, v: unknown) => {
    const p = join(n.dataDir, name);
    writeFileSync(p, JSON.stringify(v), { mode: 0o600 });
    if (u) chownSync(p, u.uid, u.gid);
  };
  write("keeperstate", { UID: o.keeperUID ?? n.uid, ClusterUID: o.clusterUID });
  write("dbstate", { UID: n.dbUid, Generation: o.generation, Initializing: o.initializing ?? false, InitPGParameters: null });
}

/**
 * The conninfo stolon writes into a standby's primary_conninfo (getReplConnParams, ConnString:
 * `key=value` sorted by key, password inline, spaces, quotes and backslashes escaped).
 */
function stolonConninfo(n: StolonNode, master: StolonNode): string {
  return `application_name=stolon_${n.dbUid} host=127.0.0.1 password=${REPL_PASSWORD} port=${master.port} sslmode=prefer user=repl`;
}

function stolonConf(n: StolonNode, master: StolonNode | null): string {
  const params: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    port: String(n.port),
    max_replication_slots: "20",
    max_wal_senders: "42",
    wal_level: "replica",
    wal_keep_size: "128",
    hot_standby: "on",
    wal_log_hints: "on",
    synchronous_standby_names: "",
    fsync: "off",
    max_connections: "100",
    shared_buffers: "32MB",
  };
  if (master) {
    params.primary_conninfo = stolonConninfo(n, master);
    params.primary_slot_name = `stolon_${n.dbUid}`;
    params.recovery_target_timeline = "latest";
  }
  return Object.entries(params)
    .map(([k, v]) => `${k} = '${v.replace(/'/g, "''")}'\n`)
    .join("");
}

const STOLON_HBA = [
  "local postgres stolon md5",
  "local replication repl md5",
  "host all stolon 0.0.0.0/0 md5",
  "host all stolon ::0/0 md5",
  "host replication repl 0.0.0.0/0 md5",
  "host replication repl ::0/0 md5",
  "host all all 0.0.0.0/0 md5",
  "host all all ::0/0 md5",
].join("\n") + "\n";

/**
 * The files stolon's keeper writes into PGDATA before each start (writeConfs and the ALTER SYSTEM
 * guard), and the marker.
 */
function writeStolonPgFiles(n: StolonNode, master: StolonNode | null, marker: string | null): void {
  const u = osUser();
  const pgdata = pgdataOf(n);
  const files: [string, string][] = [
    ["postgresql.conf", stolonConf(n, master)],
    ["pg_hba.conf", STOLON_HBA],
    ...(marker !== null ? [[MARKER, marker] as [string, string]] : []),
  ];
  if (master) files.push(["standby.signal", ""]);
  for (const [name, text] of files) {
    const p = join(pgdata, name);
    writeFileSync(p, text, { mode: 0o600 });
    if (u) chownSync(p, u.uid, u.gid);
  }
  const auto = join(pgdata, "postgresql.auto.conf");
  Bun.spawnSync(["rm", "-f", auto]);
  symlinkSync("/dev/null", auto);
  if (u) lchownSync(auto, u.uid, u.gid);
}

/** Parses an LSN ("16/B374D848") into a byte position. */
export function lsnToNumber(lsn: string): number {
  const [hi, lo] = lsn.split("/");
  return parseInt(hi!, 16) * 2 ** 32 + parseInt(lo!, 16);
}

interface Running {
  node: StolonNode;
  stop: () => void;
  done: Promise<void>;
  /** The fcntl lock on <data-dir>/lock stolon's keeper holds while it runs. */
  lock: { release(): Promise<void> };
}

/** stolon's keepers for one test: the data dirs, their PostgreSQL, their info loops. */
export class StolonSim {
  private readonly runner = new BunCommandRunner(osUser());
  private readonly running = new Map<string, Running>();
  /** db uid -> the generation the stolon keeper is converged to (what it reports). */
  readonly reported = new Map<string, number>();

  constructor(
    private readonly kv: EtcdBackend,
    private readonly clusterName: string,
    private readonly clusterUID: string,
  ) {}

  private clusterPath(): string {
    return `${STOLON_PREFIX}/${this.clusterName}`;
  }

  /** The data dir and its lock file, the PostgreSQL user's, as stolon's keeper run by that user makes them. */
  private mkDataDir(n: StolonNode): void {
    mkdirSync(n.dataDir, { recursive: true, mode: 0o700 });
    const lock = join(n.dataDir, "lock");
    writeFileSync(lock, "", { mode: 0o644 });
    const u = osUser();
    if (u) for (const p of [n.dataDir, lock]) chownSync(p, u.uid, u.gid);
  }

  private pgEnv(password: string): Record<string, string> {
    return { PGPASSWORD: password, PGCONNECT_TIMEOUT: "10" };
  }

  /** initdb (superuser "stolon"), the roles stolon's SetupRoles makes, stolon's files: a stolon master's data dir. */
  async makeMaster(n: StolonNode, generation: number): Promise<void> {
    this.mkDataDir(n);
    const pwfile = join(n.dataDir, ".sim-pw");
    writeFileSync(pwfile, SU_PASSWORD + "\n", { mode: 0o600 });
    const u = osUser();
    if (u) chownSync(pwfile, u.uid, u.gid);
    await this.runner.run([join(PG_BIN, "initdb"), "-D", pgdataOf(n), "-U", "stolon", "--pwfile", pwfile, "-A", "md5"], { timeoutMs: 120_000 });
    Bun.spawnSync(["rm", "-f", pwfile]);
    writeStolonPgFiles(n, null, crypto.randomUUID());
    writeStolonState(n, { clusterUID: this.clusterUID, generation });
    await this.startPostgres(n);
    const repl = REPL_PASSWORD.replace(/'/g, "''");
    await queryOnce(superuserSql(n.port, SU_PASSWORD), `CREATE ROLE repl WITH LOGIN REPLICATION ENCRYPTED PASSWORD '${repl}'`);
  }

  /** A slot on the master and a pg_basebackup through it, then stolon's files: a stolon standby's data dir. */
  async makeStandby(n: StolonNode, master: StolonNode, generation: number): Promise<void> {
    this.mkDataDir(n);
    await queryOnce(superuserSql(master.port, SU_PASSWORD), `SELECT pg_create_physical_replication_slot('stolon_${n.dbUid}')`);
    await this.runner.run(
      [join(PG_BIN, "pg_basebackup"), "-D", pgdataOf(n), "-h", "127.0.0.1", "-p", String(master.port), "-U", "repl", "-X", "stream", "--slot", `stolon_${n.dbUid}`, "-c", "fast"],
      { env: this.pgEnv(REPL_PASSWORD), timeoutMs: 120_000 },
    );
    writeStolonPgFiles(n, master, crypto.randomUUID());
    writeStolonState(n, { clusterUID: this.clusterUID, generation });
    await this.startPostgres(n);
  }

  /** As stolon starts it: postgres -D PGDATA -c unix_socket_directories=/tmp (here through pg_ctl, which waits). */
  async startPostgres(n: StolonNode): Promise<void> {
    const log = join(n.dataDir, "sim-postgres.log");
    await this.runner.run(
      [join(PG_BIN, "pg_ctl"), "start", "-w", "-t", "60", "-D", pgdataOf(n), "-l", log, "-o", "-c unix_socket_directories=/tmp"],
      { timeoutMs: 90_000 },
    );
  }

  /** stolon's keeper on SIGTERM: its loop ends, its lock goes, PostgreSQL gets a fast shutdown. */
  async stopKeeper(uid: string): Promise<void> {
    const n = await this.killKeeper(uid);
    if (n) await this.runner.run([join(PG_BIN, "pg_ctl"), "stop", "-w", "-t", "60", "-m", "fast", "-D", pgdataOf(n)], { timeoutMs: 90_000 });
  }

  /** stolon's keeper SIGKILLed: its loop ends and its lock goes; PostgreSQL runs on, orphaned. */
  async killKeeper(uid: string): Promise<StolonNode | null> {
    const r = this.running.get(uid);
    if (!r) return null;
    r.stop();
    await r.done;
    await r.lock.release();
    this.running.delete(uid);
    return r.node;
  }

  /**
   * stolon's keeper started again on a data dir (a rollback): it takes its lock, writes its own
   * configuration files over ours (as it does before every start) and starts PostgreSQL.
   */
  async restartOnDataDir(n: StolonNode, master: StolonNode | null): Promise<void> {
    const lock = await holdFcntlLock(join(n.dataDir, "lock"));
    await lock.release();
    writeStolonPgFiles(n, master, null);
    await this.startPostgres(n);
    await this.startKeeper(n);
  }

  /** Starts a stolon keeper on a running PostgreSQL: its lock on the data dir and its info loop. */
  async startKeeper(n: StolonNode): Promise<void> {
    const lock = await holdFcntlLock(join(n.dataDir, "lock"));
    let stopped = false;
    let wake: (() => void) | null = null;
    const done = (async () => {
      while (!stopped) {
        await this.publish(n).catch(() => {});
        await new Promise<void>((res) => {
          wake = res;
          setTimeout(res, PUBLISH_MS);
        });
      }
    })();
    this.running.set(n.uid, {
      node: n,
      stop: () => {
        stopped = true;
        wake?.();
      },
      done,
      lock,
    });
  }

  async stopAll(): Promise<void> {
    for (const uid of [...this.running.keys()]) await this.stopKeeper(uid).catch(() => {});
  }

  /** One stolon KeeperInfo (member.go), as a converged stolon keeper would publish it now. */
  private async publish(n: StolonNode): Promise<void> {
    const generation = await this.convergedGeneration(n);
    const state = await this.pgState(n, generation);
    const info = {
      infoUID: crypto.randomUUID().replace(/-/g, "").slice(0, 8),
      uid: n.uid,
      clusterUID: this.clusterUID,
      bootUUID: n.bootUUID,
      postgresBinaryVersion: { Maj: 15, Min: 0 },
      postgresState: state,
    };
    const lease = await this.kv.grantLease(INFO_TTL_S);
    await this.kv.put(`${this.clusterPath()}/keepers/info/${n.uid}`, JSON.stringify(info), { lease });
  }

  /** The generation of its db in the cluster data now: a converged stolon keeper follows any bump. */
  private async convergedGeneration(n: StolonNode): Promise<number> {
    const e = await this.kv.get(`${this.clusterPath()}/clusterdata`);
    const cd = e ? (JSON.parse(e.value) as { dbs?: Record<string, { generation?: number }> }) : null;
    const g = cd?.dbs?.[n.dbUid]?.generation ?? 0;
    this.reported.set(n.dbUid, g);
    return g;
  }

  /** stolon's PostgresState (omitempty: zero values left out; synchronousStandbys always written). */
  private async pgState(n: StolonNode, generation: number): Promise<Record<string, unknown>> {
    const base = { uid: n.dbUid, generation, listenAddress: "127.0.0.1", port: String(n.port), synchronousStandbys: null };
    try {
      const [row] = await queryOnce<{ sysid: string; tli: number; lsn: string }>(
        superuserSql(n.port, SU_PASSWORD, { connect_timeout: 2 }),
        `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
                (SELECT timeline_id FROM pg_control_checkpoint()) AS tli,
                (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn`,
      );
      return { ...base, healthy: true, systemID: row!.sysid, timelineID: Number(row!.tli), xLogPos: lsnToNumber(row!.lsn), synchronousStandbys: [] };
    } catch {
      return base;
    }
  }
}

/** A time as Go's encoding/json writes a time.Time: RFC 3339 with up to 9 fraction digits, trailing zeros cut. */
export function goTime(d: Date, nanos = 123456789): string {
  const frac = String(nanos).padStart(9, "0").replace(/0+$/, "");
  return d.toISOString().replace(/\.\d{3}Z$/, frac ? `.${frac}Z` : "Z");
}

export interface StolonDbFacts {
  node: StolonNode;
  generation: number;
  systemID: string;
  xLogPos: number;
}

/**
 * The cluster data stolon's sentinel keeps for a converged cluster of one master and its standbys
 * (internal/cluster/cluster.go through encoding/json): the cluster spec as the user gave it, so
 * without defaults and with the nulls `stolonctl init` leaves; DB specs filled in by the sentinel;
 * every pointer of a status left out when empty; times with nanoseconds; a proxy uid of a stolon
 * proxy that is gone.
 */
export function stolonClusterData(o: { clusterUID: string; master: StolonDbFacts; standbys: StolonDbFacts[]; now: Date; oldProxyUid: string }): Record<string, unknown> {
  const t = goTime(o.now);
  const all = [o.master, ...o.standbys];
  const keepers = Object.fromEntries(
    all.map((f) => [
      f.node.uid,
      {
        uid: f.node.uid,
        generation: 1,
        changeTime: t,
        spec: {},
        status: { healthy: true, lastHealthyTime: t, bootUUID: f.node.bootUUID, postgresBinaryVersion: { Maj: 15, Min: 0 } },
      },
    ]),
  );
  const dbSpec = (f: StolonDbFacts, master: boolean) => ({
    keeperUID: f.node.uid,
    requestTimeout: "10s",
    maxStandbys: 20,
    additionalWalSenders: 5,
    additionalReplicationSlots: null,
    initMode: "none",
    pgHBA: null,
    role: master ? "master" : "standby",
    ...(master ? {} : { followConfig: { type: "internal", dbuid: o.master.node.dbUid } }),
    followers: master ? o.standbys.map((s) => s.node.dbUid) : [],
    synchronousStandbys: null,
    externalSynchronousStandbys: null,
  });
  const dbs = Object.fromEntries(
    all.map((f) => [
      f.node.dbUid,
      {
        uid: f.node.dbUid,
        generation: f.generation,
        changeTime: t,
        spec: dbSpec(f, f === o.master),
        status: {
          healthy: true,
          currentGeneration: f.generation,
          listenAddress: "127.0.0.1",
          port: String(f.node.port),
          systemdID: f.systemID,
          timelineID: 1,
          xLogPos: f.xLogPos,
          synchronousStandbys: f === o.master ? [] : null,
        },
      },
    ]),
  );
  return {
    formatVersion: 1,
    changeTime: t,
    cluster: {
      uid: o.clusterUID,
      generation: 1,
      changeTime: t,
      spec: { additionalWalSenders: null, additionalMasterReplicationSlots: null, initMode: "new", pgHBA: null, automaticPgRestart: null },
      status: { currentGeneration: 1, phase: "normal", master: o.master.node.dbUid },
    },
    keepers,
    dbs,
    proxy: { generation: 4, changeTime: t, spec: { masterDbUid: o.master.node.dbUid, enabledProxies: [o.oldProxyUid] }, status: {} },
  };
}
