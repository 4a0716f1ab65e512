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
 *
 * A switchover's hold (ProxySpec.hold) is applied in the same check, after the route: the
 * Forwarder drains (see forwarder.ts), and the info says `drained: <hold id>` once no connection
 * open when the hold began is left; the Forwarder's onDrained wakes the check loop so that info
 * is published at once rather than at the next proxyCheckInterval.
 *
 * Two loops (src/lib/run-loop.ts), both on the injected clock: `check` (watch-woken, every
 * proxyCheckInterval) and `fence` (every FENCE_CHECK_MS: cheap, it only compares two numbers).
 *
 * With --read-only-port, a ReadOnlyPort (read-only-port.ts) adds a second listener and its own
 * `read-only` loop; it listens only while this side does and is fenced with it. A read-only
 * listener that cannot bind is logged and tried again at the next check: it never fences the
 * read-write side.
 */
import { DEFAULT_SPEC_TIMINGS, FENCE_CHECK_MS, proxyInfoTtlMs, proxyRoute, specTimings, type ClusterData } from "../cluster/index.ts";
import type { Clock } from "../lib/clock.ts";
import { ClusterDataError, describeError } from "../lib/errors.ts";
import { loopsLive, type Check, type Component, type HealthReport } from "../lib/health.ts";
import type { Logger } from "../lib/log.ts";
import { Loop, SayOnce, type TickObserver } from "../lib/run-loop.ts";
import type { Store } from "../store/store.ts";
import type { ProxyConfig } from "./config.ts";
import { Forwarder } from "./forwarder.ts";
import { readHold } from "./hold.ts";
import { ReadOnlyPort } from "./read-only-port.ts";

/**
 * /health turns 503 when the check loop has not finished a pass for this long (or three
 * proxyCheckIntervals, if longer); the fence loop's pass only compares numbers.
 */
const STUCK_AFTER_MS = 10_000;

export class Proxy implements Component {
  readonly forwarder: Forwarder;
  /** The read-only listener, with --read-only-port. */
  readonly readOnly: ReadOnlyPort | null;
  // Until a spec is read, the default spec's: the first info advertises the default proxyTimeout.
  private checkIntervalMs = DEFAULT_SPEC_TIMINGS.proxyCheckIntervalMs;
  private timeoutMs = DEFAULT_SPEC_TIMINGS.proxyTimeoutMs;
  private lastSuccess: number;
  private fenced = false;
  private lastRouteReason = "";
  /**
   * The info last published, without its infoUID, and that infoUID: a new one only when the
   * content changes, so an unchanged info is a lease renewal alone (no write; issue 23).
   */
  private published: { content: string; infoUID: string } | null = null;
  /** Wall-clock unix ms of the last check that read usable cluster data (0: never). */
  private lastValidClusterDataWall = 0;
  private readonly say: SayOnce;
  private readonly checkLoop: Loop;
  private readonly fenceLoop: Loop;

  constructor(
    private readonly uid: string,
    private readonly cfg: ProxyConfig,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly newUid: () => string,
    observe?: TickObserver,
  ) {
    this.say = new SayOnce(log);
    this.checkLoop = new Loop({
      name: "check",
      intervalMs: () => this.checkIntervalMs,
      tick: () => this.checkOnce(),
      clock,
      log,
      describe: (err) => `check failed: ${describeError(err)}`,
      observe,
    });
    this.fenceLoop = new Loop({
      name: "fence",
      intervalMs: () => FENCE_CHECK_MS,
      tick: async () => this.fenceIfStale(),
      clock,
      log,
      observe,
    });
    this.forwarder = new Forwarder({
      hostname: cfg.listenAddress,
      port: cfg.port,
      holdMs: cfg.holdMs,
      keepAliveIdleMs: cfg.keepAliveIdleMs,
      maxConnections: cfg.maxConnections,
      maxHeld: cfg.maxHeld,
      onDrained: () => this.checkLoop.trigger.fire(),
      log,
    });
    this.readOnly = cfg.readOnly
      ? new ReadOnlyPort(cfg.readOnly, cfg, { uid, store, log, clock, observe, serving: () => this.forwarder.listening && !this.fenced })
      : null;
    // Not listening yet: the first successful check opens the listener.
    this.lastSuccess = clock.now();
  }

