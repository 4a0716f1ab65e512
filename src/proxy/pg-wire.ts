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
