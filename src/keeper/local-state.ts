/**
 * The keeper's files in its data dir, beside PostgreSQL's own (`postgres/`):
 *
 *   keeperstate  {"UID", "ClusterUID"}: the keeper's identity, fixed once saved
 *   dbstate      {"UID", "Generation", "Initializing", "InitPGParameters", "ClusterUID",
 *                "SystemID", "WasMaster", "Swap"}: the DB this data belongs to, the generation it
 *                last fully converged to, and what the keeper needs to tell whether it may
 *                replace this data (see planKeeper's replacement rules)
 *   pitrfailure  KeeperInfo.init of a pitr init that failed here: the restore is not run again for
 *                that db, and the failure is reported, across keeper restarts (ours, not stolon's)
 *   lock         held (flock and an fcntl lock, the kind stolon's keeper takes) while a keeper
 *                runs on this data dir
 *
 * The state files are written atomically (a new file under a random name, fsync, rename,
 * directory fsync) and read without following a link (src/lib/files.ts). All three belong to the
 * keeper's own OS user, which the data dir's root also belongs to: when the keeper runs as root,
 * the PostgreSQL OS user can neither write them nor replace them (see keeper.ts, prepareDataDir).
 */
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isPlainObject } from "../cluster/index.ts";
import { StolonError, describeError } from "../lib/errors.ts";
import { openOrCreateFile, readFileNoFollow, writeFileAtomic } from "../lib/files.ts";
import { KEEPER_UID_RE } from "./config.ts";

export interface KeeperState {
  UID: string;
  ClusterUID: string;
}

export interface DbState {
  UID: string;
  Generation: number;
  /** Set while an init or resync runs: found set at start, the data dir is half made. */
  Initializing: boolean;
  InitPGParameters: Record<string, string> | null;
  /** The cluster this data belongs to (absent in a dbstate written before it was recorded). */
  ClusterUID?: string;
  /** PostgreSQL's database system identifier of this data, from pg_control. */
  SystemID?: string;
  /**
   * This data ran as a primary (initdb, a start without standby.signal, a promotion) and was not
   * copied or rewound from another master since: it may hold writes no other node has.
   */
  WasMaster?: boolean;
  /**
   * A complete pg_basebackup copy waits in postgres.new to replace postgres: the state the data
   * dir takes once the swap is done. Found at start, the keeper finishes the swap.
   */
  Swap?: { UID: string; ClusterUID: string; SystemID: string } | null;
}

export class LocalStateError extends StolonError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ELOCALSTATE", message, options);
  }
}

/** The keeper's own uid: its state files must belong to it. */
const selfUid = () => process.getuid?.() ?? 0;
/** Far more than a state file ever holds. */
const MAX_STATE_BYTES = 1024 * 1024;

function readJson(path: string): unknown {
  let text: string | null;
  try {
    text = readFileNoFollow(path, { owners: [selfUid()], maxBytes: MAX_STATE_BYTES });
  } catch (err) {
    throw new LocalStateError(`cannot read ${path}: ${describeError(err)}`, { cause: err });
  }
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new LocalStateError(`${path} is not valid JSON (${describeError(err)}); move it away to start afresh`, { cause: err });
  }
}

const isObj = isPlainObject;

export function loadKeeperState(dataDir: string): KeeperState | null {
  const path = join(dataDir, "keeperstate");
  const v = readJson(path);
  if (v === null) return null;
  if (!isObj(v) || typeof v.UID !== "string" || !KEEPER_UID_RE.test(v.UID))
    throw new LocalStateError(`${path} does not hold a valid keeper uid`);
  return { UID: v.UID, ClusterUID: typeof v.ClusterUID === "string" ? v.ClusterUID : "" };
}

export function saveKeeperState(dataDir: string, s: KeeperState): void {
  writeFileAtomic(join(dataDir, "keeperstate"), JSON.stringify(s) + "\n");
}

export function loadDbState(dataDir: string): DbState | null {
  const path = join(dataDir, "dbstate");
  const v = readJson(path);
  if (v === null) return null;
  if (!isObj(v) || typeof v.UID !== "string" || typeof v.Generation !== "number" || typeof v.Initializing !== "boolean")
    throw new LocalStateError(`${path} is not a valid DB state`);
  const params = isObj(v.InitPGParameters)
    ? Object.fromEntries(Object.entries(v.InitPGParameters).filter((e): e is [string, string] => typeof e[1] === "string"))
    : null;
  const out: DbState = { UID: v.UID, Generation: v.Generation, Initializing: v.Initializing, InitPGParameters: params };
  if (typeof v.ClusterUID === "string") out.ClusterUID = v.ClusterUID;
  if (typeof v.SystemID === "string") out.SystemID = v.SystemID;
  if (typeof v.WasMaster === "boolean") out.WasMaster = v.WasMaster;
  if (v.Swap !== undefined && v.Swap !== null) {
    const w = v.Swap;
    if (!isObj(w) || typeof w.UID !== "string" || typeof w.ClusterUID !== "string" || typeof w.SystemID !== "string")
      throw new LocalStateError(`${path}: Swap is not a valid pending swap; move postgres.new away and remove Swap to start afresh`);
    out.Swap = { UID: w.UID, ClusterUID: w.ClusterUID, SystemID: w.SystemID };
  }
  return out;
}

