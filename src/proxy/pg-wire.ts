/**
 * The few bits of PostgreSQL's wire protocol the proxy speaks itself, when it refuses a client
 * (too many connections, no master) instead of forwarding it. Pure: no sockets, no clock.
 *
 * A client is not told anything useful by a closed socket: libpq reports "server closed the
 * connection unexpectedly", postgres.js a bare ECONNRESET. A PostgreSQL server that refuses a
 * client reads its first packets and answers the startup message with an ErrorResponse, which
 * every driver shows with its SQLSTATE. StartupReader does the reading part: it answers an
 * SSLRequest or a GSSENCRequest with "N" (no encryption here: the client goes on in plain text or
 * gives up, as its sslmode says), and says when the startup message has arrived, so the error can
 * be sent. Everything else (a CancelRequest, an old protocol, garbage, an oversized length) ends
 * in a plain close: there is nobody to explain anything to.
 */

/** PostgreSQL's own limit on a startup packet (MAX_STARTUP_PACKET_LENGTH in pqcomm.h). */
export const MAX_STARTUP_PACKET_BYTES = 10_000;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
/** Protocol version 3.0 as a startup message carries it: major in the high 16 bits. */
const PROTOCOL_MAJOR_3 = 3;

/** The SQLSTATEs the proxy refuses with (PostgreSQL's errcodes.txt). */
export const SQLSTATE = {
  /** too_many_connections: what PostgreSQL says past max_connections. */
  tooManyConnections: "53300",
  /** cannot_connect_now: what PostgreSQL says while it starts up or recovers. */
  cannotConnectNow: "57P03",
} as const;

export interface PgError {
  /** Five characters, digits and upper-case letters. */
  code: string;
  message: string;
}

/**
 * An ErrorResponse ('E') with severity FATAL: fields S, V (the same, not localized), C and M, each
 * a NUL-terminated string, then a final NUL. A NUL inside the message would end the field early:
 * it becomes a space.
 * @throws Error when `code` is not a SQLSTATE (a programming error)
 */
export function errorResponse(e: PgError): Uint8Array {
  if (!/^[0-9A-Z]{5}$/.test(e.code)) throw new Error(`not a SQLSTATE: "${e.code}"`);
  const enc = new TextEncoder();
  const fields = [
    ["S", "FATAL"],
    ["V", "FATAL"],
    ["C", e.code],
    ["M", e.message.replace(/\0/g, " ")],
  ].map(([tag, value]) => enc.encode(`${tag}${value}\0`));
  const bodyBytes = fields.reduce((n, f) => n + f.byteLength, 0) + 1;
  const out = new Uint8Array(1 + 4 + bodyBytes);
  const view = new DataView(out.buffer);
  out[0] = 0x45; // 'E'
  view.setInt32(1, 4 + bodyBytes); // the length counts itself, not the type byte
  let at = 5;
  for (const f of fields) {
    out.set(f, at);
    at += f.byteLength;
  }
  out[at] = 0;
  return out;
}

/** Terminate ('X'): what a client sends to end its session. */
export const TERMINATE = new Uint8Array([0x58, 0, 0, 0, 4]);

/** The one-byte answer to an SSLRequest or GSSENCRequest: "not supported here, go on in plain text". */
export const NO_ENCRYPTION = new Uint8Array([0x4e]); // 'N'

export type StartupStep =
  /** Write NO_ENCRYPTION; the client then sends its startup message (or another request). */
  | { kind: "answer-no"; request: "SSLRequest" | "GSSENCRequest" }
  /** A complete protocol 3 startup message: send the ErrorResponse and close. */
  | { kind: "startup" }
  /** Close without a word; `reason` is for the log. */
  | { kind: "close"; reason: string };

/**
 * Reads a client's first packets, fed in chunks as they arrive (a packet may be split anywhere,
 * several may come in one chunk). feed() returns the steps the new bytes complete, in order; an
 * empty list means "need more". After a "startup" or "close" step the reader is done and ignores
 * anything further. It buffers at most one startup packet, so a client cannot make it hold more;
 * how long it may take is the caller's bound (a timer), since a reader has no clock.
 */
export class StartupReader {
  /** Storage; `buf` is the unread part of it. */
  private store = new Uint8Array(0);
  private buf = new Uint8Array(0);
  private done = false;
  private sslAnswered = false;
  private gssAnswered = false;

