/**
 * The TCP forwarder, on Bun.listen and Bun.connect. Each client connection gets its own
 * connection to one target of a set. Received buffers are written on as they are; only the part
 * the other side's socket did not take is copied and queued, and the side that produced it is
 * paused until `drain`, so a slow reader holds at most one chunk per direction in memory.
 *
 * The set is given by setTargets(pick, keep). The read-write port has one target, the master
 * (setTarget(t) is setTargets([t])); the read-only port has the eligible standbys (read-only.ts).
 * A new client goes to the target of `pick` with the fewest connections from this Forwarder; on
 * equal counts the targets take turns (a rotating start), so short connections alternate too.
 * The counts are kept per target as connections are made and closed: choosing looks at each
 * target, never at each connection, and forwarding a chunk pays nothing for it. A connection
 * stays with the target it was given. A change of the set cuts, both sides at once, exactly the
 * connections whose target is in neither `pick` nor `keep` (a standby past its grace, say) and
 * leaves the others alone; for the read-write port that is every connection when the master
 * changes (to another one or to none). While `pick` is empty, new clients are held (up to holdMs)
 * and connected as soon as it is not; a target that refuses the connection is tried again within
 * the same hold time, the target chosen again from the `pick` in force then.
 *
 * The `role` option changes only words: a client refused for want of a target gets SQLSTATE
 * 57P03 with "no master available: ..." on the read-write port and "no standby available for
 * read-only connections: ..." on the read-only one, and the log lines name the one it waits for.
 *
 * Under pressure it refuses instead of forwarding, and says so in PostgreSQL's own words (see
 * pg-wire.ts): a client past --max-connections gets SQLSTATE 53300, one that would be held past
 * --max-held-connections gets 53300 too, one whose hold time runs out gets 57P03. A refused client
 * leaves the forwarded set and is read by a StartupReader until its startup message is in, then
 * answered and closed; the reading only happens on the not-yet-connected path of onClientData,
 * so forwarded connections pay nothing for it. Refusals in progress count against
 * --max-connections, are at most MAX_REFUSING at a time (past that a client is closed at once)
 * and last at most REFUSAL_MS each, so silent or slow clients cannot pile up.
 *
 * A switchover's hold (setHold, from ProxySpec.hold) drains instead of cutting: new clients are
 * held even though the master is still routed, and every connection open when the hold began is
 * closed, both sides, where that costs its client the least. Its PgStreamTracker (pg-wire.ts),
 * fed every chunk both ways, says when it is idle (between transactions, nothing in flight); the
 * connection is closed right after the ReadyForQuery(idle) that ends its current or next
 * transaction has been delivered, so the answer and the end of the connection reach the client
 * together, before it can have sent anything more. One idle when the hold began and quiet for
 * QUIET_MS (an idle pooled connection) is closed then. One caught in its startup is closed after
 * its first query, not right after its startup (its client connected to run something). One the
 * tracker cannot read (TLS, GSS encryption, a cancel request, anything it does not understand)
 * is waited for until it closes. Whatever is left when the drain time is over is cut. Once none
 * is left, `drainedHoldId` is the hold's id and `onDrained` is called. Clearing the hold connects
 * the held clients to the target routed then (the new master, or the old one after a rollback).
 *
 * The limit of closing (a TCP proxy cannot move a session to another server): a client that
 * sends its next statement the instant it has the last answer, on the same connection, may have
 * it on the wire as the close arrives (postgres.js reuses the connection before it sees the
 * close). It gets a connection error on that statement, which never reached a server; a client
 * with any pause between transactions, or with a connection per transaction, sees none.
 */
import type { Socket, TCPSocketListener } from "bun";
import type { ProxyTarget } from "../cluster/proxy-target.ts";
import { sameTarget } from "../cluster/proxy-target.ts";
import type { Logger } from "../lib/log.ts";
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HELD } from "./config.ts";
import { errorResponse, NO_ENCRYPTION, PgStreamTracker, SQLSTATE, StartupReader, TERMINATE, type PgError } from "./pg-wire.ts";

export interface ForwarderOptions {
  hostname: string;
  port: number;
  /** How long a client that arrives while there is no target is held before it is refused (57P03). */
  holdMs: number;
  /** TCP keepalive idle time (ms) on both sides; 0 = the OS default. */
  keepAliveIdleMs: number;
  /** Connections forwarded, held or being refused, past which a new client is refused (53300). Default: --max-connections's. */
  maxConnections?: number;
  /** Clients held while there is no master, past which a new one is refused (53300). Default: --max-held-connections's. */
  maxHeld?: number;
  /** Default REFUSAL_MS and MAX_REFUSING; tests make them small. */
  refusalMs?: number;
  maxRefusing?: number;
  /** Called once a hold's drain is over (drainedHoldId set): the proxy publishes its info at once. */
  onDrained?: (holdId: string) => void;
  /** Which port this is, for the words of refusals and logs only (default "read-write"). */
  role?: ForwarderRole;
  log: Logger;
}

