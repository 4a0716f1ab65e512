/** Client-side PostgreSQL packets and an ErrorResponse parser, for the proxy's tests. */
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, SSL_REQUEST_CODE } from "../../../src/proxy/pg-wire.ts";

/** A packet without a type byte: int32 length (counting itself), int32 code, then `rest`. */
export function packet(code: number, rest: Uint8Array = new Uint8Array(0), len = 8 + rest.byteLength): Uint8Array {
  const out = new Uint8Array(8 + rest.byteLength);
  const v = new DataView(out.buffer);
  v.setInt32(0, len);
  v.setInt32(4, code);
  out.set(rest, 8);
  return out;
}

export const sslRequest = () => packet(SSL_REQUEST_CODE);
export const gssRequest = () => packet(GSSENC_REQUEST_CODE);
export const cancelRequest = () => packet(CANCEL_REQUEST_CODE, new Uint8Array(8));
/** A protocol 3.0 StartupMessage as libpq sends it. */
export const startupMessage = (params: Record<string, string> = { user: "app", database: "db" }) =>
  packet(3 << 16, new TextEncoder().encode(`${Object.entries(params).map(([k, v]) => `${k}\0${v}\0`).join("")}\0`));

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export interface ParsedError {
  type: string;
  len: number;
  fields: Record<string, string>;
  /** Bytes after the message (none expected). */
  trailing: number;
}

/** Parses an ErrorResponse the way a driver does: type byte, length, then tag + cstring fields. */
export function parseErrorResponse(b: Uint8Array): ParsedError {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fields: Record<string, string> = {};
  let at = 5;
  while (at < b.byteLength && b[at] !== 0) {
    const tag = String.fromCharCode(b[at]!);
    const end = b.indexOf(0, at + 1);
    if (end < 0) throw new Error("unterminated field");
    fields[tag] = new TextDecoder().decode(b.subarray(at + 1, end));
    at = end + 1;
  }
  return { type: String.fromCharCode(b[0]!), len: v.getInt32(1), fields, trailing: b.byteLength - at - 1 };
}

/** A typed message (either direction): type byte, int32 length counting itself, body. */
export function msg(type: string, body: Uint8Array | string = new Uint8Array(0)): Uint8Array {
  const b = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const out = new Uint8Array(5 + b.byteLength);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, 4 + b.byteLength);
  out.set(b, 5);
  return out;
}

/** ReadyForQuery with a status: "I" idle, "T" in a transaction, "E" in a failed one. */
export const ready = (status: "I" | "T" | "E") => msg("Z", status);
/** What a server sends after a trusted startup: AuthenticationOk, a ParameterStatus, BackendKeyData, ReadyForQuery(I). */
export const startupDone = () =>
  concat(msg("R", new Uint8Array(4)), msg("S", "client_encoding\0UTF8\0"), msg("K", new Uint8Array(8)), ready("I"));
/** A simple Query message. */
export const query = (sql: string) => msg("Q", `${sql}\0`);
/** RowDescription-free answer to a command: CommandComplete then ReadyForQuery. */
export const commandDone = (tag: string, status: "I" | "T" | "E") => concat(msg("C", `${tag}\0`), ready(status));
