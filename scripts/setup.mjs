#!/usr/bin/env node
// One idempotent setup step, run first by `npm test` and `npm run demo`. Plain Node.js, no
// dependencies: it runs before Bun and node_modules exist.
//  1. node_modules (Bun included, through npm) when missing or stale;
//  2. etcd, PostgreSQL 15, promtool (package prometheus), HAProxy and pgBackRest from Debian's
//     packages when missing: installed with apt when running as root, otherwise it says exactly what to install
//     and fails. The tests run their own etcd, PostgreSQL and HAProxy on free ports, so no
//     package's service is started by the install, and the Prometheus server that comes with
//     promtool is disabled (it would listen on :9090).
// It takes well under a second when everything is already there. With --node-only (npm run build)
// it stops after step 1: building needs Bun, not etcd or PostgreSQL.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, lstatSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
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
// npm ci empties node_modules before installing, and through a symbolic link it empties the
// directory linked to: another checkout's (git worktrees sharing one node_modules), under
// whoever is using it. Never do that; a link whose Bun runs is used as it is.
const modules = join(root, "node_modules");
if (!upToDate && existsSync(modules) && lstatSync(modules).isSymbolicLink()) {
  const target = realpathSync(modules);
  if (!bunWorks()) {
    console.error(`setup: node_modules is a link to ${target} and is not usable; run "npm ci" in the checkout that owns it (npm ci through a link would empty it)`);
    process.exit(1);
  }
  log(`node_modules is a link to ${target}: used as it is (not reinstalled through the link)`);
} else if (!upToDate) {
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

// --- 2. etcd, PostgreSQL 15, promtool, HAProxy and pgBackRest ---------------------------------------------
const missing = [];
if (!onPath("etcd")) missing.push({ what: "etcd", pkg: "etcd-server" });
if (!onPath("etcdctl")) missing.push({ what: "etcdctl", pkg: "etcd-client" });
const pgMissing = PG_TOOLS.filter((t) => !existsSync(join(PG_BIN_DIR, t)));
if (pgMissing.length > 0) missing.push({ what: `PostgreSQL 15 (${pgMissing.join(", ")})`, pkg: "postgresql-15" });
// promtool checks our metrics and the monitoring kit; HAProxy is the load balancer of the
// Patroni-style health check test.
if (!onPath("promtool")) missing.push({ what: "promtool", pkg: "prometheus" });
if (!onPath("haproxy")) missing.push({ what: "haproxy", pkg: "haproxy" });
// pgBackRest: the backup recipe's tool (WAL archiving, backups, pitr restores) and its tests.
if (!onPath("pgbackrest")) missing.push({ what: "pgbackrest", pkg: "pgbackrest" });
// ip and unshare: the docs test runs the README's commands in namespaces of its own (lo up).
if (!onPath("ip")) missing.push({ what: "ip", pkg: "iproute2" });
if (!onPath("unshare")) missing.push({ what: "unshare", pkg: "util-linux" });

// Debian's way to keep maintainer scripts from starting services: a policy-rc.d that answers
// 101 (action forbidden), honoured by invoke-rc.d and deb-systemd-invoke. Put in place only for
// our apt-get, and only when the machine has none of its own (containers often do).
const POLICY_RC_D = "/usr/sbin/policy-rc.d";
function withoutServiceStarts(fn) {
  if (existsSync(POLICY_RC_D)) return fn();
  const remove = () => rmSync(POLICY_RC_D, { force: true });
  // run() exits the process when apt-get fails, which skips finally: remove it on exit too, or
  // it would keep every service of the machine from starting.
  process.once("exit", remove);
  writeFileSync(POLICY_RC_D, "#!/bin/sh\n# Written by stolon-bun's scripts/setup.mjs for the length of one apt-get.\nexit 101\n");
  chmodSync(POLICY_RC_D, 0o755);
  try {
    return fn();
  } finally {
    remove();
    process.removeListener("exit", remove);
  }
}

// The prometheus package is a server as well as promtool: enabled at boot and, without a
// policy-rc.d, started at once on :9090. We want the tool only; a server already there before
// this run is the operator's and is left alone.
function disablePackagedPrometheus() {
  const quiet = { stdio: "ignore" };
  if (existsSync("/run/systemd/system")) spawnSync("systemctl", ["disable", "--now", "prometheus.service"], quiet);
  else if (existsSync("/etc/init.d/prometheus")) {
    spawnSync("/etc/init.d/prometheus", ["stop"], quiet);
    spawnSync("update-rc.d", ["prometheus", "disable"], quiet);
  }
  const running = spawnSync("pgrep", ["-x", "prometheus"], { encoding: "utf8" });
  if (running.status === 0)
    console.error(`setup: a Prometheus server still runs (pid ${running.stdout.trim().split("\n").join(", ")}) and may hold port 9090; stop it if the tests need that port`);
  else log("the prometheus package's server is disabled and not running (only promtool is used)");
}

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
  withoutServiceStarts(() => run("apt-get", ["install", "-y", "--no-install-recommends", ...pkgs], { env }));
  if (pkgs.includes("prometheus")) disablePackagedPrometheus();
}

let versions = "";
try {
  const bun = execFileSync(join(root, "node_modules/.bin/bun"), ["--version"], { encoding: "utf8" }).trim();
  const pg = execFileSync(join(PG_BIN_DIR, "postgres"), ["--version"], { encoding: "utf8" }).trim();
  const etcd = execFileSync("etcd", ["--version"], { encoding: "utf8" }).split("\n")[0]?.trim();
  const promtool = execFileSync("promtool", ["--version"], { encoding: "utf8" }).split(" (")[0]?.trim();
  const haproxy = execFileSync("haproxy", ["-v"], { encoding: "utf8", env: { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin` } }).split(" - ")[0]?.trim();
  const pgbackrest = execFileSync("pgbackrest", ["version"], { encoding: "utf8" }).trim();
  versions = ` (bun ${bun}; ${pg}; ${etcd}; ${promtool}; ${haproxy}; ${pgbackrest})`;
} catch (err) {
  console.error(`setup: a tool does not run after installing: ${err.message}`);
  process.exit(1);
}
log(`ready in ${((Date.now() - started) / 1000).toFixed(1)}s${versions}`);