/** The read-write port routes to the master; the read-only port to the eligible standbys. */
export type ForwarderRole = "read-write" | "read-only";

/** What a port's refusals and log lines call the server it forwards to. */
interface RoleWords {
  /** The 57P03 message's start: "<noTarget>: <why>". */
  noTarget: string;
  /** What a held client waits for: "a master". */
  aTarget: string;
  /** A server it connects to: "the master". */
  server: string;
  /** Before a db uid: "master db <uid>". */
  db: string;
  /** Why none is routed, said to a client refused at once because nobody may wait. */
  nobodyWaits: string;
}

const ROLE_WORDS: Record<ForwarderRole, RoleWords> = {
  "read-write": {
    noTarget: "no master available",
    aTarget: "a master",
    server: "the master",
    db: "master db",
    nobodyWaits: "none routed, and nobody waits for one (stolon-proxy --max-held-connections 0)",
  },
  "read-only": {
    noTarget: "no standby available for read-only connections",
    aTarget: "an eligible standby",
    server: "the standby",
    db: "standby db",
    nobodyWaits: "none eligible, and nobody waits for one (stolon-proxy --read-only-fallback refuse or --max-held-connections 0)",
  },
};

/** A switchover's hold as the Forwarder applies it (see readHold in hold.ts). */
export interface ForwarderHold {
  id: string;
  /** From now: the connections still draining after this are cut. */
  drainLeftMs: number;
  /** How long a client held during the hold may wait, from when it connected. */
  holdMs: number;
}

/** Bytes from a client queued while its backend connection is being made, before the client is paused. */
const MAX_EARLY_BYTES = 256 * 1024;

/**
 * How long a refused client has to send its startup message and take the error, from the moment
 * it is refused: libpq and postgres.js need a few milliseconds; past this the socket is dropped,
 * so a client that says nothing holds a refusal slot for this long at most.
 */
export const REFUSAL_MS = 5000;
/**
 * Refusals in progress at one time (each holds a socket for up to REFUSAL_MS). Past this a new
 * client is closed without a word: under a flood, the sockets the proxy holds stay bounded by
 * --max-connections plus this.
 */
export const MAX_REFUSING = 100;
/** At most one warning about refused clients per this long: a flood must not flood the log. */
const REFUSAL_WARN_EVERY_MS = 10_000;

interface Conn {
  client: Socket<Conn>;
  backend: Socket<Conn> | null;
  /** Client bytes the backend has not taken yet (or that arrived before it connected). */
  toBackend: Uint8Array[];
  toBackendBytes: number;
  /** Backend bytes the client has not taken yet. */
  toClient: Uint8Array[];
  /** The peer sent FIN: end the other side once its queue is flushed. */
  clientEnded: boolean;
  backendEnded: boolean;
  /** The backend socket closed. */
  backendGone: boolean;
  closed: boolean;
  /** When the client connected (performance.now()): the hold time counts from there. */
  openedAt: number;
  holdTimer: ReturnType<typeof setTimeout> | null;
  retryTimer: ReturnType<typeof setTimeout> | null;
  /** Set while the client is being refused: reads its first packets, then it gets `error`. */
  refusal: { reader: StartupReader; error: PgError; timer: ReturnType<typeof setTimeout> } | null;
  /** The message framing both ways: when the connection is idle (see PgStreamTracker). */
  wire: PgStreamTracker;
  /**
   * -1, or draining for a hold: closed once idle with at least this many ReadyForQuery seen
   * (one more than the startup's for a connection still in its startup when the hold began).
   */
  drainAfterReady: number;
  /** The target this connection is forwarded to (or connecting to); null while held or refused. */
  slot: TargetSlot | null;
}

/** A target of the set and the connections forwarded (or connecting) to it. */
interface TargetSlot {
  target: ProxyTarget;
  conns: Set<Conn>;
}

/** A target's identity: another address for the same db is another target (as in sameTarget). */
const slotKey = (t: ProxyTarget): string => `${t.dbUid}\0${t.host}\0${t.port}`;

/** The same targets in the same order. */
function sameTargets(a: readonly ProxyTarget[], b: readonly ProxyTarget[]): boolean {
  return a.length === b.length && a.every((t, i) => sameTarget(t, b[i]!));
}

