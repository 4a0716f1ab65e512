/**
 * The proxy process: follows the cluster view and drives the Forwarder.
 *
 * A check reads the cluster data, applies the route (a change cuts every connection at once) and
 * only then publishes ProxyInfo with the generation it applied: the acknowledgement the sentinel's
 * barrier waits for therefore always means "my old connections are gone". Checks run on every
 * change of the cluster data (watch) and every proxyCheckInterval.
 *
 * Self-fencing: when no check has succeeded for proxyTimeout (store unreachable, info not
 * published, unusable cluster data), every connection is cut and, with --stop-listening, the
 * listener closed; it opens again after the next successful check. A proxy started while the
 * store is down never listens.
 */
import { DEFAULT_SPEC_TIMINGS, FENCE_CHECK_MS, proxyInfoTtlMs, proxyRoute, specTimings, type ClusterData } from "../cluster/index.ts";
import type { Clock } from "../lib/clock.ts";
import { ClusterDataError, describeError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { Trigger } from "../lib/trigger.ts";
import type { Store } from "../store/store.ts";
import type { ProxyConfig } from "./config.ts";
import { Forwarder } from "./forwarder.ts";

export class Proxy {
  readonly forwarder: Forwarder;
  // Until a spec is read, the default spec's: the first info advertises the default proxyTimeout.
  private checkIntervalMs = DEFAULT_SPEC_TIMINGS.proxyCheckIntervalMs;
  private timeoutMs = DEFAULT_SPEC_TIMINGS.proxyTimeoutMs;
  private lastSuccess: number;
  private fenced = false;
  private lastReason = "";
  private lastError = "";

  constructor(
    private readonly uid: string,
    private readonly cfg: ProxyConfig,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly newUid: () => string,
  ) {
    this.forwarder = new Forwarder({
      hostname: cfg.listenAddress,
      port: cfg.port,
      holdMs: cfg.holdMs,
      keepAliveIdleMs: cfg.keepAliveIdleMs,
      maxConnections: cfg.maxConnections,
      maxHeld: cfg.maxHeld,
      log,
    });
    // Not listening yet: the first successful check opens the listener.
    this.lastSuccess = clock.now();
  }

  async run(signal: AbortSignal): Promise<void> {
    const trigger = new Trigger();
    const key = `${this.store.basePath}/clusterdata`;
    const unwatch = this.store.watch(
      (k) => {
        if (k === key) trigger.fire();
      },
      (err) => this.log.debug(`watch: ${describeError(err)}`),
    );
    const fence = setInterval(() => this.fenceIfStale(), FENCE_CHECK_MS);
    try {
      while (!signal.aborted) {
        await this.check();
        await trigger.wait(this.checkIntervalMs, signal);
      }
    } finally {
      clearInterval(fence);
      unwatch();
      this.forwarder.stopListening();
      this.forwarder.cutAll();
      // Nothing routes any more: the sentinel need not wait for this proxy's info to go stale
      // before it routes to a new master.
      await this.store.deleteProxyInfo(this.uid).catch((err) => this.log.debug(`cannot delete the proxy info: ${describeError(err)}`));
    }
  }

  private fenceIfStale(): void {
    if (this.fenced || this.clock.now() - this.lastSuccess <= this.timeoutMs) return;
    this.fenced = true;
    this.forwarder.setTarget(null);
    this.forwarder.cutAll();
    if (this.cfg.stopListening && this.forwarder.listening) this.forwarder.stopListening();
    this.log.warn(
      `no successful check for ${this.timeoutMs} ms (proxyTimeout): every connection closed${this.cfg.stopListening ? " and listener stopped" : ""}`,
    );
  }

  /** One check; never throws. */
  async check(): Promise<void> {
    try {
      await this.checkOnce();
      this.lastError = "";
    } catch (err) {
      const msg = describeError(err);
      if (msg !== this.lastError) this.log.warn(`check failed: ${msg}`);
      this.lastError = msg;
    }
  }

  private async checkOnce(): Promise<void> {
    // proxyTimeout counts from the start of the last successful check: earlier than the info
    // write the sentinel sees, as its PROXY_SILENT_MARGIN_MS argument needs.
    const started = this.clock.now();
    let cd: ClusterData | null;
    try {
      cd = (await this.store.getClusterData())?.clusterData ?? null;
    } catch (err) {
      if (err instanceof ClusterDataError) {
        // Unusable data means no target, and the check fails: a proxy must not route on garbage.
        this.forwarder.setTarget(null);
        throw new Error(`the cluster data cannot be used: ${err.message}`);
      }
      throw err;
    }
    if (!this.forwarder.listening) {
      try {
        this.forwarder.listen();
        this.log.info(
          `listening on ${this.cfg.listenAddress}:${this.cfg.port} (at most ${this.cfg.maxConnections} clients, ${Math.min(this.cfg.maxHeld, this.cfg.maxConnections)} of them waiting for a master)`,
        );
      } catch (err) {
        throw new Error(`cannot listen on ${this.cfg.listenAddress}:${this.cfg.port}: ${describeError(err)}`);
      }
    }
    const route = proxyRoute(cd, this.uid);
    if (this.forwarder.setTarget(route.target)) {
      this.log.info(route.target ? `routing to master db ${route.target.dbUid} at ${route.target.host}:${route.target.port}` : `not routing: ${route.reason}`);
    } else if (!route.target && route.reason !== this.lastReason) {
      this.log.info(`not routing: ${route.reason}`);
    }
    this.lastReason = route.reason;
    if (!cd) {
      this.succeeded(started);
      return;
    }
    const t = specTimings(cd.cluster.spec);
    const timeoutMs = Math.max(this.timeoutMs, t.proxyTimeoutMs);
    await this.store.setProxyInfo(
      { infoUID: this.newUid(), UID: this.uid, Generation: route.generation, ProxyTimeout: timeoutMs * 1e6 },
      proxyInfoTtlMs(timeoutMs),
    );
    // New timings only once the sentinel can see them.
    this.checkIntervalMs = t.proxyCheckIntervalMs;
    this.timeoutMs = t.proxyTimeoutMs;
    this.succeeded(started);
  }

  private succeeded(started: number): void {
    this.lastSuccess = started;
    if (this.fenced) {
      this.fenced = false;
      this.log.info("the store answers again");
    }
  }
}
