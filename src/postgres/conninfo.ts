/**
 * libpq connection strings and password files. Pure.
 *
 * A conninfo value is written single-quoted with `\` and `'` escaped by a backslash (libpq's
 * rules), so a hostile host or user name cannot add keywords. Passwords are never put in a
 * conninfo: libpq reads them from a passfile (see renderPgpass), so argv and logs stay clean.
 */

/** Keys in the order they are written; anything else is rejected so a typo cannot pass silently. */
const KEYS = [
  "host", "port", "user", "dbname", "application_name", "sslmode", "passfile", "options",
  "connect_timeout", "replication", "target_session_attrs",
] as const;
export type ConninfoKey = (typeof KEYS)[number];
export type Conninfo = Partial<Record<ConninfoKey, string>>;

export function escapeConninfoValue(v: string): string {
  return `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export function renderConninfo(ci: Conninfo): string {
  const parts: string[] = [];
  for (const k of KEYS) {
    const v = ci[k];
    if (v !== undefined) parts.push(`${k}=${escapeConninfoValue(v)}`);
  }
  return parts.join(" ");
}

/**
 * Parses a conninfo in key=value form (the form renderConninfo writes and PostgreSQL shows), so
 * the keeper can compare what a standby is configured with against what it wants.
 */
export function parseConninfo(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const n = s.length;
  const skipWs = () => {
    while (i < n && /\s/.test(s[i]!)) i++;
  };
  while (true) {
    skipWs();
    if (i >= n) break;
    const keyStart = i;
    while (i < n && /[A-Za-z0-9_]/.test(s[i]!)) i++;
    const key = s.slice(keyStart, i);
    skipWs();
    if (key === "" || s[i] !== "=") throw new Error(`invalid conninfo near position ${keyStart}`);
    i++;
    skipWs();
    let value = "";
    if (s[i] === "'") {
      i++;
      let closed = false;
      while (i < n) {
        const c = s[i]!;
        if (c === "\\" && i + 1 < n) {
          value += s[i + 1];
          i += 2;
        } else if (c === "'") {
          i++;
          closed = true;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) throw new Error("invalid conninfo: unterminated quoted value");
    } else {
      while (i < n && !/\s/.test(s[i]!)) {
        if (s[i] === "\\" && i + 1 < n) i++;
        value += s[i];
        i++;
      }
    }
    out[key] = value;
  }
  return out;
}

/** One pgpass line: host:port:database:user:password, with `\` and `:` escaped. */
export function renderPgpassLine(e: { host: string; port: string; database: string; user: string; password: string }): string {
  const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/:/g, "\\:");
  return [e.host, e.port, e.database, e.user, e.password].map(esc).join(":");
}
