import { expect, test } from "bun:test";
import { createConsola } from "consola";
import { connect } from "node:net";
import { startAdminServer } from "../../../src/lib/admin-server.ts";
import type { HealthReport } from "../../../src/lib/health.ts";
import { createComponentMetrics } from "../../../src/lib/metrics.ts";

const log = createConsola({ level: 0 });

test("the admin listener serves /metrics, /health and /ready by the report, extra routes, and refuses other methods and paths", async () => {
  const m = createComponentMetrics("proxy", "c1");
  m.loopObserver("check", 3, null);
  let ready = false;
  const report = (): HealthReport => ({
    component: "proxy",
    uid: "p1",
    live: { ok: true, reason: "all loops run" },
    ready: { ok: ready, reason: ready ? "routing" : "no target" },
    loops: [],
    details: {},
  });
  const s = startAdminServer({ address: { hostname: "127.0.0.1", port: 0 }, registry: m.registry, health: report, routes: { "/x": () => new Response("x") }, log });
  try {
    const base = `http://127.0.0.1:${s.port}`;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('stolon_cluster_identifier{cluster_name="c1",component="proxy"} 1');
    expect(metrics).toContain('stolon_loop_ticks_total{loop="check"} 1');
    expect(metrics).toContain("process_resident_memory_bytes");
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const r = await fetch(`${base}/ready`);
    expect(r.status).toBe(503);
    expect(((await r.json()) as HealthReport).ready.reason).toBe("no target");
    ready = true;
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    expect((await fetch(`${base}/ready`, { method: "OPTIONS" })).status).toBe(200);
    expect(await (await fetch(`${base}/x`)).text()).toBe("x");
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/health`, { method: "POST", body: "a" })).status).toBe(405);
  } finally {
    await s.stop();
  }
});

test("extra routes may replace /health (the keeper's Patroni meaning) but never /metrics or /ready", async () => {
  const m = createComponentMetrics("keeper", "c1");
  const report = (): HealthReport => ({ component: "keeper", uid: "k1", live: { ok: true, reason: "all loops run" }, ready: { ok: true, reason: "ok" }, loops: [], details: {} });
  const mine = () => new Response("mine", { status: 503 });
  const s = startAdminServer({ address: { hostname: "127.0.0.1", port: 0 }, registry: m.registry, health: report, routes: { "/health": mine, "/metrics": mine, "/ready": mine }, log });
  try {
    const base = `http://127.0.0.1:${s.port}`;
    const health = await fetch(`${base}/health`);
    expect([health.status, await health.text()]).toEqual([503, "mine"]);
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    expect(await (await fetch(`${base}/metrics`)).text()).toContain("stolon_cluster_identifier");
  } finally {
    await s.stop();
  }
});

/** Sends `raw` as is on a new connection and returns everything the server answers until it closes. */
function rawHttp(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    const c = connect(port, "127.0.0.1", () => c.write(raw));
    c.setTimeout(5000, () => c.destroy(new Error("no answer within 5 s")));
    c.on("data", (d) => (got += d.toString()));
    c.on("close", () => resolve(got));
    c.on("error", reject);
  });
}

test("HAProxy's httpchk requests (HTTP/1.0, no Host header, GET or OPTIONS) reach the routes with their query", async () => {
  const m = createComponentMetrics("keeper", "c1");
  const report = (): HealthReport => ({ component: "keeper", uid: "k1", live: { ok: true, reason: "all loops run" }, ready: { ok: true, reason: "ok" }, loops: [], details: {} });
  const s = startAdminServer({ address: { hostname: "127.0.0.1", port: 0 }, registry: m.registry, health: report, routes: { "/primary": (url) => new Response(`lag=${url.searchParams.get("lag")}`) }, log });
  try {
    expect(await rawHttp(s.port, "GET /primary?lag=16MB HTTP/1.0\r\n\r\n")).toMatch(/^HTTP\/1\.1 200 [^]*lag=16MB$/);
    expect(await rawHttp(s.port, "OPTIONS /primary HTTP/1.0\r\n\r\n")).toMatch(/^HTTP\/1\.1 200 /);
    expect(await rawHttp(s.port, "GET /ready HTTP/1.0\r\n\r\n")).toMatch(/^HTTP\/1\.1 200 /);
  } finally {
    await s.stop();
  }
});