  get finished(): boolean {
    return this.done;
  }

  feed(chunk: Uint8Array): StartupStep[] {
    if (this.done) return [];
    this.append(chunk);
    const steps: StartupStep[] = [];
    while (!this.done) {
      const step = this.next();
      if (!step) break;
      steps.push(step);
    }
    return steps;
  }

  private append(chunk: Uint8Array): void {
    // The caller's buffer may be reused once its callback returns: keep a copy. The storage
    // doubles as it grows, so a client that sends one byte at a time costs linear copying.
    const used = this.buf.byteLength;
    const need = used + chunk.byteLength;
    if (need > this.store.byteLength || this.buf.byteOffset + need > this.store.byteLength) {
      const grown = new Uint8Array(Math.max(need, 2 * this.store.byteLength, 64));
      grown.set(this.buf);
      this.store = grown;
    } else if (this.buf.byteOffset !== 0) {
      this.store.copyWithin(0, this.buf.byteOffset, this.buf.byteOffset + used);
    }
    this.store.set(chunk, used);
    this.buf = this.store.subarray(0, need);
  }

  /** The step of the packet at the head of the buffer, or null when it is not complete. */
  private next(): StartupStep | null {
    if (this.buf.byteLength < 8) {
      // A length word that already says "too long" need not wait for the rest.
      if (this.buf.byteLength >= 4) {
        const early = this.checkLength(new DataView(this.buf.buffer, this.buf.byteOffset).getInt32(0));
        if (early) return this.finish(early);
      }
      return null;
    }
    const view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const len = view.getInt32(0);
    const code = view.getInt32(4);
    const bad = this.checkLength(len);
    if (bad) return this.finish(bad);
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      const request = code === SSL_REQUEST_CODE ? "SSLRequest" : "GSSENCRequest";
      if (len !== 8) return this.finish({ kind: "close", reason: `${request} of length ${len} (expected 8)` });
      const already = code === SSL_REQUEST_CODE ? this.sslAnswered : this.gssAnswered;
      if (already) return this.finish({ kind: "close", reason: `a second ${request}` });
      if (code === SSL_REQUEST_CODE) this.sslAnswered = true;
      else this.gssAnswered = true;
      this.buf = this.buf.subarray(8);
      return { kind: "answer-no", request };
    }
    if (code === CANCEL_REQUEST_CODE) return this.finish({ kind: "close", reason: "a CancelRequest (no backend here to cancel)" });
    const major = code >>> 16;
    if (major !== PROTOCOL_MAJOR_3) return this.finish({ kind: "close", reason: `unsupported protocol ${major}.${code & 0xffff}` });
    if (this.buf.byteLength < len) return null;
    return this.finish({ kind: "startup" });
  }

  private checkLength(len: number): StartupStep | null {
    if (len < 8 || len > MAX_STARTUP_PACKET_BYTES)
      return { kind: "close", reason: `invalid startup packet length ${len} (expected 8 to ${MAX_STARTUP_PACKET_BYTES})` };
    return null;
  }

  private finish(step: StartupStep): StartupStep {
    this.done = true;
    this.store = this.buf = new Uint8Array(0);
    return step;
  }
}

// Message type bytes the framing tracker looks at (PostgreSQL's protocol.h).
/** Frontend messages each answered by exactly one ReadyForQuery: Query, Sync, FunctionCall. */
const FE_QUERY = 0x51; // 'Q'
const FE_SYNC = 0x53; // 'S'
const FE_FUNCTION_CALL = 0x46; // 'F'
/** Frontend messages that open nothing: password/SASL, Terminate, and COPY data (inside a Query). */
const FE_PASSWORD = 0x70; // 'p'
const FE_TERMINATE = 0x58; // 'X'
const FE_COPY_DATA = 0x64; // 'd'
const FE_COPY_DONE = 0x63; // 'c'
const FE_COPY_FAIL = 0x66; // 'f'
const BE_READY_FOR_QUERY = 0x5a; // 'Z'
/** ReadyForQuery's status byte: idle (not in a transaction block). */
const TX_IDLE = 0x49; // 'I'
/** The server's one-byte answers to SSLRequest / GSSENCRequest. */
const ANSWER_NO = 0x4e; // 'N'
const ANSWER_ERROR = 0x45; // 'E': a server too old for the request answers with an ErrorResponse

