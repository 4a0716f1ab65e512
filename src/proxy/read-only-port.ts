/**
 * The proxy's read-only listener (--read-only-port): a second Forwarder, in its read-only role,
 * whose connections go to the standbys readOnlyRoute (read-only.ts) finds eligible, the least
 * loaded first; the cluster data, the keepers' reports and their leases are read by its own loop,
 * every READ_ONLY_CHECK_MS and at once when the cluster data changes (watch), since a standby's lag
 * is only known from the keepers' reports. A standby leaving the set has its connections cut (after a grace
 * for lag or a late report); the others are left alone.
 *
 * It serves only while the read-write side does: the Proxy opens and closes both listeners
 * together and fences both (see proxy.ts). With no eligible standby, --read-only-fallback says
 * where clients go: master (the route names the master), hold (held up to --hold-timeout, as the
 * read-write port holds clients while there is no master) or refuse (57P03 at once).
 */
import type { Clock } from "../lib/clock.ts";
import { ClusterDataError, describeError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { Loop, type TickObserver } from "../lib/run-loop.ts";
import { readInfoSilences, type Store } from "../store/store.ts";
import type { ProxyConfig, ReadOnlyConfig } from "./config.ts";
import { Forwarder } from "./forwarder.ts";
import { freshReadOnlyMemory, READ_ONLY_CHECK_MS, READ_ONLY_GRACE_MS, READ_ONLY_STALE_MS, readOnlyRoute, ReportAges, type ReadOnlyRoute } from "./read-only.ts";

export class ReadOnlyPort {
  readonly forwarder: Forwarder;
  readonly loop: Loop;
  private readonly ages = new ReportAges();
  private readonly mem = freshReadOnlyMemory();
  /** The last route applied (null before the first pass, and while not serving). */
  private route: ReadOnlyRoute | null = null;

  constructor(
    private readonly ro: ReadOnlyConfig,
    cfg: ProxyConfig,
    private readonly o: {
      uid: string;
      store: Store;
      log: Logger;
      clock: Clock;
      /** The read-write side serves (listening, not fenced): the read-only side follows it. */
      serving: () => boolean;
      observe?: TickObserver;
    },
  ) {
    this.forwarder = new Forwarder({
      role: "read-only",
      hostname: ro.listenAddress,
      port: ro.port,
      holdMs: cfg.holdMs,
      keepAliveIdleMs: cfg.keepAliveIdleMs,
      maxConnections: cfg.maxConnections,
      // refuse: nobody waits, a client gets 57P03 at once.
      maxHeld: ro.fallback === "refuse" ? 0 : cfg.maxHeld,
      log: o.log,
    });
    this.loop = new Loop({
      name: "read-only",
      intervalMs: () => READ_ONLY_CHECK_MS,
      tick: () => this.checkOnce(),
      clock: o.clock,
      log: o.log,
      describe: (err) => `read-only check failed: ${describeError(err)}`,
      observe: o.observe,
    });
  }

  get address(): string {
    return `${this.ro.listenAddress}:${this.ro.port}`;
  }

  /** The route applied last, for /health: null while not serving. */
  get lastRoute(): ReadOnlyRoute | null {
    return this.route;
  }

  /** Opens the listener. @throws naming the address when it cannot be bound */
  listen(): void {
    if (this.forwarder.listening) return;
    try {
      this.forwarder.listen();
    } catch (err) {
      throw new Error(`cannot listen on ${this.address} (--read-only-port): ${describeError(err)}`, { cause: err });
    }
    this.o.log.info(`read-only listener on ${this.address} (fallback ${this.ro.fallback}${this.ro.maxLagBytes !== null ? `, max lag ${this.ro.maxLagBytes} bytes` : ""})`);
  }

  /** Fencing or shutdown: no target, every connection cut, and the listener closed when `stop`. */
  fence(stop: boolean): void {
    this.route = null;
    this.forwarder.setTargets([]);
    this.forwarder.cutAll();
    if (stop) this.forwarder.stopListening();
  }

  private async checkOnce(): Promise<void> {
    if (!this.o.serving() || !this.forwarder.listening) return;
    const [cdv, infos] = await Promise.all([
      this.o.store.getClusterData().catch((err) => {
        if (err instanceof ClusterDataError) return null;
        throw err;
      }),
      this.o.store.getKeepersInfo(),
    ]);
    // How long each keeper has not renewed its lease (a failed read: no reading, the infoUID
    // decides).
    const { silences } = await readInfoSilences(this.o.store, infos);
    // Checked again: the read-write side may have fenced while the store answered.
    if (!this.o.serving()) return;
    const now = this.o.clock.now();
    this.ages.observe(infos.items, now, silences);
    const route = readOnlyRoute(
      {
        cd: cdv?.clusterData ?? null,
        proxyUid: this.o.uid,
        infos: infos.items,
        ages: this.ages,
        now,
        policy: { maxLagBytes: this.ro.maxLagBytes, fallback: this.ro.fallback, staleMs: READ_ONLY_STALE_MS, graceMs: READ_ONLY_GRACE_MS },
      },
      this.mem,
    );
    this.route = route;
    if (this.forwarder.setTargets(route.pick, route.keep)) this.logRoute(route);
  }

  private logRoute(r: ReadOnlyRoute): void {
    const excluded = r.candidates.filter((c) => c.state !== "eligible").map((c) => `db ${c.dbUid}: ${c.reason}`);
    const to = r.pick.map((t) => `db ${t.dbUid} at ${t.host}:${t.port}`).join(", ");
    if (r.pick.length === 0 || r.fallback === "master") this.o.log.warn(`read-only: ${r.reason}`);
    else this.o.log.info(`read-only: routing to ${to}${excluded.length > 0 ? `; not eligible: ${excluded.join("; ")}` : ""}`);
  }
}
