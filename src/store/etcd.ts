/**
 * KvBackend over etcd v3 with the `etcd3` package. Library errors are translated here into the
 * store's typed errors, and every unary call is bounded by the store timeout (etcd3 retries and
 * waits for a connection on its own, which would otherwise hang a CLI on an unreachable etcd).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { Etcd3, type IOptions } from "etcd3";
import { describeError, LeaseExpiredError, StoreError, StoreUnavailableError } from "../lib/errors.ts";
import type { KvBackend, KvEntry, PutOptions, WatchEvent } from "./kv.ts";
import { withTimeout } from "../lib/timeout.ts";

export interface EtcdOptions {
  endpoints: string[];
  timeoutMs: number;
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  skipTlsVerify?: boolean;
}

type VerifyOptions = { rejectUnauthorized?: boolean; checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined };

/**
 * Builds the client with TLS verify options of our own. etcd3 makes its grpc credentials itself
 * and has no way to pass them, so for the duration of the constructor the createSsl of the very
 * grpc-js instance etcd3 loads is wrapped to add them.
 */
function withVerifyOptions<T>(verify: VerifyOptions, build: () => T): T {
  const grpc = createRequire(createRequire(import.meta.url).resolve("etcd3"))("@grpc/grpc-js") as {
    credentials: { createSsl: (...args: unknown[]) => unknown };
  };
  const original = grpc.credentials.createSsl;
  grpc.credentials.createSsl = (root?: unknown, key?: unknown, chain?: unknown) =>
    original(root ?? null, key ?? null, chain ?? null, verify);
  try {
    return build();
  } finally {
    grpc.credentials.createSsl = original;
  }
}

/** Placeholder TLS server name for endpoints given by IP address (see the constructor). */
const IP_SERVER_NAME = "etcd.by-ip.invalid";

type KeepAliveStream = {
  stream: Awaited<ReturnType<Etcd3["leaseClient"]["leaseKeepAlive"]>>;
  /** Calls waiting for an answer, per lease id, oldest first. */
  waiting: Map<string, { resolve: (alive: boolean) => void; reject: (err: Error) => void }[]>;
};

/** Fails every call waiting on the stream. */
function rejectWaiting(ka: KeepAliveStream, err: Error): void {
  for (const q of ka.waiting.values()) for (const w of q) w.reject(err);
  ka.waiting.clear();
}

type RawKv = { key: Buffer; value: Buffer; create_revision: string; mod_revision: string; lease: string };

function toEntry(kv: RawKv): KvEntry {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    lease: kv.lease || "0",
  };
}

/** Errors etcd3 raises when the cluster cannot be reached or did not answer in time. */
const UNAVAILABLE = new Set([
  "GRPCUnavailableError",
  "GRPCDeadlineExceededError",
  "GRPCCancelledError",
  "GRPCConnectFailedError",
  "ClientClosedError",
  "BrokenCircuitError",
  "TaskCancelledError",
]);

export class EtcdBackend implements KvBackend {
  readonly description: string;
  private readonly client: Etcd3;
  private readonly timeoutMs: number;