/**
 * Follows the message framing of one forwarded connection, both ways, without copying a byte: a
 * few integer operations per message header, none per body byte (a body is skipped by its
 * length). What for: during a switchover's drain (ProxySpec.hold) the proxy closes a connection
 * at a point where closing it costs the client nothing: `idle` below.
 *
 * The client's stream starts with untyped packets (SSLRequest, GSSENCRequest, then the startup
 * message), then typed messages; the server's starts with one byte per SSLRequest/GSSENCRequest,
 * then typed messages. An accepted SSLRequest or GSSENCRequest ('S' / 'G') makes the rest of
 * the stream encrypted, and anything the tracker does not understand (a length below 4, a
 * CancelRequest, an answer it did not expect, more ReadyForQuery than requests for one) makes
 * the connection `opaque`: it is then never called idle (the proxy waits for it to close).
 *
 * `idle` means: both streams are at a message boundary, every request that is answered by a
 * ReadyForQuery (the startup message, Query, Sync, FunctionCall) has had its answer, no
 * extended-protocol batch is open (Parse/Bind/Execute/Describe/Close/Flush with no Sync after
 * them yet), and the last ReadyForQuery said "idle, not in a transaction". Counting the requests
 * matters: a client that pipelines its next Query before the previous answer arrived is not idle
 * when that answer ends with ReadyForQuery. Asynchronous messages the server may send between
 * queries (NoticeResponse, ParameterStatus, NotificationResponse) do not change the status.
 */
export class PgStreamTracker {
  /** Not understood (or encrypted): never idle. */
  opaque = false;
  /** ReadyForQuery messages seen from the server. */
  readyCount = 0;
  /** Requests answered by a ReadyForQuery that have not had it yet. */
  private pendingReady = 0;
  /** SSLRequest / GSSENCRequest sent whose one-byte answer has not come. */
  private pendingAnswers = 0;
  private openBatch = false;
  private lastStatus = 0;
  /** The client is still in its untyped startup packets. */
  private clientStartup = true;
  // Per direction: `left` body bytes still to skip, `head` header bytes read so far (0 at a
  // boundary), the current message's type and length, and the first body byte (-1: none yet).
  private cLeft = 0;
  private cHead = 0;
  private cType = 0;
  private cLen = 0;
  private sLeft = 0;
  private sHead = 0;
  private sType = 0;
  private sLen = 0;
  private sFirst = -1;

  get idle(): boolean {
    return (
      !this.opaque &&
      this.pendingReady === 0 &&
      !this.openBatch &&
      this.lastStatus === TX_IDLE &&
      this.cLeft === 0 &&
      this.cHead === 0 &&
      this.sLeft === 0 &&
      this.sHead === 0 &&
      this.pendingAnswers === 0
    );
  }

  /** Bytes the client sent (before they are forwarded). */
  client(buf: Uint8Array): void {
    let i = 0;
    const n = buf.length;
    while (i < n && !this.opaque) {
      if (this.cLeft > 0) {
        const take = Math.min(this.cLeft, n - i);
        i += take;
        this.cLeft -= take;
        continue;
      }
      if (this.clientStartup) {
        // int32 length, int32 code: accumulated across chunks in cLen / cType.
        if (this.cHead < 4) this.cLen = ((this.cLen << 8) | buf[i]!) >>> 0;
        else this.cType = ((this.cType << 8) | buf[i]!) >>> 0;
        i++;
        if (++this.cHead === 8) this.startupPacket();
        continue;
      }
      if (this.cHead === 0) {
        this.cType = buf[i++]!;
        this.cLen = 0;
        this.cHead = 1;
        continue;
      }
      this.cLen = ((this.cLen << 8) | buf[i++]!) >>> 0;
      if (++this.cHead === 5) this.clientMessage();
    }
  }

  private startupPacket(): void {
    this.cHead = 0;
    const len = this.cLen;
    const code = this.cType;
    this.cLen = this.cType = 0;
    if ((code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) && len === 8) {
      this.pendingAnswers++;
      return;
    }
    if (code >>> 16 !== PROTOCOL_MAJOR_3 || len < 8 || len > MAX_STARTUP_PACKET_BYTES) {
      this.opaque = true; // a CancelRequest, another protocol, garbage
      return;
    }
    this.clientStartup = false;
    this.pendingReady++;
    this.cLeft = len - 8;
  }

