/**
 * The keeper's Prometheus metrics (names fixed by the issue 14 design; stolon's first). Every
 * value is read at scrape time (`collect`) from the keeper's status() and figures(): nothing is
 * counted on the report path or the reconcile path. Reconcile duration and errors are the common
 * stolon_loop_* series with loop="reconcile" (src/lib/metrics.ts).
 */
import { Gauge, type Registry } from "prom-client";
import { systemClock, type Clock } from "../lib/clock.ts";
import { isServingPrimary, type KeeperRole, type KeeperStatus } from "./status.ts";

/** What the metrics need beyond KeeperStatus; times are wall-clock ms since the epoch, 0 = never. */
export interface KeeperFigures {
  /** The spec's sleepInterval in force. */
  sleepIntervalMs: number;
  /** The last plan had a reload to do. */
  needsReload: boolean;
  /** The last plan had a restart to do, or parameters wait for one (pending_restart). */
  needsRestart: boolean;
  /** End of the last reconcile pass that succeeded. */
  lastSyncSuccessAt: number;
  /** When the termination signal came. */
  shutdownAt: number;
}

const ROLES: readonly KeeperRole[] = ["master", "standby"];
/** One scrape reads every gauge: they share one status() within this window, so they agree. */
const SNAPSHOT_MS = 100;

const bit = (b: boolean) => (b ? 1 : 0);
const seconds = (ms: number) => ms / 1000;

/** `clock` only dates the snapshot shared by one scrape's gauges. */
export function registerKeeperMetrics(registry: Registry, status: () => KeeperStatus, figures: () => KeeperFigures, clock: Clock = systemClock): void {
  let cached: { at: number; s: KeeperStatus; f: KeeperFigures } | null = null;
  const read = () => {
    const now = clock.now();
    if (!cached || now - cached.at > SNAPSHOT_MS) cached = { at: now, s: status(), f: figures() };
    return cached;
  };
  const registers = [registry];
  const gauge = (name: string, help: string, value: (s: KeeperStatus, f: KeeperFigures) => number | null) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const { s, f } = read();
        const v = value(s, f);
        // Unknown: no sample rather than a made-up 0.
        if (v === null) this.remove();
        else this.set(v);
      },
    });
  const roleGauge = (name: string, help: string, role: (s: KeeperStatus) => KeeperRole | null) =>
    new Gauge({
      name,
      help,
      labelNames: ["role"],
      registers,
      collect() {
        const r = role(read().s);
        for (const x of ROLES) this.set({ role: x }, bit(r === x));
      },
    });

  gauge("stolon_keeper_clusterdata_last_valid_update_seconds", "When the keeper last read cluster data it could use, as seconds since the Unix epoch (0: never)", (s) =>
    seconds(s.clusterDataValidAt),
  );
  roleGauge("stolon_keeper_target_role", "1 for the role the cluster view gives this keeper's db, 0 for the other (both 0: none)", (s) => s.targetRole);
  roleGauge("stolon_keeper_local_role", "1 for the role the local PostgreSQL runs as, 0 for the other (both 0: not running)", (s) => s.localRole);
  gauge("stolon_keeper_needs_reload", "1 when the last reconcile pass had a configuration reload to do", (_s, f) => bit(f.needsReload));
  gauge("stolon_keeper_needs_restart", "1 when PostgreSQL needs a restart for parameters to take effect (pending_restart) or the last pass restarted it", (_s, f) =>
    bit(f.needsRestart),
  );
  gauge("stolon_keeper_last_sync_success_seconds", "When the last reconcile pass succeeded, as seconds since the Unix epoch (0: never)", (_s, f) =>
    seconds(f.lastSyncSuccessAt),
  );
  gauge("stolon_keeper_sleep_interval", "The spec's sleepInterval in seconds: the reconcile loop's period when nothing wakes it", (_s, f) => seconds(f.sleepIntervalMs));
  gauge("stolon_keeper_shutdown_seconds", "When the keeper received its termination signal, as seconds since the Unix epoch (0: running)", (_s, f) =>
    seconds(f.shutdownAt),
  );
  gauge("stolon_keeper_postgres_healthy", "1 when the local PostgreSQL runs and answered the last state query", (s) => bit(s.postgresHealthy));
  gauge("stolon_keeper_converged", "1 when the local db has converged to the generation the cluster view asks", (s) => bit(s.converged));
  gauge("stolon_keeper_fenced", "1 when the keeper fenced its master (cut from etcd): only replication and the keeper may connect", (s) => bit(s.fenced));
  gauge("stolon_keeper_serving_primary", "1 exactly when GET /primary answers 200: elected, healthy and unfenced master holding the elected db", (s) => bit(isServingPrimary(s)));
  gauge("stolon_keeper_timeline", "The local PostgreSQL's timeline (0: unknown)", (s) => s.timeline);
  gauge("stolon_keeper_wal_position_bytes", "WAL position in bytes: a master's current position, a standby's last replayed one (0: unknown)", (s) => s.walPosition);
  gauge("stolon_keeper_replication_lag_bytes", "Standby: WAL bytes between the master's last reported position and the local replay (0 on the master; absent when unknown)", (s) =>
    s.replicationLagBytes,
  );
  gauge("stolon_keeper_replication_lag_seconds", "Standby: age of the last replayed transaction while replay is behind, 0 when caught up (0 on the master; absent when unknown)", (s) =>
    s.replicationLagSeconds,
  );
  gauge("stolon_keeper_max_standby_lag_bytes", "The spec's maxStandbyLag: a standby further behind is not elected master", (s) => s.maxStandbyLagBytes);
}
