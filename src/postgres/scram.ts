/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores in pg_authid.rolpassword (RFC 5802, RFC 7677),
 * computed in the keeper so that `CREATE ROLE ... PASSWORD '<verifier>'` never carries the plain
 * password to the server: PostgreSQL stores a string in this format as it is, and logging settings
 * the keeper cannot switch off per statement (log_transaction_sample_rate, log_min_error_statement,
 * debug_print_parse, pgaudit, pg_stat_activity) then show only the verifier.
 *
 *   SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
 *   SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, iterations, 32)
 *   StoredKey      = SHA-256(HMAC(SaltedPassword, "Client Key"))
 *   ServerKey      = HMAC(SaltedPassword, "Server Key")
 *
 * Pure: the caller brings the salt (random, 16 bytes, as PostgreSQL's own).
 */
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";

/** PostgreSQL's scram_iterations default (the parameter only exists from PostgreSQL 16 on). */
export const SCRAM_ITERATIONS = 4096;
/** PostgreSQL's SCRAM_DEFAULT_SALT_LEN. */
export const SCRAM_SALT_BYTES = 16;

/**
 * RFC 3454 B.1 (mapped to nothing) and C.1.2 (non-ASCII spaces, mapped to a space): SASLprep
 * changes a password that contains one of these.
 */
const SASLPREP_MAPPED = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/;

/**
 * Why the keeper cannot compute the verifier PostgreSQL and libpq would, or null when it can.
 *
 * PostgreSQL hashes SASLprep(password) when SASLprep succeeds and the raw bytes otherwise; libpq
 * does the same on the client side. An ASCII password is left as it is, and so is one that is
 * already in NFKC form and holds none of the characters SASLprep maps: for those, the raw UTF-8
 * bytes are exactly what both sides hash, whether SASLprep succeeds or refuses the password.
 * Anything else would need SASLprep's full Unicode 3.2 tables to get right, so it is refused
 * rather than risk a verifier no client can log in with.
 */
export function scramPasswordProblem(password: string): string | null {
  if (/^[\x00-\x7F]*$/.test(password)) return null;
  if (password.normalize("NFKC") !== password || SASLPREP_MAPPED.test(password))
    return "it contains non-ASCII characters that SASLprep would change (not in Unicode NFKC form, or a special space, soft hyphen or zero-width character); write it in NFKC form without those";
  return null;
}

/** The verifier for `password` with this salt (16 random bytes in production). */
export function scramSha256Verifier(password: string, salt: Uint8Array, iterations = SCRAM_ITERATIONS): string {
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`SCRAM iterations must be a positive integer, got ${iterations}`);
  if (salt.length === 0) throw new RangeError("SCRAM salt must not be empty");
  const salted = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  return `SCRAM-SHA-256$${iterations}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}

/** Parts of a verifier string in PostgreSQL's format, or null when it is not one. */
export function parseScramVerifier(v: string): { iterations: number; salt: Buffer; storedKey: Buffer; serverKey: Buffer } | null {
  const m = /^SCRAM-SHA-256\$(\d{1,9}):([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$/.exec(v);
  if (!m) return null;
  const storedKey = Buffer.from(m[3]!, "base64");
  const serverKey = Buffer.from(m[4]!, "base64");
  if (storedKey.length !== 32 || serverKey.length !== 32) return null;
  return { iterations: Number(m[1]), salt: Buffer.from(m[2]!, "base64"), storedKey, serverKey };
}