  async run(signal: AbortSignal): Promise<void> {
    const trigger = this.checkLoop.trigger;
    const ro = this.readOnly;
    const unwatch = this.store.watchClusterData(
      () => {
        trigger.fire();
        ro?.loop.trigger.fire();
      },
      (err) => this.log.debug(`watch: ${describeError(err)}`),
    );
    try {
      await Promise.all([this.checkLoop.run(signal), this.fenceLoop.run(signal), ...(ro ? [ro.loop.run(signal)] : [])]);
    } finally {
      unwatch();
      ro?.fence(true);
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
    this.readOnly?.fence(this.cfg.stopListening);
    this.log.warn(
      `no successful check for ${this.timeoutMs} ms (proxyTimeout): every connection closed${this.cfg.stopListening ? " and listener stopped" : ""}`,
    );
  }

  /** Healthy and accepting connections: listening, with a target, not fenced (stolon's proxy health). */
  get serving(): boolean {
    return this.forwarder.listening && this.forwarder.currentTarget !== null && !this.fenced;
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  /** Wall-clock unix ms of the last check that read usable cluster data (0: never). */
  get lastValidClusterDataAt(): number {
    return this.lastValidClusterDataWall;
  }

  /**
   * live: both loops run and the check loop is not stuck. ready: listening, has a target, not
   * fenced (a proxy with no master to route to is alive but not ready).
   */
  health(): HealthReport {
    const now = this.clock.now();
    const check = this.checkLoop.snapshot();
    const fence = this.fenceLoop.snapshot();
    const live: Check = fence.running ? loopsLive([check], now, Math.max(STUCK_AFTER_MS, 3 * this.checkIntervalMs)) : { ok: false, reason: "loop fence is not running" };
    const f = this.forwarder;
    const t = f.currentTarget;
    let ready: Check;
    if (!live.ok) ready = live;
    else if (this.fenced) ready = { ok: false, reason: `fenced: no successful check for more than proxyTimeout (${this.timeoutMs} ms)${check.lastError ? `; ${check.lastError}` : ""}` };
    else if (!f.listening) ready = { ok: false, reason: check.lastError || "not listening yet" };
    else if (!t) ready = { ok: false, reason: `no target: ${this.lastRouteReason || "no master routed"}` };
    else ready = { ok: true, reason: `routing to master db ${t.dbUid} at ${t.host}:${t.port}` };
    return {
      component: "proxy",
      uid: this.uid,
      live,
      ready,
      loops: [check, fence, ...(this.readOnly ? [this.readOnly.loop.snapshot()] : [])],
      details: {
        listening: f.listening,
        target: t ? { dbUid: t.dbUid, host: t.host, port: t.port } : null,
        fenced: this.fenced,
        connections: f.connectionCount - f.heldCount,
        held: f.heldCount,
        hold: f.holdId,
        draining: f.drainingCount,
        ...(this.readOnly ? { readOnly: this.readOnlyDetails(this.readOnly) } : {}),
      },
    };
  }

  private readOnlyDetails(ro: ReadOnlyPort): Record<string, unknown> {
    const r = ro.lastRoute;
    return {
      address: ro.address,
      listening: ro.forwarder.listening,
      targets: ro.forwarder.targets.map((t) => t.dbUid),
      fallback: r?.fallback ?? null,
      connections: Object.fromEntries(ro.forwarder.connectionsByTarget()),
      held: ro.forwarder.heldCount,
      candidates: r?.candidates ?? [],
    };
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
        throw new Error(`cannot listen on ${this.cfg.listenAddress}:${this.cfg.port}: ${describeError(err)}`, { cause: err });
      }
    }
    this.listenReadOnly();
    if (cd) this.lastValidClusterDataWall = Date.now();
    const route = proxyRoute(cd, this.uid);
    this.lastRouteReason = route.reason;
    if (this.forwarder.setTarget(route.target)) {
      this.say.reset("route");
      if (route.target) this.log.info(`routing to master db ${route.target.dbUid} at ${route.target.host}:${route.target.port}`);
      else this.say.say("route", "info", [`not routing: ${route.reason}`]);
    } else if (!route.target) {
      this.say.say("route", "info", [`not routing: ${route.reason}`]);
    }
    this.applyHold(cd);
    if (!cd) {
      this.succeeded(started);
      return;
    }
    const t = specTimings(cd.cluster.spec);
    const timeoutMs = Math.max(this.timeoutMs, t.proxyTimeoutMs);
    const drained = this.forwarder.drainedHoldId;
    const info = { UID: this.uid, Generation: route.generation, ProxyTimeout: timeoutMs * 1e6, ...(drained ? { drained } : {}) };
    const content = JSON.stringify(info);
    if (this.published?.content !== content) this.published = { content, infoUID: this.newUid() };
    // Renews the lease (the sentinel reads this proxy's liveness from it), and writes when changed.
    await this.store.setProxyInfo({ infoUID: this.published.infoUID, ...info }, proxyInfoTtlMs(timeoutMs));
    // New timings only once the sentinel can see them.
    this.checkIntervalMs = t.proxyCheckIntervalMs;
    this.timeoutMs = t.proxyTimeoutMs;
    this.succeeded(started);
  }

  /** Opens the read-only listener with the read-write one; a failure is logged, not fatal. */
  private listenReadOnly(): void {
    const ro = this.readOnly;
    if (!ro || ro.forwarder.listening) return;
    try {
      ro.listen();
      this.say.reset("read-only listen");
    } catch (err) {
      this.say.say("read-only listen", "warn", [`${describeError(err)}; tried again at the next check`]);
    }
  }

  /** The switchover's hold in `cd` (none without cluster data), applied to the Forwarder. */
  private applyHold(cd: ClusterData | null): void {
    const hold = readHold(cd, this.cfg, Date.now());
    if (hold && hold.problems.length > 0) this.say.say("hold", "warn", [`hold ${hold.id}: ${hold.problems.join("; ")}; using defaults for those`]);
    else this.say.reset("hold");
    this.forwarder.setHold(hold);
  }

  private succeeded(started: number): void {
    this.lastSuccess = started;
    if (this.fenced) {
      this.fenced = false;
      this.log.info("the store answers again");
    }
  }
}