/**
 * During a drain, how long a connection idle when the hold began must stay quiet to be closed
 * before its next transaction (see startDrain): an idle pooled connection is closed after this,
 * and a client that is between two transactions sends its next one well within it.
 */
const QUIET_MS = 100;

/** Between two attempts to reach a master that refused the connection (restarting, say). */
const CONNECT_RETRY_MS = 100;

export class Forwarder {
  private listener: TCPSocketListener<Conn> | null = null;
  /** Where new clients go (setTargets' pick) and what else existing connections may stay on. */
  private pick: readonly ProxyTarget[] = [];
  private keep: readonly ProxyTarget[] = [];
  /** Every target of pick and keep, by slotKey; a connection's slot is always one of these. */
  private readonly slots = new Map<string, TargetSlot>();
  /** The slots of `pick`, in its order: what a new client chooses from. */
  private pickSlots: TargetSlot[] = [];
  /** Where the next choice starts looking, so that equal counts take turns. */
  private nextPick = 0;
  private readonly conns = new Set<Conn>();
  private readonly held = new Set<Conn>();
  private readonly refusing = new Set<Conn>();
  private refusedSinceWarn = 0;
  private lastRefusalWarn = -Infinity;
  /** The switchover's hold in force, with the connections still draining for it. */
  private holdState: { id: string; holdMs: number; draining: Set<Conn>; timer: ReturnType<typeof setTimeout> | null } | null = null;
  private drainedId: string | null = null;

  // What the proxy's metrics read at scrape time (src/proxy/metrics.ts): plain integers, one
  // addition where they happen, no allocation and no metrics library on the data path.
  /** Client connections accepted. */
  accepted = 0;
  /** Connections the proxy closed on both sides at once: a target change, fencing, shutdown. */
  cut = 0;
  /** Clients refused (53300 too many, 57P03 no master), answered or closed at once. */
  refused = 0;
  /** Bytes received from clients and forwarded (or queued) to the master. */
  clientToServerBytes = 0;
  /** Bytes received from the master and forwarded (or queued) to clients. */
  serverToClientBytes = 0;
  /** setTargets (or setTarget) calls that changed pick: to another master or to none, another set of standbys. */
  targetChanges = 0;
  /** Connections closed at an idle point during a switchover's drain. */
  drained = 0;
  /** Connections still open at the end of a drain, and cut then. */
  drainCut = 0;

  private readonly maxConnections: number;
  private readonly maxHeld: number;
  private readonly refusalMs: number;
  private readonly maxRefusing: number;
  private readonly words: RoleWords;

  constructor(private readonly o: ForwarderOptions) {
    this.words = ROLE_WORDS[o.role ?? "read-write"];
    this.maxConnections = o.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.maxHeld = o.maxHeld ?? DEFAULT_MAX_HELD;
    this.refusalMs = o.refusalMs ?? REFUSAL_MS;
    this.maxRefusing = o.maxRefusing ?? MAX_REFUSING;
  }

