/**
 * Test harness: a real etcd on free loopback ports in a temp dir, owned by the test and torn down
 * (process killed, dir removed) in teardown. In CI a missing etcd binary is a failure, not a skip.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { afterAll, beforeAll } from "bun:test";
import { EtcdBackend, KvStore } from "../../../src/store/index.ts";

/**
 * Every process the harness started. A test that forgets (or fails before) its teardown still
 * leaves nothing running: whatever is left is killed, and every registered cleanup run, after the
 * first test file that loads this module and, for the files after it (Bun loads a module once per
 * run), after the whole run (test/preload.ts).
 */
const owned = new Map<Subprocess, string | null>();
const cleanups: (() => void | Promise<void>)[] = [];
export async function cleanUpHarness(): Promise<void> {
  for (const p of owned.keys()) p.kill("SIGKILL");
  await Promise.all([...owned.keys()].map((p) => p.exited));
  for (const dir of owned.values()) if (dir) rmSync(dir, { recursive: true, force: true });
  owned.clear();
  for (const f of cleanups.splice(0)) await f();
}
afterAll(cleanUpHarness);

/** Registers a process (and optionally a dir to remove) to be killed after the file's last test. */
export function own(proc: Subprocess, dir: string | null = null): void {
  owned.set(proc, dir);
}
export function disown(proc: Subprocess): void {
  owned.delete(proc);
}
/** Runs `f` after the file's last test, after every owned process is gone. */
export function atEnd(f: () => void | Promise<void>): void {
  cleanups.push(f);
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Finds a binary on PATH or in the usual Debian places; throws a clear error when missing. */
export function findBinary(name: string, extraDirs: string[] = []): string {
  for (const dir of [...extraDirs, ...(process.env.PATH ?? "").split(":"), "/usr/bin", "/usr/local/bin"]) {
    if (!dir) continue;
    const p = join(dir, name);
    if (Bun.file(p).size > 0) return p;
  }
  throw new Error(`${name} not found: run "npm run setup" (as root it installs etcd and PostgreSQL 15 with apt)`);
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v as T;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ""}`);
    await Bun.sleep(intervalMs);
  }
}

export interface EtcdTls {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/**
 * A throwaway CA with a server certificate for `serverName` (a SAN; "IP:127.0.0.1" or
 * "DNS:elsewhere.invalid") and a client certificate, made with openssl in `dir`.
 */
export function makeTlsFiles(dir: string, serverName: string): EtcdTls {
  const f = (n: string) => join(dir, n);
  const run = (args: string[]) => {
    const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString()}`);
  };
  run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca", "-keyout", f("ca.key"), "-out", f("ca.crt")]);
  for (const [name, san, usage] of [
    ["server", serverName, "serverAuth"],
    ["client", "DNS:client", "clientAuth"],
  ] as const) {
    run(["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`)]);
    writeFileSync(f(`${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`);
    run(["x509", "-req", "-in", f(`${name}.csr`), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", f(`${name}.ext`), "-out", f(`${name}.crt`)]);
  }
  return { ca: f("ca.crt"), serverCert: f("server.crt"), serverKey: f("server.key"), clientCert: f("client.crt"), clientKey: f("client.key") };
}

export class EtcdProcess {
  private constructor(
    readonly endpoint: string,
    readonly dataDir: string,
    private readonly proc: Subprocess,
  ) {}

  /** Starts etcd; with `tls`, clients must use https and present a certificate signed by the CA. */
  static async start(opts: { tls?: EtcdTls } = {}): Promise<EtcdProcess> {
    const bin = findBinary("etcd");
    const dataDir = mkdtempSync(join(tmpdir(), "stolon-test-etcd-"));
    const tls = opts.tls;
    const tlsArgs = tls
      ? ["--cert-file", tls.serverCert, "--key-file", tls.serverKey, "--client-cert-auth", "--trusted-ca-file", tls.ca]
      : [];
    for (let attempt = 1; ; attempt++) {
      const client = freePort();
      const peer = freePort();
      const clientUrl = `${tls ? "https" : "http"}://127.0.0.1:${client}`;
      const peerUrl = `http://127.0.0.1:${peer}`;
      const proc = Bun.spawn(
        [
          bin,
          "--name", "n1",
          "--data-dir", join(dataDir, `data${attempt}`),
          "--listen-client-urls", clientUrl,
          "--advertise-client-urls", clientUrl,
          "--listen-peer-urls", peerUrl,
          "--initial-advertise-peer-urls", peerUrl,
          "--initial-cluster", `n1=${peerUrl}`,
          "--log-level", "error",
          "--logger", "zap",
          ...tlsArgs,
        ],
        { stdout: "ignore", stderr: "pipe" },
      );
      owned.set(proc, dataDir);
      const e = new EtcdProcess(clientUrl, dataDir, proc);
      try {
        await waitFor("etcd health", async () => {
          if (proc.exitCode !== null) throw new Error(`etcd exited with code ${proc.exitCode}`);
          const r = await fetch(`${clientUrl}/health`, {
            tls: tls ? { rejectUnauthorized: false, cert: Bun.file(tls.clientCert), key: Bun.file(tls.clientKey) } : undefined,
          }).catch(() => null);
          return r?.ok ? (((await r.json()) as { health?: string }).health === "true") : false;
        }, 15_000);
        return e;
      } catch (err) {
        await e.stopProcess();
        // A port taken between freePort() and etcd's bind: try other ports.
        if (attempt >= 3) {
          rmSync(dataDir, { recursive: true, force: true });
          throw err;
        }
      }
    }
  }

  private async stopProcess(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 10_000);
    await this.proc.exited;
    clearTimeout(timer);
  }

  /** SIGSTOP: etcd stops answering (requests time out) without closing anything. */
  freeze(): void {
    this.proc.kill("SIGSTOP");
  }

  thaw(): void {
    this.proc.kill("SIGCONT");
  }

  async stop(): Promise<void> {
    this.thaw();
    await this.stopProcess();
    owned.delete(this.proc);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one of our entry points (cmd/<name>.ts) as a real process with Bun. */
export async function runCmd(
  name: "stolonctl" | "keeper" | "sentinel" | "proxy",
  args: string[],
  opts: { stdin?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "../../../cmd", `${name}.ts`), ...args], {
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...opts.env },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** A file's etcd and a store client on it, set in beforeAll; `flags()` are the daemons' store flags. */
export interface FileEtcd {
  etcd: EtcdProcess;
  store: KvStore;
  flags(): string[];
}

/** One etcd (and store client for cluster `clusterName`) for a test file, started before its tests, stopped after. */
export function etcdForFile(clusterName = "c1"): FileEtcd {
  const f = {
    flags: () => ["--cluster-name", clusterName, "--store-backend", "etcdv3", "--store-endpoints", f.etcd.endpoint],
  } as FileEtcd;
  beforeAll(async () => {
    f.etcd = await EtcdProcess.start();
    f.store = new KvStore(new EtcdBackend({ endpoints: [f.etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName });
  });
  afterAll(async () => {
    await f.store?.close();
    await f.etcd?.stop();
  });
  return f;
}
