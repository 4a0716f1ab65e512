/**
 * pgBackRest for the tests and the drill: a repository on local disk in a dir the caller owns,
 * its configuration (one stanza per cluster, one pgN per keeper), the archive_command to put in
 * the cluster spec's pgParameters, and pgbackrest run as the PostgreSQL OS user (as root;
 * PostgreSQL's archiver runs archive-push as that user too, so the repository, lock, log and
 * spool dirs are its own). The pure part is backrest-config.ts.
 */
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lookupUserByName, type OsUser } from "../src/postgres/index.ts";
import { SU_PASSWORD, type LocalCluster } from "./local-cluster.ts";
import { archiveCommand, archivingParameters, dataRestoreCommand, pgpassLine, renderBackrestConfig, restoreCommand, type BackrestPg } from "./backrest-config.ts";

export * from "./backrest-config.ts";

/** The result of a pgbackrest command. */
export interface BackrestResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** pgbackrest on PATH or in Debian's place; a clear error when missing. */
function pgbackrestBinary(): string {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/bin"]) {
    if (dir && Bun.file(join(dir, "pgbackrest")).size > 0) return join(dir, "pgbackrest");
  }
  throw new Error('pgbackrest not found: run "npm run setup" (as root it installs the Debian package pgbackrest)');
}

/** The pgN of a LocalCluster's keepers, in keeper order (data dirs and sockets as the keepers lay them out). */
export function localClusterPgs(lc: LocalCluster): BackrestPg[] {
  return lc.keeperNames.map((k, i) => ({ path: join(lc.o.dir, k, "postgres"), port: lc.ports.pg[i]!, socketPath: join(lc.o.dir, k, "run") }));
}

/** A pgBackRest repository on local disk and the way to run pgbackrest on it. */
export class BackrestRepo {
  readonly configPath: string;
  readonly repoPath: string;
  private readonly pgpassPath: string;
  /** The PostgreSQL OS user when running as root (pgbackrest then runs as it), else null (as ourselves). */
  readonly osUser: OsUser | null;
  readonly bin: string;

  /**
   * Makes the dirs (repository, lock, log, spool) in `root` (the caller's, removed by it), owned
   * by the PostgreSQL OS user when running as root. The configuration is
   * written later by `writeConfig`, once the keepers' dirs are known; `configPath` and
   * `archiveCommand` are usable at once (for a spec written before the cluster starts).
   */
  constructor(
    root: string,
    readonly stanza: string,
    readonly pgUser = "stolon",
    readonly pgPassword = SU_PASSWORD,
  ) {
    this.bin = pgbackrestBinary();
    // Searchable by the PostgreSQL OS user, which reads the configuration in it.
    mkdirSync(root, { recursive: true });
    chmodSync(root, 0o755);
    const isRoot = process.getuid?.() === 0;
    this.osUser = isRoot ? lookupUserByName("postgres") : null;
    if (isRoot && !this.osUser) throw new Error("running as root and there is no postgres OS user: install the postgresql package");
    this.repoPath = join(root, "repo");
    this.configPath = join(root, "pgbackrest.conf");
    this.pgpassPath = join(root, "pgpass");
    for (const d of ["repo", "lock", "log", "spool"]) this.ownDir(join(root, d));
    writeFileSync(this.pgpassPath, pgpassLine(pgUser, pgPassword), { mode: 0o600 });
    this.chown(this.pgpassPath);
  }

  private chown(path: string): void {
    if (this.osUser) chownSync(path, this.osUser.uid, this.osUser.gid);
  }

  private ownDir(path: string): void {
    mkdirSync(path, { recursive: true, mode: 0o750 });
    this.chown(path);
  }

  private get root(): string {
    return join(this.configPath, "..");
  }

  /** Writes pgbackrest.conf for these keepers (readable by the PostgreSQL OS user). */
  writeConfig(pgs: BackrestPg[]): void {
    const text = renderBackrestConfig({
      stanza: this.stanza, repoPath: this.repoPath, lockPath: join(this.root, "lock"), logPath: join(this.root, "log"),
      spoolPath: join(this.root, "spool"), pgs, pgUser: this.pgUser,
    });
    writeFileSync(this.configPath, text, { mode: 0o640 });
    this.chown(this.configPath);
  }

  /** archive_command for this repository and stanza (see `archiveCommand`). */
  get archiveCommand(): string {
    return archiveCommand(this.configPath, this.stanza);
  }

  /** archive_mode and archive_command for the spec's pgParameters. */
  get archivingParameters(): Record<string, string> {
    return archivingParameters(this.configPath, this.stanza);
  }

  /** restore_command fetching WAL from this repository (see `restoreCommand`). */
  get restoreCommand(): string {
    return restoreCommand(this.configPath, this.stanza);
  }

  /** A pitr spec's dataRestoreCommand restoring from this repository (see `dataRestoreCommand`). */
  dataRestoreCommand(o: { targetTime?: string; extra?: string[] } = {}): string {
    return dataRestoreCommand(this.configPath, this.stanza, o);
  }

  /**
   * Runs `pgbackrest --config=... --stanza=... <args>` as the PostgreSQL OS user, with the
   * superuser's password in a 0600 pgpass file (never in argv). Killed after `timeoutMs` (2
   * minutes by default: longer than pgBackRest's own archive-timeout of 60 s, so that a check or
   * backup waiting for a segment that never comes ends with pgBackRest's error, not our kill).
   */
  async run(args: string[], o: { timeoutMs?: number } = {}): Promise<BackrestResult> {
    const proc = Bun.spawn([this.bin, `--config=${this.configPath}`, `--stanza=${this.stanza}`, ...args], {
      cwd: this.root,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "", HOME: this.osUser?.home ?? process.env.HOME ?? "/tmp", PGPASSFILE: this.pgpassPath },
      ...(this.osUser ? { uid: this.osUser.uid, gid: this.osUser.gid } : {}),
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), o.timeoutMs ?? 120_000);
    try {
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      return { code, stdout, stderr };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Like `run`, but a non-zero exit throws an error with the command and its output. */
  async ok(args: string[], o: { timeoutMs?: number } = {}): Promise<string> {
    const r = await this.run(args, o);
    if (r.code !== 0) throw new Error(`pgbackrest ${args.join(" ")} exited with ${r.code}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** `pgbackrest info --output=json` for this stanza. */
  async info(): Promise<BackrestStanzaInfo> {
    const parsed = JSON.parse(await this.ok(["info", "--output=json"])) as BackrestStanzaInfo[];
    const s = parsed.find((x) => x.name === this.stanza);
    if (!s) throw new Error(`pgbackrest info: no stanza ${this.stanza}`);
    return s;
  }
}

/** The part of `pgbackrest info --output=json` the tests read (one stanza). */
export interface BackrestStanzaInfo {
  name: string;
  status: { code: number; message: string };
  archive: { id: string; min: string | null; max: string | null; database: { id: number } }[];
  backup: {
    label: string;
    type: "full" | "diff" | "incr";
    prior: string | null;
    archive: { start: string; stop: string };
    lsn?: { start: string; stop: string };
    timestamp: { start: number; stop: number };
  }[];
}