  private clientMessage(): void {
    this.cHead = 0;
    if (this.cLen < 4 || this.cLen > 0x7fffffff) {
      this.opaque = true;
      return;
    }
    this.cLeft = this.cLen - 4;
    const t = this.cType;
    if (t === FE_QUERY || t === FE_SYNC || t === FE_FUNCTION_CALL) {
      this.pendingReady++;
      if (t === FE_SYNC) this.openBatch = false;
    } else if (t !== FE_PASSWORD && t !== FE_TERMINATE && t !== FE_COPY_DATA && t !== FE_COPY_DONE && t !== FE_COPY_FAIL) {
      this.openBatch = true;
    }
  }

  /** Bytes the server sent (before they are forwarded). */
  server(buf: Uint8Array): void {
    let i = 0;
    const n = buf.length;
    while (i < n && !this.opaque) {
      if (this.sLeft === 0 && this.sHead === 0 && this.pendingAnswers === 0) {
        i = this.serverWhole(buf, i, n);
        if (i >= n || this.opaque) return;
      }
      i = this.serverStep(buf, i, n);
    }
  }

  /**
   * The usual case, from a message boundary: the messages that lie whole in this chunk are
   * skipped by their length, with nothing stored but what a ReadyForQuery says. Returns where
   * it stopped: the end of the chunk, or a message that goes on past it (or has a length the
   * step-by-step reader rejects).
   */
  private serverWhole(buf: Uint8Array, i: number, n: number): number {
    while (n - i >= 5) {
      const len = ((buf[i + 1]! << 24) | (buf[i + 2]! << 16) | (buf[i + 3]! << 8) | buf[i + 4]!) >>> 0;
      const end = i + 1 + len;
      if (len < 4 || end > n) return i;
      if (buf[i] === BE_READY_FOR_QUERY) {
        if (len !== 5) {
          this.opaque = true;
          return n;
        }
        this.sType = BE_READY_FOR_QUERY;
        this.sFirst = buf[i + 5]!;
        this.serverMessageEnd();
      }
      i = end;
    }
    return i;
  }

  /** One step of reading a message split across chunks (or a one-byte answer); returns where it stopped. */
  private serverStep(buf: Uint8Array, i: number, n: number): number {
    if (this.sLeft > 0) {
      if (this.sFirst < 0) this.sFirst = buf[i]!;
      const take = Math.min(this.sLeft, n - i);
      if ((this.sLeft -= take) === 0) this.serverMessageEnd();
      return i + take;
    }
    if (this.sHead === 0) {
      if (this.pendingAnswers > 0) {
        this.answer(buf[i]!);
        return i + 1;
      }
      this.sType = buf[i]!;
      this.sLen = 0;
      this.sHead = 1;
      return i + 1;
    }
    this.sLen = ((this.sLen << 8) | buf[i]!) >>> 0;
    if (++this.sHead === 5) this.serverHeader();
    return i + 1;
  }

  private answer(b: number): void {
    if (b === ANSWER_NO) {
      this.pendingAnswers--;
    } else if (b === ANSWER_ERROR) {
      // An ErrorResponse follows in the usual framing; the server closes after it.
      this.pendingAnswers = 0;
      this.sType = b;
      this.sLen = 0;
      this.sHead = 1;
    } else {
      this.opaque = true; // 'S' / 'G': encrypted from here on; anything else: not understood
    }
  }

  private serverHeader(): void {
    this.sHead = 0;
    if (this.sLen < 4 || this.sLen > 0x7fffffff || (this.sType === BE_READY_FOR_QUERY && this.sLen !== 5)) {
      this.opaque = true;
      return;
    }
    this.sFirst = -1;
    this.sLeft = this.sLen - 4;
    if (this.sLeft === 0) this.serverMessageEnd();
  }

  private serverMessageEnd(): void {
    if (this.sType !== BE_READY_FOR_QUERY) return;
    this.readyCount++;
    this.lastStatus = this.sFirst;
    if (--this.pendingReady < 0) this.opaque = true;
  }
}