export function saveDbState(dataDir: string, s: DbState): void {
  writeFileAtomic(join(dataDir, "dbstate"), JSON.stringify(s) + "\n");
}

/** A failed pitr init, as KeeperInfo.init reports it. */
export interface PitrFailure {
  dbUid: string;
  phase: "failed";
  since: string;
  detail: string;
  output?: string;
}

const PITR_FAILURE = "pitrfailure";

/** The pitr init that failed here, or null. */
export function loadPitrFailure(dataDir: string): PitrFailure | null {
  const path = join(dataDir, PITR_FAILURE);
  const v = readJson(path);
  if (v === null) return null;
  if (!isObj(v) || typeof v.dbUid !== "string" || typeof v.since !== "string" || typeof v.detail !== "string")
    throw new LocalStateError(`${path} is not a valid pitr failure record; remove it to let the keeper try the restore again`);
  return { dbUid: v.dbUid, phase: "failed", since: v.since, detail: v.detail, ...(typeof v.output === "string" ? { output: v.output } : {}) };
}

export function savePitrFailure(dataDir: string, f: PitrFailure): void {
  writeFileAtomic(join(dataDir, PITR_FAILURE), JSON.stringify(f) + "\n");
}

export function removePitrFailure(dataDir: string): void {
  rmSync(join(dataDir, PITR_FAILURE), { force: true });
}

/**
 * The keeper's uid: the one saved in keeperstate, the flag's (which must then match), or a new one.
 * @throws LocalStateError when --uid differs from the saved uid
 */
export function resolveKeeperUid(saved: KeeperState | null, flagUid: string | undefined, generate: () => string): string {
  if (saved && flagUid !== undefined && saved.UID !== flagUid)
    throw new LocalStateError(
      `--uid ${flagUid} does not match the uid ${saved.UID} saved in this data dir's keeperstate: a data dir belongs to one keeper; use --uid ${saved.UID} or another --data-dir`,
    );
  return saved?.UID ?? flagUid ?? generate();
}

const LOCK_EX = 2;
const LOCK_NB = 4;
/** fcntl: an open file description lock (Linux 3.15+), and the write lock type. */
const F_OFD_SETLK = 37;
const F_WRLCK = 1;
let libc: { symbols: { flock: (fd: number, op: number) => number; fcntl: (fd: number, cmd: number, arg: Uint8Array) => number } } | null = null;

/**
 * A write lock on the whole file (struct flock on Linux x86_64 and arm64: l_type, l_whence as
 * shorts, l_start and l_len as 64-bit offsets, l_pid; 32 bytes; l_pid must be 0 for an OFD lock).
 */
function wholeFileWriteLock(): Uint8Array {
  const b = new Uint8Array(32);
  new DataView(b.buffer).setInt16(0, F_WRLCK, true);
  return b;
}

/**
 * Takes an exclusive lock on <dataDir>/lock, held until release() or the process ends (the kernel
 * drops it even after SIGKILL, so a crashed keeper never leaves a stale lock). Two kinds, on the
 * same open file: flock, which our keepers take, and an fcntl record lock on the whole file, which
 * is what stolon's keeper takes (F_SETLK): Linux keeps the two kinds apart, so without the second
 * our keeper could start on a data dir stolon's keeper still runs on. The fcntl lock is an open
 * file description lock, so closing some other descriptor of the file does not drop it.
 * @throws LocalStateError when another process holds either
 */
export function lockDataDir(dataDir: string): { release(): void } {
  libc ??= dlopen("libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  }) as never;
  const path = join(dataDir, "lock");
  let fd: number;
  try {
    // Never follows a link; refuses a FIFO, a directory, a hard link or another user's file.
    fd = openOrCreateFile(path, { mode: 0o600, owners: [selfUid()] });
  } catch (err) {
    throw new LocalStateError(`cannot open the data dir lock ${path}: ${describeError(err)}`, { cause: err });
  }
  if (libc!.symbols.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    closeSync(fd);
    throw new LocalStateError(`data dir ${dataDir} is locked by another keeper (${path}); two keepers must not share a data dir`);
  }
  if (libc!.symbols.fcntl(fd, F_OFD_SETLK, wholeFileWriteLock()) !== 0) {
    closeSync(fd);
    throw new LocalStateError(
      `data dir ${dataDir} is locked by another process (an fcntl lock on ${path}, as stolon's keeper takes): stop stolon's keeper on this data dir first; two keepers must not share a data dir`,
    );
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}