  get listening(): boolean {
    return this.listener !== null;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  get heldCount(): number {
    return this.held.size;
  }

  get refusingCount(): number {
    return this.refusing.size;
  }

  /** pick's first target: the read-write port's one target, the master (null: none). */
  get currentTarget(): ProxyTarget | null {
    return this.pick[0] ?? null;
  }

  /** Where new clients go (setTargets' pick). */
  get targets(): readonly ProxyTarget[] {
    return this.pick;
  }

  /**
   * Connections forwarded (or connecting) per target dbUid, for metrics and tests: every target
   * of pick and keep, 0 included. Held and refused clients have no target and are not counted.
   */
  connectionsByTarget(): Map<string, number> {
    const m = new Map<string, number>();
    for (const s of this.slots.values()) m.set(s.target.dbUid, (m.get(s.target.dbUid) ?? 0) + s.conns.size);
    return m;
  }

  /** The hold in force, if any. */
  get holdId(): string | null {
    return this.holdState?.id ?? null;
  }

  /** The hold's id once none of the connections open when it began is left (null otherwise). */
  get drainedHoldId(): string | null {
    return this.holdState && this.drainedId === this.holdState.id ? this.drainedId : null;
  }

  /** Connections still draining for the hold. */
  get drainingCount(): number {
    return this.holdState?.draining.size ?? 0;
  }

  /** Starts listening. @throws when the address cannot be bound */
  listen(): void {
    if (this.listener) return;
    this.listener = Bun.listen<Conn>({
      hostname: this.o.hostname,
      port: this.o.port,
      allowHalfOpen: true,
      socket: {
        // Plain Uint8Array views: no Buffer object per received chunk.
        binaryType: "uint8array",
        open: (s) => this.onClientOpen(s),
        data: (s, buf) => this.onClientData(s.data, buf),
        drain: (s) => this.flushToClient(s.data),
        end: (s) => this.onClientEnd(s.data),
        close: (s) => this.onClose(s.data, "client"),
        error: (s, err) => {
          this.o.log.debug(`client socket error: ${err.message}`);
          this.close(s.data);
        },
      },
    });
  }

  /** Stops listening; existing connections are not touched (see cutAll). */
  stopListening(): void {
    this.listener?.stop(false);
    this.listener = null;
  }

  /** Routes to `t` alone (null: nowhere): setTargets(t ? [t] : []). A change cuts every connection; held clients follow a new target. */
  setTarget(t: ProxyTarget | null): boolean {
    return this.setTargets(t ? [t] : []);
  }

  /**
   * New connections go to the least loaded of `pick`; an open connection whose target is in
   * neither `pick` nor `keep` is cut (both sides); the others stay. `keep` defaults to `pick`.
   * When pick changed, the held clients are released to it (unless a switchover's hold is in
   * force). True when pick or keep changed.
   */
  setTargets(pick: readonly ProxyTarget[], keep: readonly ProxyTarget[] = pick): boolean {
    const pickChanged = !sameTargets(this.pick, pick);
    if (!pickChanged && sameTargets(this.keep, keep)) return false;
    this.pick = [...pick];
    this.keep = [...keep];
    const wanted = new Map<string, ProxyTarget>();
    for (const t of [...pick, ...keep]) wanted.set(slotKey(t), t);
    for (const [key, s] of this.slots) {
      if (wanted.has(key)) continue;
      this.slots.delete(key);
      for (const c of [...s.conns]) this.close(c, true);
    }
    for (const [key, target] of wanted) if (!this.slots.has(key)) this.slots.set(key, { target, conns: new Set() });
    this.pickSlots = pick.map((t) => this.slots.get(slotKey(t))!);
    if (!pickChanged) return true;
    this.targetChanges++;
    // During a hold the held clients wait for it to be cleared, whatever is routed meanwhile.
    if (!this.holdState) this.releaseHeld();
    return true;
  }

  /** The pick target with the fewest connections, the turn deciding between equals; null when pick is empty. */
  private choose(): TargetSlot | null {
    const slots = this.pickSlots;
    const n = slots.length;
    if (n <= 1) return slots[0] ?? null;
    let best = 0;
    let fewest = Infinity;
    for (let i = 0; i < n; i++) {
      const j = (this.nextPick + i) % n;
      const k = slots[j]!.conns.size;
      if (k < fewest) {
        best = j;
        fewest = k;
      }
    }
    this.nextPick = (best + 1) % n;
    return slots[best]!;
  }

  private releaseHeld(): void {
    if (this.pickSlots.length === 0) return;
    for (const c of [...this.held]) {
      this.release(c);
      this.connectBackend(c, this.choose()!);
    }
  }

  /** What held clients go to when released now, for a log line. */
  private describePick(): string {
    if (this.pick.length === 0) return `wait for ${this.words.aTarget}`;
    return `go to ${this.words.db} ${this.pick.map((t) => t.dbUid).join(", ")}`;
  }

  /**
   * Applies a switchover's hold (null: none). A new id starts a drain of every connection open
   * now (see the file comment); the same id again changes nothing but the hold time; null ends
   * the hold: the connections still draining are left alone and the held clients go to the
   * target routed now.
   */
  setHold(h: ForwarderHold | null): void {
    const cur = this.holdState;
    if (h && cur?.id === h.id) {
      if (cur.holdMs !== h.holdMs) {
        cur.holdMs = h.holdMs;
        this.rearmHeld();
      }
      return;
    }
    if (cur?.timer) clearTimeout(cur.timer);
    if (!h) {
      if (!cur) return;
      for (const c of cur.draining) c.drainAfterReady = -1;
      this.holdState = null;
      this.drainedId = null;
      this.o.log.info(`hold ${cur.id} cleared: ${this.held.size} held client(s) ${this.describePick()}`);
      this.rearmHeld();
      this.releaseHeld();
      return;
    }
    this.startDrain(h);
  }

  private startDrain(h: ForwarderHold): void {
    const draining = new Set<Conn>();
    const quiet: Conn[] = [];
    for (const c of this.conns) {
      if (this.held.has(c)) continue;
      // Closed at its next ReadyForQuery(idle): the client gets that answer and the end of the
      // connection in one go, before it can have sent anything after it. Closing a connection
      // that is idle now would race with a client sending its next query this very moment.
      const n = c.wire.readyCount;
      c.drainAfterReady = n === 0 ? 2 : n + 1;
      if (n > 0 && c.wire.idle) quiet.push(c);
      draining.add(c);
    }
    const hs = { id: h.id, holdMs: h.holdMs, draining, timer: null as ReturnType<typeof setTimeout> | null };
    this.holdState = hs;
    this.drainedId = null;
    this.rearmHeld();
    this.o.log.info(`hold ${h.id}: new clients wait (up to ${h.holdMs} ms); draining ${draining.size} connection(s) within ${h.drainLeftMs} ms`);
    for (const c of [...draining]) this.closeIfDrained(c);
    if (quiet.length > 0) setTimeout(() => this.closeQuiet(hs, quiet), QUIET_MS);
    if (this.holdState !== hs) return;
    if (hs.draining.size === 0) {
      if (this.drainedId !== hs.id) this.drainOver(hs);
      return;
    }
    hs.timer = setTimeout(() => this.endDrain(hs), h.drainLeftMs);
  }

  /** The drain time is over: cut what is left. */
  private endDrain(hs: NonNullable<Forwarder["holdState"]>): void {
    hs.timer = null;
    if (this.holdState !== hs || hs.draining.size === 0) return;
    const n = hs.draining.size;
    for (const c of [...hs.draining]) {
      this.drainCut++;
      this.close(c, true);
    }
    this.o.log.warn(`hold ${hs.id}: ${n} connection(s) not idle within the drain time were cut`);
  }

  /**
   * The connections idle when the hold began that stayed so (no ReadyForQuery since, nothing in
   * flight) for QUIET_MS: idle pooled connections, closed now rather than at the drain time.
   */
  private closeQuiet(hs: NonNullable<Forwarder["holdState"]>, quiet: Conn[]): void {
    if (this.holdState !== hs) return;
    for (const c of quiet) {
      if (!hs.draining.has(c) || c.wire.readyCount !== c.drainAfterReady - 1) continue;
      c.drainAfterReady--;
      this.closeIfDrained(c);
    }
  }

  /** A draining connection at an idle point with everything delivered is closed. */
  private closeIfDrained(c: Conn): void {
    if (c.drainAfterReady < 0 || c.closed || c.toClient.length > 0 || c.toBackend.length > 0) return;
    if (!c.wire.idle || c.wire.readyCount < c.drainAfterReady) return;
    this.drained++;
    // Terminate ('X') first: the server ends the session as if the client had, without logging
    // an unexpected EOF.
    c.backend?.write(TERMINATE);
    this.close(c);
  }

  /** A connection left: when it was the last one draining, the drain is over. */
  private leftDrain(c: Conn): void {
    const hs = this.holdState;
    c.drainAfterReady = -1;
    if (!hs || !hs.draining.delete(c) || hs.draining.size > 0 || this.drainedId === hs.id) return;
    this.drainOver(hs);
  }

  private drainOver(hs: NonNullable<Forwarder["holdState"]>): void {
    if (hs.timer) clearTimeout(hs.timer);
    hs.timer = null;
    this.drainedId = hs.id;
    this.o.log.info(`hold ${hs.id}: every connection open when it began is closed`);
    this.o.onDrained?.(hs.id);
  }

  /**
   * Closes every connection, both sides, at once, held ones included, and ends every refusal in
   * progress (fencing, shutdown). A change of targets cuts only the connections it must (see
   * setTargets).
   */
  cutAll(): void {
    for (const c of [...this.conns]) this.close(c, true);
    for (const c of [...this.refusing]) this.endRefusal(c, "");
  }

  private onClientOpen(client: Socket<Conn>): void {
    const c: Conn = {
      client,
      backend: null,
      toBackend: [],
      toBackendBytes: 0,
      toClient: [],
      clientEnded: false,
      backendEnded: false,
      backendGone: false,
      closed: false,
      openedAt: performance.now(),
      holdTimer: null,
      retryTimer: null,
      refusal: null,
      wire: new PgStreamTracker(),
      drainAfterReady: -1,
      slot: null,
    };
    client.data = c;
    this.accepted++;
    client.setNoDelay(true);
    client.setKeepAlive(true, this.o.keepAliveIdleMs);
    this.conns.add(c);
    // Refusals in progress count: a flood of clients that never finish their startup takes
    // slots like any other (and is bounded apart, by MAX_REFUSING and REFUSAL_MS).
    if (this.conns.size - 1 + this.refusing.size >= this.maxConnections) {
      return this.refuse(c, {
        code: SQLSTATE.tooManyConnections,
        message: `sorry, too many clients already (stolon-proxy --max-connections ${this.maxConnections})`,
      });
    }
    const slot = this.holdState ? null : this.choose();
    if (slot) return this.connectBackend(c, slot);
    this.hold(c);
    if (this.held.has(c)) this.o.log.debug(`holding a client until ${this.holdState ? `switchover ${this.holdState.id} is over` : `${this.words.aTarget} is routed`} (${this.held.size} held)`);
  }

  /** Holds a client until a target appears (setTargets connects it) or its hold time is over. */
  private hold(c: Conn): void {
    if (this.maxHeld === 0) return this.refuse(c, this.noTarget(this.words.nobodyWaits));
    // During a switchover's hold every pooled connection drained comes back and waits: only
    // --max-connections bounds them (held clients count against it), or an application with
    // more connections than --max-held-connections would see errors in a planned switchover.
    if (!this.holdState && this.held.size >= this.maxHeld) {
      return this.refuse(c, {
        code: SQLSTATE.tooManyConnections,
        message: `sorry, too many clients already waiting for ${this.words.aTarget} (stolon-proxy --max-held-connections ${this.maxHeld})`,
      });
    }
    this.held.add(c);
    this.armHoldTimer(c);
  }

  /** (Re)sets a held client's deadline: the hold time in force, counted from when it connected. */
  private armHoldTimer(c: Conn): void {
    if (c.holdTimer) clearTimeout(c.holdTimer);
    const hs = this.holdState;
    const holdMs = hs ? Math.max(hs.holdMs, this.o.holdMs) : this.o.holdMs;
    const left = Math.max(0, holdMs - (performance.now() - c.openedAt));
    c.holdTimer = setTimeout(() => {
      c.holdTimer = null;
      this.refuse(
        c,
        this.noTarget(hs ? `switchover ${hs.id} did not end within the hold time (${holdMs} ms)` : `none within the hold time (stolon-proxy --hold-timeout ${this.o.holdMs} ms)`),
      );
    }, left);
  }

  private rearmHeld(): void {
    for (const c of this.held) this.armHoldTimer(c);
  }

  /**
   * Stops treating `c` as a connection to forward and refuses it: what it has sent so far and
   * what it sends next goes to a StartupReader; its startup message is answered with `error`.
   * Never called once a backend is connected (a client is refused before it is forwarded).
   */
  private refuse(c: Conn, error: PgError): void {
    if (c.closed) return;
    if (c.drainAfterReady >= 0) this.leftDrain(c);
    this.release(c);
    this.detach(c);
    this.conns.delete(c);
    this.noteRefusal(error);
    if (this.refusing.size >= this.maxRefusing) {
      c.closed = true;
      c.client.terminate();
      return;
    }
    const early = c.toBackend;
    c.toBackend = [];
    c.toBackendBytes = 0;
    const timer = setTimeout(() => this.endRefusal(c, `no startup message within ${this.refusalMs} ms`), this.refusalMs);
    c.refusal = { reader: new StartupReader(), error, timer };
    this.refusing.add(c);
    if (c.clientEnded) return this.endRefusal(c, "the client closed its side");
    c.client.resume();
    for (const chunk of early) this.feedRefusal(c, chunk);
  }

  /** The refused client's bytes: answer its SSL/GSS request with N, its startup with the error. */
  private feedRefusal(c: Conn, buf: Uint8Array): void {
    const r = c.refusal;
    if (!r || c.closed) return;
    for (const step of r.reader.feed(buf)) {
      if (step.kind === "answer-no") {
        // One byte into an empty socket buffer: a client that cannot take it is not reading.
        if (c.client.write(NO_ENCRYPTION) !== 1) return this.endRefusal(c, "the client does not read");
      } else if (step.kind === "startup") {
        const msg = errorResponse(r.error);
        if (c.client.write(msg) !== msg.byteLength) return this.endRefusal(c, "the client does not read");
        this.o.log.debug(`refused a client: ${r.error.code} ${r.error.message}`);
        // Ended, not dropped, so the error is delivered; the timer still bounds a client that
        // never closes its side.
        c.closed = true;
        c.client.end();
      } else {
        return this.endRefusal(c, step.reason);
      }
    }
  }

  /**
   * Ends a refusal at once and drops its socket, unless `terminate` is off (it closed already).
   * An empty reason: nothing worth a debug line.
   */
  private endRefusal(c: Conn, reason: string, terminate = true): void {
    if (!c.refusal) return;
    clearTimeout(c.refusal.timer);
    c.refusal = null;
    this.refusing.delete(c);
    if (reason) this.o.log.debug(`closing a refused client: ${reason}`);
    c.closed = true;
    if (terminate) c.client.terminate();
  }

  /** A warning at most every REFUSAL_WARN_EVERY_MS: how many clients were refused since the last one, and why the latest was. */
  private noteRefusal(error: PgError): void {
    this.refused++;
    this.refusedSinceWarn++;
    const now = performance.now();
    if (now - this.lastRefusalWarn < REFUSAL_WARN_EVERY_MS) return;
    this.o.log.warn(`refused ${this.refusedSinceWarn} client(s) since the last such warning; the latest: ${error.code} ${error.message}${this.refusing.size >= this.maxRefusing ? `; ${this.maxRefusing} refusals in progress, the rest closed at once` : ""}`);
    this.lastRefusalWarn = now;
    this.refusedSinceWarn = 0;
  }

  private release(c: Conn): void {
    this.held.delete(c);
    if (c.holdTimer) clearTimeout(c.holdTimer);
    if (c.retryTimer) clearTimeout(c.retryTimer);
    c.holdTimer = null;
    c.retryTimer = null;
  }

  /** No longer forwarded to (or connecting to) its target: it leaves the target's count. */
  private detach(c: Conn): void {
    c.slot?.conns.delete(c);
    c.slot = null;
  }

  /** Connects `c` to the target of `slot`, counted there from now. */
  private connectBackend(c: Conn, slot: TargetSlot): void {
    const t = slot.target;
    c.slot = slot;
    slot.conns.add(c);
    Bun.connect<Conn>({
      hostname: t.host,
      port: t.port,
      data: c,
      allowHalfOpen: true,
      socket: {
        binaryType: "uint8array",
        open: (b) => {
          if (c.closed) return b.terminate();
          c.backend = b;
          b.setNoDelay(true);
          b.setKeepAlive(true, this.o.keepAliveIdleMs);
          this.flushToBackend(c);
        },
        data: (_b, buf) => this.onBackendData(c, buf),
        drain: () => this.flushToBackend(c),
        end: () => this.onBackendEnd(c),
        close: () => this.onClose(c, "backend"),
        error: (_b, err) => {
          this.o.log.debug(`backend socket error: ${err.message}`);
          this.close(c);
        },
        connectError: (_b, err) => this.onConnectError(c, t, err),
      },
    }).catch(() => {
      // reported by connectError
    });
  }

  /**
   * `t` refused the connection. A server that refuses connections for a moment (PostgreSQL
   * restarting after a crash, its keeper restarting it) costs the client latency, not an error:
   * it is held and tried again within its hold time, on a target chosen again from the pick in
   * force then (a new master if one is routed, the least loaded standby).
   */
  private onConnectError(c: Conn, t: ProxyTarget, err: Error): void {
    if (c.closed) return;
    // Never connected: nothing to drain, no longer counted on `t`; it waits like a new client.
    this.detach(c);
    if (c.drainAfterReady >= 0) this.leftDrain(c);
    const at = `${this.words.server} at ${t.host}:${t.port}`;
    if (performance.now() - c.openedAt + CONNECT_RETRY_MS < this.o.holdMs) {
      this.o.log.debug(`cannot connect to ${at} (${err.message}): trying again`);
      this.hold(c);
      if (!this.held.has(c)) return; // refused: too many held already
      c.retryTimer = setTimeout(() => {
        c.retryTimer = null;
        const slot = this.holdState ? null : this.choose();
        if (!this.held.has(c) || !slot) return;
        this.release(c);
        this.connectBackend(c, slot);
      }, CONNECT_RETRY_MS);
      return;
    }
    this.o.log.warn(`cannot connect to ${at}: ${err.message}`);
    this.refuse(c, this.noTarget(`${this.words.server} refuses connections (tried for stolon-proxy --hold-timeout ${this.o.holdMs} ms)`));
  }

  /** 57P03, PostgreSQL's "cannot connect now", with why there is no target to forward to. */
  private noTarget(why: string): PgError {
    return { code: SQLSTATE.cannotConnectNow, message: `${this.words.noTarget}: ${why}` };
  }

  private onClientData(c: Conn, buf: Uint8Array): void {
    if (c.closed) return;
    if (!c.backend || c.toBackend.length > 0) {
      // Not forwarded: the only place a refusal costs a check, off the forwarding path.
      if (c.refusal) return this.feedRefusal(c, buf);
      c.wire.client(buf);
      this.clientToServerBytes += buf.byteLength;
      // Not connected yet, or earlier bytes still waiting: keep the order, hold a copy.
      c.toBackend.push(copyFrom(buf, 0));
      c.toBackendBytes += buf.byteLength;
      if (c.toBackendBytes > MAX_EARLY_BYTES || c.backend) c.client.pause();
      return;
    }
    c.wire.client(buf);
    this.clientToServerBytes += buf.byteLength;
    const n = c.backend.write(buf);
    if (n < 0) return this.close(c);
    if (n < buf.byteLength) {
      c.toBackend.push(copyFrom(buf, n));
      c.toBackendBytes += buf.byteLength - n;
      c.client.pause();
    }
  }

  private onBackendData(c: Conn, buf: Uint8Array): void {
    if (c.closed) return;
    c.wire.server(buf);
    this.serverToClientBytes += buf.byteLength;
    if (c.toClient.length > 0) {
      c.toClient.push(copyFrom(buf, 0));
      c.backend?.pause();
      return;
    }
    const n = c.client.write(buf);
    if (n < 0) return this.close(c);
    if (n < buf.byteLength) {
      c.toClient.push(copyFrom(buf, n));
      c.backend?.pause();
    } else if (c.drainAfterReady >= 0) {
      this.closeIfDrained(c);
    }
  }

  private flushToBackend(c: Conn): void {
    const b = c.backend;
    if (!b || c.closed) return;
    if (!drainQueue(b, c.toBackend)) return;
    c.toBackendBytes = 0;
    c.client.resume();
    if (c.clientEnded) b.shutdown();
    this.closeIfDone(c);
  }

  private flushToClient(c: Conn): void {
    if (c.closed) return;
    if (!drainQueue(c.client, c.toClient)) return;
    c.backend?.resume();
    if (c.backendEnded) c.client.shutdown();
    this.closeIfDone(c);
    if (c.drainAfterReady >= 0) this.closeIfDrained(c);
  }

  /** The client sent FIN: pass it on once its bytes are through. */
  private onClientEnd(c: Conn): void {
    c.clientEnded = true;
    if (c.refusal) {
      if (!c.closed) this.endRefusal(c, "the client closed its side before its startup message");
      return;
    }
    if (!c.backend) {
      if (this.held.has(c)) this.close(c, true);
      return;
    }
    if (c.toBackend.length === 0) c.backend.shutdown();
    this.closeIfDone(c);
  }

  private onBackendEnd(c: Conn): void {
    c.backendEnded = true;
    if (c.toClient.length === 0) c.client.shutdown();
    this.closeIfDone(c);
  }

  private onClose(c: Conn, side: "client" | "backend"): void {
    if (c.refusal) return this.endRefusal(c, "", false);
    if (c.closed) return;
    if (side === "backend") {
      // What the backend sent and the client has not taken yet is still delivered.
      c.backendEnded = true;
      c.backendGone = true;
      if (c.toClient.length > 0) return;
    }
    this.close(c);
  }

  /** Both directions finished (FIN each way, queues empty), or the backend is gone and all is delivered. */
  private closeIfDone(c: Conn): void {
    const flushed = c.toClient.length === 0 && c.toBackend.length === 0;
    if (flushed && ((c.clientEnded && c.backendEnded) || c.backendGone)) this.close(c);
  }

  /** Closes both sides; `cut` drops them at once (its target left the set, fencing), otherwise ends them. */
  private close(c: Conn, cut = false): void {
    if (c.refusal) return this.endRefusal(c, "");
    if (c.closed) return;
    c.closed = true;
    this.release(c);
    this.detach(c);
    this.conns.delete(c);
    if (c.drainAfterReady >= 0) this.leftDrain(c);
    c.toBackend = [];
    c.toClient = [];
    if (cut) {
      this.cut++;
      c.client.terminate();
      c.backend?.terminate();
    } else {
      c.client.end();
      c.backend?.end();
    }
  }
}

/** Writes queued chunks until the socket takes no more. True when the queue is empty. */
function drainQueue(s: Socket<Conn>, q: Uint8Array[]): boolean {
  while (q.length > 0) {
    const chunk = q[0]!;
    const n = s.write(chunk);
    if (n < 0) return false;
    if (n < chunk.byteLength) {
      q[0] = chunk.subarray(n);
      return false;
    }
    q.shift();
  }
  return true;
}

/** A copy of buf[from..]: Bun may reuse a received buffer once its callback returns. */
function copyFrom(buf: Uint8Array, from: number): Uint8Array {
  return buf.slice(from);
}
