#!/usr/bin/env node
// One idempotent setup step, run first by `npm test` and `npm run demo`. Plain Node.js, no
// dependencies: it runs before Bun and node_modules exist.
//  1. node_modules (Bun included, through npm) when missing or stale;
//  2. etcd and PostgreSQL 15 from Debian's packages when missing: installed with apt when running
//     as root, otherwise it says exactly what to install and fails.
// It takes well under a second when everything is already there. With --node-only (npm run build)
// it stops after step 1: building needs Bun, not etcd or PostgreSQL.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const started = Date.now();
const log = (msg) => console.log(`setup: ${msg}`);

const PG_BIN_DIR = "/usr/lib/postgresql/15/bin";
const PG_TOOLS = ["initdb", "postgres", "pg_ctl", "pg_basebackup", "pg_rewind", "pg_controldata", "psql"];

function onPath(name) {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/bin", "/usr/sbin", "/usr/local/bin"])) {
    if (dir && existsSync(join(dir, name))) return true;
  }
  return false;
}

function run(cmd, args, opts = {}) {
  log(`running: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.status !== 0) {
    console.error(`setup: "${cmd} ${args.join(" ")}" failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

// --- 1. node_modules -------------------------------------------------------------------------
function depsStamp() {
  const h = createHash("sha256");
  for (const f of ["package.json", "package-lock.json"]) {
    if (existsSync(join(root, f))) h.update(readFileSync(join(root, f)));
  }
  return h.digest("hex");
}

function bunWorks() {
  const bin = join(root, "node_modules/.bin/bun");
  if (!existsSync(bin)) return false;
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return r.status === 0 && /^\d+\.\d+/.test(r.stdout ?? "");
}

const stampFile = join(root, "node_modules/.stolon-setup-stamp");
const stamp = depsStamp();
const upToDate = existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp && bunWorks();
if (!upToDate) {
  const lock = existsSync(join(root, "package-lock.json"));
  run("npm", [lock ? "ci" : "install", "--no-audit", "--no-fund"]);
  if (!bunWorks() && existsSync(join(root, "node_modules/bun/install.js"))) {
    // The bun package's postinstall puts the real binary in place; repair it if it did not run.
    run("node", ["install.js"], { cwd: join(root, "node_modules/bun") });
  }
  if (!bunWorks()) {
    console.error("setup: node_modules/.bin/bun does not run after npm install; see the npm output above");
    process.exit(1);
  }
  writeFileSync(stampFile, stamp);
}

if (process.argv.includes("--node-only")) {
  log(`node_modules ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  process.exit(0);
}

// --- 2. etcd and PostgreSQL 15 -----------------------------------------------------------------
const missing = [];
if (!onPath("etcd")) missing.push({ what: "etcd", pkg: "etcd-server" });
if (!onPath("etcdctl")) missing.push({ what: "etcdctl", pkg: "etcd-client" });
const pgMissing = PG_TOOLS.filter((t) => !existsSync(join(PG_BIN_DIR, t)));
if (pgMissing.length > 0) missing.push({ what: `PostgreSQL 15 (${pgMissing.join(", ")})`, pkg: "postgresql-15" });

if (missing.length > 0) {
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot) {
    console.error(`setup: missing ${missing.map((m) => m.what).join(", ")}.`);
    console.error(`setup: install them with:  sudo apt-get update && sudo apt-get install -y ${pkgs.join(" ")}`);
    process.exit(1);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  run("apt-get", ["update"], { env });
  run("apt-get", ["install", "-y", "--no-install-recommends", ...pkgs], { env });
}

let versions = "";
try {
  const bun = execFileSync(join(root, "node_modules/.bin/bun"), ["--version"], { encoding: "utf8" }).trim();
  const pg = execFileSync(join(PG_BIN_DIR, "postgres"), ["--version"], { encoding: "utf8" }).trim();
  const etcd = execFileSync("etcd", ["--version"], { encoding: "utf8" }).split("\n")[0]?.trim();
  versions = ` (bun ${bun}; ${pg}; ${etcd})`;
} catch (err) {
  console.error(`setup: a tool does not run after installing: ${err.message}`);
  process.exit(1);
}
log(`ready in ${((Date.now() - started) / 1000).toFixed(1)}s${versions}`);
