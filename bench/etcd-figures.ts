/**
 * What bench/etcd-load.ts counts, from two scrapes of etcd's own /metrics: per-second rates of
 * raft proposals, store revisions, disk syncs, gRPC requests by method and stream messages; the
 * difference of two phases' rates (a component kind's share, by removal); the tables. Pure.
 */
import { rate, type Sample, sumBy, sumOf, type Where } from "./prom-text.ts";

/** One counted figure of a phase; null when etcd did not serve the counter (or it went down). */
export interface Figure {
  label: string;
  delta: number | null;
  perSecond: number | null;
}

interface Counter {
  label: string;
  name: string;
  where?: Where;
}

const KV_AND_LEASE = (s: string) => s.startsWith("etcdserverpb.");
const WATCH = { grpc_method: "Watch", grpc_service: "etcdserverpb.Watch" };
const KEEP_ALIVE = { grpc_method: "LeaseKeepAlive" };

/** Before the requests by method. */
const RAFT_AND_DISK: Counter[] = [
  { label: "raft proposals committed", name: "etcd_server_proposals_committed_total" },
  { label: "store revisions", name: "etcd_debugging_mvcc_current_revision" },
  { label: "WAL fsyncs", name: "etcd_disk_wal_fsync_duration_seconds_count" },
  { label: "backend commits", name: "etcd_disk_backend_commit_duration_seconds_count" },
];

/** After the requests by method: the two streams, and leases as etcd's lessor sees them. */
const STREAMS_AND_LEASES: Counter[] = [
  { label: "LeaseKeepAlive streams opened", name: "grpc_server_started_total", where: KEEP_ALIVE },
  { label: "LeaseKeepAlive requests (stream messages in)", name: "grpc_server_msg_received_total", where: KEEP_ALIVE },
  { label: "Watch streams opened", name: "grpc_server_started_total", where: WATCH },
  { label: "Watch requests (stream messages in: create, cancel)", name: "grpc_server_msg_received_total", where: WATCH },
  { label: "Watch responses (stream messages out)", name: "grpc_server_msg_sent_total", where: WATCH },
  { label: "watch events sent", name: "etcd_debugging_mvcc_events_total" },
  { label: "leases granted", name: "etcd_debugging_lease_granted_total" },
  { label: "leases renewed", name: "etcd_debugging_lease_renewed_total" },
  { label: "leases revoked", name: "etcd_debugging_lease_revoked_total" },
  { label: "leases expired", name: "etcd_debugging_server_lease_expired_total" },
  { label: "unary requests failed (code not OK)", name: "grpc_server_handled_total", where: { grpc_type: "unary", grpc_service: KV_AND_LEASE, grpc_code: (c) => c !== "OK" } },
];

/** Unary methods always shown, in this order; any other one is shown when it was called. */
export const MAIN_METHODS = ["Range", "Put", "Txn", "DeleteRange", "LeaseGrant", "LeaseRevoke"];
const UNARY: Where = { grpc_type: "unary", grpc_service: KV_AND_LEASE };

const requestLabel = (method: string) => `${method} requests`;

function figure(label: string, before: number | null, after: number | null, seconds: number): Figure {
  const r = rate(before, after, seconds);
  return { label, delta: r?.delta ?? null, perSecond: r?.perSecond ?? null };
}

/**
 * The figures of one counting window: the scrape at its start, the one at its end, and the
 * seconds between them. Unary requests are counted when handled (grpc_server_handled_total, every
 * code); a stream is counted by its messages.
 */
export function etcdFigures(before: readonly Sample[], after: readonly Sample[], seconds: number): Figure[] {
  const counter = (c: Counter) => figure(c.label, sumOf(before, c.name, c.where), sumOf(after, c.name, c.where), seconds);
  const b = sumBy(before, "grpc_server_handled_total", "grpc_method", UNARY);
  const a = sumBy(after, "grpc_server_handled_total", "grpc_method", UNARY);
  const others = [...a.keys()].filter((m) => !MAIN_METHODS.includes(m) && (a.get(m) ?? 0) > (b.get(m) ?? 0)).sort();
  const byMethod = [...MAIN_METHODS, ...others].map((m) => figure(requestLabel(m), b.get(m) ?? null, a.get(m) ?? null, seconds));
  const all = figure("unary requests, all methods", sumOf(before, "grpc_server_handled_total", UNARY), sumOf(after, "grpc_server_handled_total", UNARY), seconds);
  return [...RAFT_AND_DISK.map(counter), ...byMethod, all, ...STREAMS_AND_LEASES.map(counter)];
}

/**
 * `a` minus `b`, per second, label by label (the labels of `a` first, then those only in `b`): a
 * figure absent from one side counts 0 there (a method nobody called); null when either is null.
 */
export function difference(a: readonly Figure[], b: readonly Figure[]): Figure[] {
  const labels = [...new Set([...a, ...b].map((f) => f.label))];
  const find = (fs: readonly Figure[], label: string) => fs.find((f) => f.label === label);
  return labels.map((label) => {
    const x = find(a, label);
    const y = find(b, label);
    const px = x ? x.perSecond : 0;
    const py = y ? y.perSecond : 0;
    return { label, delta: null, perSecond: px === null || py === null ? null : px - py };
  });
}

/** `fs` with every rate divided by `n` (one keeper of n). */
export function divided(fs: readonly Figure[], n: number): Figure[] {
  return fs.map((f) => ({ label: f.label, delta: null, perSecond: f.perSecond === null ? null : f.perSecond / n }));
}

/** A rate as printed: two decimals, "-" when unknown; -0.00 shows as 0.00. */
export function fmtRate(x: number | null): string {
  if (x === null) return "-";
  const s = x.toFixed(2);
  return s === "-0.00" ? "0.00" : s;
}

/** One phase's table: each figure's count in the window and its rate. */
export function phaseTable(figures: readonly Figure[], seconds: number): string {
  return [
    `| etcd counter | in ${seconds.toFixed(1)} s | per second |`,
    "|---|---|---|",
    ...figures.map((f) => `| ${f.label} | ${f.delta === null ? "-" : String(f.delta)} | ${fmtRate(f.perSecond)} |`),
  ].join("\n");
}

/**
 * Columns side by side, per second: one row per label, in the order they first appear. A label
 * missing from a column shows 0.00 there (a method that column's phase never called).
 */
export function sideBySide(columns: readonly { title: string; figures: readonly Figure[] }[]): string {
  const labels = [...new Set(columns.flatMap((c) => c.figures.map((f) => f.label)))];
  const cell = (fs: readonly Figure[], label: string) => {
    const f = fs.find((x) => x.label === label);
    return f ? fmtRate(f.perSecond) : "0.00";
  };
  return [
    `| per second | ${columns.map((c) => c.title).join(" | ")} |`,
    `|---|${columns.map(() => "---").join("|")}|`,
    ...labels.map((l) => `| ${l} | ${columns.map((c) => cell(c.figures, l)).join(" | ")} |`),
  ].join("\n");
}
