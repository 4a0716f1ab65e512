/**
 * bench/etcd-figures.ts: the etcd load benchmark's figures from two scrapes of etcd's /metrics
 * (requests by method over every code, streams by their messages, the health service's Watch left
 * out), a kind's share as the difference of two phases, and the tables.
 */
import { describe, expect, test } from "bun:test";
import { difference, divided, etcdFigures, type Figure, fmtRate, phaseTable, sideBySide } from "../../bench/etcd-figures.ts";
import { parsePromText } from "../../bench/prom-text.ts";

const handled = (method: string, code: string, n: number, service = "etcdserverpb.KV", type = "unary") =>
  `grpc_server_handled_total{grpc_code="${code}",grpc_method="${method}",grpc_service="${service}",grpc_type="${type}"} ${n}`;
const msg = (dir: "received" | "sent", method: string, n: number, service: string) =>
  `grpc_server_msg_${dir}_total{grpc_method="${method}",grpc_service="${service}",grpc_type="bidi_stream"} ${n}`;

/** An etcd /metrics body, in the shape etcd 3.4 serves, with these counts. */
function etcdText(o: { proposals: number; revision: number; range: number; rangeFailed: number; put: number; status: number; keepAlives: number; watchOut: number; healthWatch: number }): string {
  return [
    "# TYPE etcd_server_proposals_committed_total gauge",
    `etcd_server_proposals_committed_total ${o.proposals}`,
    `etcd_debugging_mvcc_current_revision ${o.revision}`,
    `etcd_disk_wal_fsync_duration_seconds_count ${o.proposals}`,
    handled("Range", "OK", o.range),
    handled("Range", "Unavailable", o.rangeFailed),
    handled("Put", "OK", o.put),
    handled("Txn", "OK", 3),
    handled("Status", "OK", o.status, "etcdserverpb.Maintenance"),
    handled("Check", "OK", 100, "grpc.health.v1.Health"),
    handled("LeaseKeepAlive", "OK", 0, "etcdserverpb.Lease", "bidi_stream"),
    `grpc_server_started_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"} ${o.keepAlives}`,
    msg("received", "LeaseKeepAlive", o.keepAlives, "etcdserverpb.Lease"),
    msg("sent", "Watch", o.watchOut, "etcdserverpb.Watch"),
    msg("sent", "Watch", o.healthWatch, "grpc.health.v1.Health"),
  ].join("\n");
}

const before = parsePromText(etcdText({ proposals: 100, revision: 50, range: 1000, rangeFailed: 1, put: 90, status: 4, keepAlives: 10, watchOut: 500, healthWatch: 0 }));
const after = parsePromText(etcdText({ proposals: 120, revision: 60, range: 1100, rangeFailed: 3, put: 100, status: 4, keepAlives: 30, watchOut: 540, healthWatch: 999 }));
const figures = etcdFigures(before, after, 10);
const byLabel = (fs: Figure[]) => Object.fromEntries(fs.map((f) => [f.label, f.perSecond]));

describe("etcdFigures", () => {
  const cases: { label: string; want: number | null | undefined }[] = [
    { label: "raft proposals committed", want: 2 },
    { label: "store revisions", want: 1 },
    { label: "WAL fsyncs", want: 2 },
    { label: "Range requests", want: 10.2 }, // 100 OK + 2 failed, over 10 s
    { label: "Put requests", want: 1 },
    { label: "Txn requests", want: 0 },
    { label: "DeleteRange requests", want: null }, // never served: unknown, not 0
    { label: "unary requests, all methods", want: 11.2 }, // the health service's Check left out
    { label: "unary requests failed (code not OK)", want: 0.2 },
    { label: "LeaseKeepAlive streams opened", want: 2 },
    { label: "LeaseKeepAlive requests (stream messages in)", want: 2 },
    { label: "Watch responses (stream messages out)", want: 4 }, // the health service's Watch left out
    { label: "backend commits", want: null },
    { label: "Status requests", want: undefined }, // called by nobody in the window: no row
    { label: "Check requests", want: undefined },
  ];
  for (const c of cases) test(`${c.label}: ${c.want}`, () => expect(byLabel(figures)[c.label]).toBe(c.want as number));

  test("a method outside the main ones gets a row when it was called, after them", () => {
    const later = parsePromText(etcdText({ proposals: 120, revision: 60, range: 1100, rangeFailed: 3, put: 100, status: 9, keepAlives: 30, watchOut: 540, healthWatch: 0 }));
    const labels = etcdFigures(before, later, 10).map((f) => f.label);
    expect(labels.indexOf("Status requests")).toBe(labels.indexOf("LeaseRevoke requests") + 1);
  });

  test("counts in the window as well as rates", () => {
    expect(figures.find((f) => f.label === "Range requests")).toEqual({ label: "Range requests", delta: 102, perSecond: 10.2 });
  });
});

describe("difference and divided", () => {
  const f = (label: string, perSecond: number | null): Figure => ({ label, delta: null, perSecond });
  const cases: { name: string; got: () => Figure[]; want: Figure[] }[] = [
    { name: "label by label", got: () => difference([f("a", 5), f("b", 2)], [f("b", 0.5), f("a", 1)]), want: [f("a", 4), f("b", 1.5)] },
    { name: "absent on one side counts 0 there", got: () => difference([f("a", 5)], [f("b", 2)]), want: [f("a", 5), f("b", -2)] },
    { name: "unknown on either side stays unknown", got: () => difference([f("a", null), f("b", 1)], [f("a", 1), f("b", null)]), want: [f("a", null), f("b", null)] },
    { name: "one of n", got: () => divided([f("a", 6), f("b", null)], 3), want: [f("a", 2), f("b", null)] },
  ];
  for (const c of cases) test(c.name, () => expect(c.got()).toEqual(c.want));
});

describe("tables", () => {
  test.each([
    [1.005, "1.00"],
    [12, "12.00"],
    [-0.001, "0.00"],
    [-0.5, "-0.50"],
    [null, "-"],
  ] as const)("fmtRate(%p) is %p", (x, want) => expect(fmtRate(x)).toBe(want));

  test("a phase's table: the count and the rate", () => {
    expect(phaseTable([{ label: "Put requests", delta: 20, perSecond: 2 }, { label: "backend commits", delta: null, perSecond: null }], 10)).toBe(
      ["| etcd counter | in 10.0 s | per second |", "|---|---|---|", "| Put requests | 20 | 2.00 |", "| backend commits | - | - |"].join("\n"),
    );
  });

  test("side by side: every label of every column, 0.00 where a column lacks it", () => {
    const t = sideBySide([
      { title: "idle", figures: [{ label: "Put requests", delta: 9, perSecond: 0.9 }] },
      { title: "load", figures: [{ label: "Put requests", delta: 9, perSecond: 0.9 }, { label: "Status requests", delta: 1, perSecond: 0.1 }] },
    ]);
    expect(t).toBe(["| per second | idle | load |", "|---|---|---|", "| Put requests | 0.90 | 0.90 |", "| Status requests | 0.00 | 0.10 |"].join("\n"));
  });
});
