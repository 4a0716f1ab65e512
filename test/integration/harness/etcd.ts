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
import { freePort, waitFor } from "../../harness/util.ts";
import { disown, findBinary, own } from "./process.ts";

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
      own(proc, dataDir);
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
    disown(this.proc);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * A file's etcd and a store client on it, set in beforeAll; `kv` is the store's backend, for a
 * test that reads or writes keys itself; `flags()` are the daemons' store flags.
 */
export interface FileEtcd {
  etcd: EtcdProcess;
  store: KvStore;
  kv: EtcdBackend;
  flags(): string[];
}

/** One etcd (and store client for cluster `clusterName`) for a test file, started before its tests, stopped after. */
export function etcdForFile(clusterName = "c1"): FileEtcd {
  const f = {
    flags: () => ["--cluster-name", clusterName, "--store-backend", "etcdv3", "--store-endpoints", f.etcd.endpoint],
  } as FileEtcd;
  beforeAll(async () => {
    f.etcd = await EtcdProcess.start();
    f.kv = new EtcdBackend({ endpoints: [f.etcd.endpoint], timeoutMs: 5000 });
    f.store = new KvStore(f.kv, { prefix: "stolon/cluster", clusterName });
  });
  afterAll(async () => {
    await f.store?.close();
    await f.etcd?.stop();
  });
  return f;
}
