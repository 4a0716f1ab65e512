/**
 * PGDATA and the PostgreSQL user's files beside it: where they are, who may own them, and the only
 * ways root reads, writes, empties or swaps them.
 *
 * When the keeper runs as root, PGDATA, the socket dir and the log belong to the PostgreSQL OS
 * user, who may have put a link, a FIFO or a hard link at any name in them. Root touches them only
 * through src/lib/files.ts: files written under random temp names with O_EXCL and renamed into
 * place, owner set on the descriptor, existing files opened with O_NOFOLLOW and O_NONBLOCK and
 * checked; a wipe runs as that user. The layout is described in src/keeper/data-dir.ts.
 */
import { existsSync, renameSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { newUid } from "../lib/ids.ts";
import { ensureDir, fsyncDir, lstatOrNull, readFileNoFollow, UnsafePathError, writeFileAtomic } from "../lib/files.ts";
import type { Logger } from "../lib/log.ts";
import { renderPgpassLine } from "./conninfo.ts";
import type { CommandRunner } from "./runner.ts";

export interface Credentials {
  username: string;
  /** Undefined with the trust auth method. */
  password?: string;
}

/** Far more than postgresql.conf, pg_hba.conf or postgresql.auto.conf ever hold. */
export const MAX_CONF_BYTES = 16 * 1024 * 1024;

export interface PgDataOptions {
  binDir: string;
  /** The keeper's data dir; PGDATA is <stateDir>/postgres. */
  stateDir: string;
  runner: CommandRunner;
  log: Logger;
}

export class PgData {
  readonly dataDir: string;
  /** Where pg_basebackup writes a new copy; it replaces dataDir only once complete. */
  readonly newDataDir: string;
  /** Where the replaced data waits for its removal during a swap. */
  readonly oldDataDir: string;
  readonly logPath: string;

  constructor(private readonly o: PgDataOptions) {
    this.dataDir = join(o.stateDir, "postgres");
    this.newDataDir = join(o.stateDir, "postgres.new");
    this.oldDataDir = join(o.stateDir, "postgres.old");
    this.logPath = join(o.stateDir, "postgres.log");
  }

  get stateDir(): string {
    return this.o.stateDir;
  }

  /** A program of the PostgreSQL installation. */
  bin(name: string): string {
    return join(this.o.binDir, name);
  }

  get owner() {
    return this.o.runner.asUser;
  }

  /** Who may own what root reads under PGDATA: the PostgreSQL user, or the keeper (it made it). */
  get pgOwners(): number[] {
    const me = process.getuid?.() ?? 0;
    return this.owner ? [this.owner.uid, me] : [me];
  }

  /** An unsafe file met where a warning is all that can be done, said once until it changes. */
  private lastUnsafe = "";
  warnUnsafe(err: UnsafePathError): void {
    if (err.message !== this.lastUnsafe) this.o.log.warn(err.message);
    this.lastUnsafe = err.message;
  }

  /** True when the data dir holds an initialized cluster. */
  isInitialized(): boolean {
    return existsSync(join(this.dataDir, "PG_VERSION")) && existsSync(join(this.dataDir, "global", "pg_control"));
  }

  /** True when the data dir is set up to start as a standby. */
  hasStandbySignal(): boolean {
    return existsSync(join(this.dataDir, "standby.signal"));
  }

  /** True while an archive recovery (recovery.signal) has not ended: PostgreSQL removes it at the promotion. */
  hasRecoverySignal(): boolean {
    return existsSync(join(this.dataDir, "recovery.signal"));
  }

  /**
   * Empties the data dir, leaving it owned by the PostgreSQL user. The deleting runs as that user
   * (`find -delete`): root walking a tree that user can change could be led out of it by a link
   * swapped in half way.
   */
  async wipe(): Promise<void> {
    if (lstatOrNull(this.dataDir)) await this.emptyDir(this.dataDir);
    // As a new dir would be: PostgreSQL refuses a data dir open to others, and pg_basebackup
    // does not change the mode of the dir it fills.
    this.ensureDir(this.dataDir, true);
  }

  /**
   * Puts the complete copy in postgres.new in the place of postgres; the replaced data goes to
   * postgres.old, for removeOldDataDir() once the caller has recorded the swap. Each step is one
   * rename, and calling it again after an interruption finishes the job: with postgres.new gone
   * the swap is done; with postgres gone the old data was set aside already. Returns false when
   * there is no postgres.new to swap in.
   */
  async swapInNewDataDir(): Promise<boolean> {
    if (!existsSync(this.newDataDir)) return existsSync(this.dataDir);
    if (existsSync(this.dataDir)) {
      // A postgres.old here is what a finished swap left when its removal was interrupted.
      await this.removeTree(this.oldDataDir);
      renameSync(this.dataDir, this.oldDataDir);
    }
    renameSync(this.newDataDir, this.dataDir);
    fsyncDir(this.o.stateDir);
    return true;
  }

  async removeOldDataDir(): Promise<void> {
    await this.removeTree(this.oldDataDir);
  }

  /** Removes an incomplete copy (pg_basebackup failed or was interrupted). */
  async removeNewDataDir(): Promise<void> {
    await this.removeTree(this.newDataDir);
  }

  /**
   * Removes a dir of the PostgreSQL user's beside PGDATA (postgres.new, postgres.old). Its content
   * is deleted by that user (as in wipe: root walking a tree that user can change could be led out
   * of it by a link swapped in half way); the emptied dir, whose name is in the keeper's own
   * root-owned dir, is removed by the keeper. Anything else at the name is unlinked, not followed.
   */
  private async removeTree(dir: string): Promise<void> {
    const st = lstatOrNull(dir);
    if (!st) return;
    if (!st.isDirectory()) {
      rmSync(dir, { force: true });
      return;
    }
    await this.emptyDir(dir);
    rmdirSync(dir);
  }

  /**
   * Deletes everything in a dir of the PostgreSQL user's, as that user (`find -delete` follows no
   * link): root walking a tree that user can change could be led out of it by a link swapped in
   * half way. The dir is checked (not a link, the right owner) first.
   */
  private async emptyDir(dir: string): Promise<void> {
    this.ensureDir(dir);
    await this.o.runner.run(["find", dir, "-mindepth", "1", "-delete"], { timeoutMs: 10 * 60_000 });
  }

  /** Creates a dir of the PostgreSQL user (0700), or checks and re-owns the one there; never through a link. */
  ensureDir(dir: string, forceMode = false): void {
    ensureDir(dir, { mode: 0o700, forceMode, owner: this.owner, owners: this.pgOwners });
  }

  /**
   * Writes a file for PostgreSQL's programs, owned by the PostgreSQL user: a new file under a random
   * name (owner set on the descriptor), renamed over `path`. Root never reads these back.
   */
  writeOwned(path: string, content: string, mode = 0o600): void {
    writeFileAtomic(path, content, { mode, owner: this.owner });
  }

  /**
   * A file of PGDATA; null when absent. Opened without following a link and without blocking.
   * @throws UnsafePathError when it is a link, a FIFO, a directory, a hard link or another user's
   */
  readText(name: string): string | null {
    return readFileNoFollow(join(this.dataDir, name), { owners: this.pgOwners, maxBytes: MAX_CONF_BYTES });
  }

  /** A 0600 temp file of the PostgreSQL user's beside PGDATA (`prefix` + a random name); removed by the returned function. */
  tempOwned(prefix: string, content: string): { path: string; remove: () => void } {
    const path = join(this.o.stateDir, `${prefix}${newUid()}`);
    this.writeOwned(path, content);
    return { path, remove: () => rmSync(path, { force: true }) };
  }

  /** A 0600 passfile owned by the PostgreSQL user; removed by the returned function. */
  tempPassfile(c: Credentials): { path: string; remove: () => void } {
    return this.tempOwned(".pgpass-", passLines(c).join("\n") + "\n");
  }

  /** Writes the persistent passfile the standby's walreceiver uses (primary_conninfo passfile=). */
  writeReplicationPassfile(repl: Credentials): string {
    const path = join(this.o.stateDir, "pgpass");
    this.writeOwned(path, repl.password !== undefined ? passLines(repl)[0]! + "\n" : "");
    return path;
  }
}

/** The pgpass line for any host, port and database; none with the trust method (no password). */
function passLines(c: Credentials): string[] {
  return c.password !== undefined ? [renderPgpassLine({ host: "*", port: "*", database: "*", user: c.username, password: c.password })] : [];
}
