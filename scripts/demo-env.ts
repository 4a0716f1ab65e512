/**
 * The demo's env file, <dir>/env.sh: what a shell needs to use the demo's cluster with bare
 * commands. `. <dir>/env.sh` puts the checkout's cmd/bin on the PATH (stolonctl without bun or
 * npx), gives stolonctl the cluster's flags through its STOLONCTL_* variables, and points psql at
 * the proxy (PG* variables and a 0600 pgpass file holding the superuser's password, so no prompt).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface DemoEnv {
  /** The demo dir: env.sh and pgpass are written there. */
  dir: string;
  /** The checkout whose cmd/bin goes on the PATH. */
  checkout: string;
  clusterName: string;
  storeBackend: string;
  storeEndpoints: string;
  /** The proxy: where psql connects. */
  pgHost: string;
  pgPort: number;
  pgUser: string;
  pgDatabase: string;
  pgPassword: string;
}

/** `s` as one shell word in single quotes ('it'"'"'s' style for a quote inside). */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'"'"'`)}'`;
}

/** A word as the shell reads it: bare when it has no special character, else shellQuote'd. */
export function shellWord(s: string): string {
  return /^[\w/.:,=@%+-]+$/.test(s) ? s : shellQuote(s);
}

/** A pgpass field: `:` and `\` are escaped with a backslash. */
function pgpassField(s: string): string {
  return s.replace(/[\\:]/g, (c) => `\\${c}`);
}

export function envFilePath(dir: string): string {
  return join(dir, "env.sh");
}

/** The pgpass line for the proxy and the superuser. */
export function renderPgpass(e: DemoEnv): string {
  return `${[e.pgHost, String(e.pgPort), "*", e.pgUser, e.pgPassword].map(pgpassField).join(":")}\n`;
}

/** The text of env.sh. */
export function renderEnvFile(e: DemoEnv): string {
  const vars: [string, string][] = [
    ["STOLONCTL_CLUSTER_NAME", e.clusterName],
    ["STOLONCTL_STORE_BACKEND", e.storeBackend],
    ["STOLONCTL_STORE_ENDPOINTS", e.storeEndpoints],
    ["PGHOST", e.pgHost],
    ["PGPORT", String(e.pgPort)],
    ["PGUSER", e.pgUser],
    ["PGDATABASE", e.pgDatabase],
    ["PGPASSFILE", join(e.dir, "pgpass")],
  ];
  return [
    `# Written by the stolon demo (npm run demo, scripts/demo.ts in ${e.checkout}) for its cluster "${e.clusterName}".`,
    "# Load it into your shell, then run stolonctl and psql bare:",
    `#   . ${shellWord(envFilePath(e.dir))}`,
    "# stolonctl from the checkout's cmd/bin; its cluster flags; psql to the proxy, password from PGPASSFILE.",
    `export PATH=${shellQuote(join(e.checkout, "cmd", "bin"))}":$PATH"`,
    ...vars.map(([k, v]) => `export ${k}=${shellQuote(v)}`),
    "",
  ].join("\n");
}

/** Writes <dir>/env.sh and <dir>/pgpass (mode 600, as libpq requires); returns the env file's path. */
export function writeDemoEnv(e: DemoEnv): string {
  writeFileSync(join(e.dir, "pgpass"), renderPgpass(e), { mode: 0o600 });
  const path = envFilePath(e.dir);
  writeFileSync(path, renderEnvFile(e), { mode: 0o644 });
  return path;
}