  constructor(opts: EtcdOptions) {
    this.description = `etcd at ${opts.endpoints.join(",")}`;
    this.timeoutMs = opts.timeoutMs;
    const tls = opts.endpoints.some((e) => e.startsWith("https://"));
    const options: IOptions = {
      hosts: opts.endpoints,
      dialTimeout: opts.timeoutMs,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: new Date(Date.now() + opts.timeoutMs) }),
    };
    if (!tls) {
      this.client = new Etcd3(options);
      return;
    }
    if (opts.caFile || opts.keyFile || opts.certFile) {
      options.credentials = {
        // No CA file: null asks grpc for its default roots.
        rootCertificate: opts.caFile ? readFileSync(opts.caFile) : (null as unknown as Buffer),
        ...(opts.keyFile ? { privateKey: readFileSync(opts.keyFile) } : {}),
        ...(opts.certFile ? { certChain: readFileSync(opts.certFile) } : {}),
      };
    }
    const hosts = opts.endpoints.map((e) => new URL(e).hostname.replace(/^\[|\]$/g, ""));
    const verify: VerifyOptions = opts.skipTlsVerify
      ? { rejectUnauthorized: false, checkServerIdentity: () => undefined }
      : {};
    if (hosts.some((h) => isIP(h) !== 0)) {
      // Bun refuses an IP address as the TLS server name (SNI), which grpc-js sets to the host.
      // Send a placeholder name instead, and check the certificate against the endpoints' real
      // hosts ourselves: it must be valid for one of them (they are members of one etcd cluster).
      options.grpcOptions = { "grpc.ssl_target_name_override": IP_SERVER_NAME };
      verify.checkServerIdentity ??= (_name, cert) => {
        const errors = hosts.map((h) => checkServerIdentity(h, cert));
        return errors.some((e) => e === undefined) ? undefined : errors[0];
      };
    }
    this.client = withVerifyOptions(verify, () => new Etcd3(options));
  }

  /** Runs one etcd call bounded by the store timeout, translating its errors. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const timedOut = () => new StoreUnavailableError(`${this.description} did not answer ${what} within ${this.timeoutMs} ms`);
    try {
      return await withTimeout(fn(), this.timeoutMs, timedOut);
    } catch (err) {
      throw this.translate(what, err);
    }
  }

  private translate(what: string, err: unknown): Error {
    if (err instanceof StoreError) return err;
    const name = err instanceof Error ? err.constructor.name : "";
    // grpc's messages carry a status prefix and a trailing "Resolution note"; keep the cause.
    const msg = describeError(err)
      .replace(/^\d+ UNAVAILABLE: /, "")
      .replace(/\s*Resolution note:.*$/s, "")
      .trim();
    if (/lease not found/i.test(msg)) return new LeaseExpiredError(`${this.description}: ${what}: lease not found (expired or revoked)`);
    if (UNAVAILABLE.has(name) || /unavailable|ECONNREFUSED|deadline|No connection established|connect/i.test(msg))
      return new StoreUnavailableError(`${this.description} is unavailable (${what}): ${msg}`, { cause: err });
    return new StoreError("ESTORE", `${this.description} failed ${what}: ${msg}`, { cause: err });
  }

  get(key: string): Promise<KvEntry | null> {
    return this.call(`get ${key}`, async () => {
      const res = await this.client.get(key).exec();
      const kv = res.kvs[0];
      return kv ? toEntry(kv) : null;
    });
  }

  list(prefix: string): Promise<KvEntry[]> {
    return this.call(`list ${prefix}`, async () => {
      const res = await this.client.getAll().prefix(prefix).sort("Key", "Ascend").exec();
      return res.kvs.map(toEntry);
    });
  }

  put(key: string, value: string, opts: PutOptions = {}): Promise<{ ok: boolean; revision: number }> {
    return this.call(`put ${key}`, async () => {
      const put = this.client.put(key).value(value);
      if (opts.lease && opts.lease !== "0") put.lease(opts.lease);
      if (opts.expectModRevision === undefined) {
        const res = await put.exec();
        return { ok: true, revision: Number(res.header.revision) };
      }
      const cmp =
        opts.expectModRevision === 0
          ? this.client.if(key, "Create", "==", 0)
          : this.client.if(key, "Mod", "==", opts.expectModRevision);
      const res = await cmp.then(put).commit();
      return { ok: res.succeeded, revision: Number(res.header.revision) };
    });
  }

  delete(key: string): Promise<void> {
    return this.call(`delete ${key}`, async () => {
      await this.client.delete().key(key).exec();
    });
  }

  grantLease(ttlSeconds: number): Promise<string> {
    return this.call("lease grant", async () => {
      const res = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds });
      return String(res.ID);
    });
  }

  /**
   * Renews a lease over one LeaseKeepAlive stream kept open for the client's life, rather than a
   * stream per call: keepers renew several times a second. etcd answers a stream's requests in
   * order, so each answer settles the oldest call waiting for that lease. A call that times out
   * drops the stream (it may be wedged); the next call opens another.
   */
  keepAlive(lease: string): Promise<boolean> {
    return this.call(`lease keep-alive ${lease}`, async () => {
      const ka = await this.keepAliveStream();
      return new Promise<boolean>((resolve, reject) => {
        const queue = ka.waiting.get(lease) ?? [];
        queue.push({ resolve, reject });
        ka.waiting.set(lease, queue);
        ka.stream.write({ ID: lease });
      });
    }).catch((err) => {
      if (err instanceof StoreUnavailableError) this.dropKeepAliveStream(err);
      throw err;
    });
  }

  private ka: Promise<KeepAliveStream> | null = null;

  private keepAliveStream(): Promise<KeepAliveStream> {
    if (this.ka) return this.ka;
    const current: Promise<KeepAliveStream> = this.client.leaseClient.leaseKeepAlive().then((stream) => {
      const ka: KeepAliveStream = { stream, waiting: new Map() };
      const fail = (err: Error) => {
        if (this.ka === current) this.ka = null;
        rejectWaiting(ka, err);
      };
      stream.on("data", (res) => {
        const id = String(res.ID);
        const q = ka.waiting.get(id);
        const w = q?.shift();
        if (q && q.length === 0) ka.waiting.delete(id);
        w?.resolve(Number(res.TTL) > 0);
      });
      stream.on("error", (err) => fail(err));
      stream.on("end", () => fail(new StoreUnavailableError(`${this.description}: the lease keep-alive stream ended`)));
      return ka;
    });
    this.ka = current;
    current.catch(() => {
      if (this.ka === current) this.ka = null;
    });
    return current;
  }

  private dropKeepAliveStream(err: Error): void {
    const current = this.ka;
    this.ka = null;
    void current?.then((ka) => {
      rejectWaiting(ka, err);
      ka.stream.cancel();
    }, () => {});
  }

  leaseTimeToLive(lease: string): Promise<{ ttlSeconds: number; grantedSeconds: number } | null> {
    return this.call(`lease time-to-live ${lease}`, async () => {
      const res = await this.client.leaseClient.leaseTimeToLive({ ID: lease });
      const ttl = Number(res.TTL);
      // -1: expired or unknown.
      return ttl < 0 ? null : { ttlSeconds: ttl, grantedSeconds: Number((res as { grantedTTL?: string }).grantedTTL ?? 0) };
    });
  }

  revokeLease(lease: string): Promise<void> {
    return this.call(`lease revoke ${lease}`, async () => {
      try {
        await this.client.leaseClient.leaseRevoke({ ID: lease });
      } catch (err) {
        // Revoking a lease that already expired is fine.
        if (err instanceof Error && /lease not found/i.test(err.message)) return;
        throw err;
      }
    });
  }

  watch(prefix: string, onEvent: (e: WatchEvent) => void, onError?: (err: Error) => void): () => void {
    let cancelled = false;
    let watcher: Awaited<ReturnType<ReturnType<Etcd3["watch"]>["create"]>> | undefined;
    void this.client
      .watch()
      .prefix(prefix)
      .create()
      .then((w) => {
        if (cancelled) {
          void w.cancel();
          return;
        }
        watcher = w;
        w.on("put", (kv) => onEvent({ type: "put", key: kv.key.toString(), value: kv.value.toString() }));
        w.on("delete", (kv) => onEvent({ type: "delete", key: kv.key.toString(), value: null }));
        w.on("disconnected", (err) => onError?.(this.translate(`watch ${prefix}`, err)));
        w.on("error", (err) => onError?.(this.translate(`watch ${prefix}`, err)));
      })
      .catch((err) => onError?.(this.translate(`watch ${prefix}`, err)));
    return () => {
      cancelled = true;
      void watcher?.cancel().catch(() => {});
    };
  }

  async close(): Promise<void> {
    this.dropKeepAliveStream(new StoreUnavailableError(`${this.description}: the client is closed`));
    this.client.close();
  }
}
