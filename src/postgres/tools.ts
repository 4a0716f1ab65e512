/**
 * PostgreSQL's short-lived programs: postgres --version, pg_controldata, initdb, pg_basebackup and
 * pg_rewind. Each builds its argv (passwords only in 0600 files of the PostgreSQL user's, removed
 * after use) and runs it through the CommandRunner with a timeout or the caller's abort signal.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { renderConninfo, type Conninfo } from "./conninfo.ts";
import { parseControlData, type ControlData } from "./control-data.ts";
import { parsePostgresVersion } from "./lsn.ts";
import type { Credentials, PgData } from "./pgdata.ts";
import type { CommandRunner } from "./runner.ts";
import { SCRAM_SALT_BYTES, scramSha256Verifier } from "./scram.ts";

export interface ToolsOptions {
  data: PgData;
  runner: CommandRunner;
  su: Credentials;
  repl: Credentials;
}

export class PgTools {
  constructor(private readonly o: ToolsOptions) {}

  private get d(): PgData {
    return this.o.data;
  }

  /** The server's version from `postgres --version`. */
  async binaryVersion(): Promise<{ Maj: number; Min: number }> {
    const r = await this.o.runner.run([this.d.bin("postgres"), "--version"], { timeoutMs: 10_000 });
    return parsePostgresVersion(r.stdout);
  }

  /** The database system identifier from pg_control (works while stopped). */
  async systemId(dir = this.d.dataDir): Promise<string | null> {
    if (!existsSync(join(dir, "global", "pg_control"))) return null;
    const r = await this.o.runner.run([this.d.bin("pg_controldata"), "-D", dir], { timeoutMs: 10_000, env: { LC_ALL: "C" } });
    const m = /^Database system identifier:\s+(\d+)$/m.exec(r.stdout);
    return m ? m[1]! : null;
  }

  /** pg_control's state, latest checkpoint and its timeline (works while stopped); null when not initialized. */
  async controlData(dir = this.d.dataDir): Promise<ControlData | null> {
    if (!existsSync(join(dir, "global", "pg_control"))) return null;
    const r = await this.o.runner.run([this.d.bin("pg_controldata"), "-D", dir], { timeoutMs: 10_000, env: { LC_ALL: "C" } });
    return parseControlData(r.stdout);
  }

  async initdb(opts: { locale?: string; encoding?: string; dataChecksums?: boolean }, signal?: AbortSignal): Promise<void> {
    this.d.ensureDir(this.d.dataDir);
    const su = this.o.su;
    const argv = [this.d.bin("initdb"), "-D", this.d.dataDir, "-U", su.username, "--auth-local=trust", "--auth-host=reject"];
    // A SCRAM verifier, not the password: initdb stores it as it is, so the plain password never
    // reaches even the bootstrap backend (checked by hand against PostgreSQL 15; setupRoles sets
    // a fresh verifier afterwards anyway).
    const pw = su.password !== undefined ? this.d.tempOwned(".pwfile-", scramSha256Verifier(su.password, randomBytes(SCRAM_SALT_BYTES)) + "\n") : null;
    if (pw) argv.push(`--pwfile=${pw.path}`);
    if (opts.locale) argv.push(`--locale=${opts.locale}`);
    if (opts.encoding) argv.push(`--encoding=${opts.encoding}`);
    if (opts.dataChecksums) argv.push("--data-checksums");
    try {
      await this.o.runner.run(argv, { timeoutMs: 10 * 60_000, signal });
    } finally {
      pw?.remove();
    }
  }

  /**
   * pg_basebackup of the followed instance into postgres.new (emptied first), streaming WAL, from
   * the followed DB's slot. The data dir is not touched: an unreachable or wrong source leaves it
   * as it was. The caller swaps the copy in (swapInNewDataDir) and writes the configuration.
   */
  async basebackup(source: { host: string; port: string; slot: string; applicationName: string }, signal?: AbortSignal): Promise<void> {
    await this.d.removeNewDataDir();
    this.d.ensureDir(this.d.newDataDir, true);
    const pass = this.d.tempPassfile(this.o.repl);
    const conninfo: Conninfo = {
      ...toolConninfo(source, this.o.repl.username, pass.path),
      application_name: source.applicationName,
    };
    try {
      await this.o.runner.run(
        [this.d.bin("pg_basebackup"), "-D", this.d.newDataDir, "-X", "stream", "--checkpoint=fast", "--no-password", `--slot=${source.slot}`, "-d", renderConninfo(conninfo)],
        { signal },
      );
    } finally {
      pass.remove();
    }
  }

  /**
   * pg_rewind against the current master, as the superuser. The data dir must be stopped, the
   * source checkpointed and the ALTER SYSTEM link out of the way (PgManager.rewind does all three).
   */
  async rewind(source: { host: string; port: string }, signal?: AbortSignal): Promise<void> {
    const pass = this.d.tempPassfile(this.o.su);
    const conninfo: Conninfo = { ...toolConninfo(source, this.o.su.username, pass.path), dbname: "postgres" };
    try {
      // pg_rewind has no --no-password; the passfile in the conninfo is the only password source.
      await this.o.runner.run([this.d.bin("pg_rewind"), "-D", this.d.dataDir, `--source-server=${renderConninfo(conninfo)}`], { signal });
    } finally {
      pass.remove();
    }
  }
}

/** What the copying tools' connections share: the password from a passfile, a bounded connect, no waiting on sync commit. */
function toolConninfo(source: { host: string; port: string }, user: string, passfile: string): Conninfo {
  return { host: source.host, port: source.port, user, sslmode: "prefer", passfile, connect_timeout: "10", options: "-c synchronous_commit=off" };
}
