/**
 * The monitoring kit (docker/monitoring/) and every component's /metrics, judged by Prometheus's
 * own promtool: the scrape configuration and the alerting rules are valid, the alerts' unit
 * tests pass and fire every alert, every metric the kit queries is one our components export,
 * and a live cluster's /metrics pass `promtool check metrics` but for stolon's own
 * stolon_sentinel_leader_count.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createComponentMetrics } from "../../src/lib/metrics.ts";
import { clusterForFile } from "./harness/cluster.ts";
import { waitFor } from "../harness/util.ts";
import { makeTestRoot } from "./harness/keeper.ts";
import { expectCleanMetrics, promtool, sampleOf } from "./harness/promtool.ts";

const repo = join(import.meta.dir, "../..");
const kit = join(repo, "docker", "monitoring");
const yaml = (file: string) => Bun.YAML.parse(readFileSync(join(kit, file), "utf8")) as any;

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const alertRules = (): AlertRule[] => (yaml("alerts.yml").groups as { rules: AlertRule[] }[]).flatMap((g) => g.rules).filter((r) => r.alert);

/** Every query of the dashboard, panels and annotations. */
function dashboardQueries(): string[] {
  const d = JSON.parse(readFileSync(join(kit, "grafana-dashboard.json"), "utf8"));
  const panels = (d.panels as any[]).flatMap((p) => [p, ...(p.panels ?? [])]);
  return [...panels.flatMap((p) => (p.targets ?? []).map((t: any) => String(t.expr))), ...(d.annotations?.list ?? []).map((a: any) => a.expr).filter(Boolean)];
}

/** The metric names a PromQL expression reads (ours and the runtime's: stolon_, process_, nodejs_). */
const metricNames = (expr: string): string[] => [...expr.matchAll(/\b((?:stolon|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1]!);

/** Every "stolon_..." string literal in src/: the names the components register. */
function namesInSource(dir = join(repo, "src")): Set<string> {
  const out = new Set<string>();
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) for (const n of namesInSource(p)) out.add(n);
    else if (e.name.endsWith(".ts")) for (const m of readFileSync(p, "utf8").matchAll(/["'`](stolon_[a-z0-9_]+)["'`]/g)) out.add(m[1]!);
  }
  return out;
}

describe("the monitoring kit, checked by promtool", () => {
  test("promtool check config accepts prometheus.yml and the rule files it loads", async () => {
    const r = await promtool(["check", "config", "prometheus.yml"], { cwd: kit });
    expect(r.output).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  test("promtool check rules accepts alerts.yml", async () => {
    const r = await promtool(["check", "rules", "alerts.yml"], { cwd: kit });
    expect(r.output).toContain(`SUCCESS: ${alertRules().length} rules found`);
    expect(r.code).toBe(0);
  });

  test("promtool test rules: every case of alerts.test.yml passes", async () => {
    const r = await promtool(["test", "rules", "alerts.test.yml"], { cwd: kit });
    expect(r.output).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  test("every alert has for:, a severity, a summary and a description, and a case that fires it and one that does not", () => {
    const rules = alertRules();
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining(["StolonNoMaster", "StolonMasterFenced", "StolonStandbyLagging", "StolonKeeperDown", "StolonProxyDown", "StolonNoLeaderSentinel", "StolonFailover"]),
    );
    for (const r of rules) {
      expect([r.alert, typeof r.for]).toEqual([r.alert, "string"]);
      expect([r.alert, ["critical", "warning", "info"].includes(r.labels?.severity ?? "")]).toEqual([r.alert, true]);
      expect([r.alert, (r.annotations?.summary ?? "") !== "" && (r.annotations?.description ?? "") !== ""]).toEqual([r.alert, true]);
    }
    const cases = (yaml("alerts.test.yml").tests as { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[]).flatMap((t) => t.alert_rule_test ?? []);
    const names = new Set(rules.map((r) => r.alert));
    const firing = new Set(cases.filter((c) => (c.exp_alerts ?? []).length > 0).map((c) => c.alertname));
    const quiet = new Set(cases.filter((c) => (c.exp_alerts ?? []).length === 0).map((c) => c.alertname));
    expect([...names].filter((n) => !firing.has(n))).toEqual([]);
    expect([...names].filter((n) => !quiet.has(n))).toEqual([]);
    // And no case tests an alert that no longer exists (promtool would only see it never fire).
    expect(cases.map((c) => c.alertname).filter((n) => !names.has(n))).toEqual([]);
  });

  test("the scrape jobs the alerts name scrape every stolon service of the compose demo on its admin listener, and Prometheus runs the kit", () => {
    const jobs = Object.fromEntries(
      (yaml("prometheus.yml").scrape_configs as { job_name: string; static_configs: { targets: string[] }[] }[]).map((j) => [
        j.job_name,
        j.static_configs.flatMap((s) => s.targets).sort(),
      ]),
    );
    expect(Object.keys(jobs).sort()).toEqual(["stolon-keeper", "stolon-proxy", "stolon-sentinel"]);
    expect(yaml("prometheus.yml").rule_files).toEqual(["alerts.yml"]);
    for (const r of alertRules()) for (const [, job] of r.expr.matchAll(/job="([^"]+)"/g)) expect(Object.keys(jobs)).toContain(job!);

    const compose = Bun.YAML.parse(readFileSync(join(repo, "docker", "docker-compose.yml"), "utf8")) as { services: Record<string, any> };
    const want: Record<string, string[]> = { "stolon-keeper": [], "stolon-sentinel": [], "stolon-proxy": [] };
    for (const [name, svc] of Object.entries(compose.services)) {
      const cmd = (svc.command ?? []).map(String) as string[];
      const job = cmd[0] as string;
      if (!(job in want)) continue;
      const flag = cmd.find((a) => a.startsWith("--metrics-listen-address="));
      expect([name, flag]).toEqual([name, expect.stringMatching(/^--metrics-listen-address=:\d+$/)]);
      want[job]!.push(`${name}:${flag!.split(":").pop()}`);
    }
    for (const job of Object.keys(want)) expect([job, jobs[job]]).toEqual([job, want[job]!.sort()]);
    const prom = compose.services.prometheus;
    expect(prom.volumes).toEqual(expect.arrayContaining(["./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro", "./monitoring/alerts.yml:/etc/prometheus/alerts.yml:ro"]));
    expect(prom.command).toContain("--config.file=/etc/prometheus/prometheus.yml");
  });

  test("every metric the alerts and the dashboard read is exported: by every component's runtime, or registered by one in src/", async () => {
    const common = new Set(
      [...(await createComponentMetrics("keeper", "c").registry.metrics()).matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, n, type]) =>
        type === "histogram" ? [n!, `${n}_bucket`, `${n}_sum`, `${n}_count`] : [n!],
      ),
    );
    const registered = namesInSource();
    const used = [...alertRules().map((r) => r.expr), ...dashboardQueries()].flatMap(metricNames);
    expect(used.length).toBeGreaterThan(40);
    expect([...new Set(used)].filter((n) => !common.has(n) && !registered.has(n)).sort()).toEqual([]);
  });

  test("every dashboard query is valid PromQL (promtool check rules, as recording rules)", async () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(30);
    const dir = makeTestRoot("monitoring-dashboard");
    const rules = {
      groups: [{ name: "dashboard", rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: q.replaceAll("$__rate_interval", "1m") })) }],
    };
    // JSON is YAML: promtool reads it as is.
    writeFileSync(join(dir, "dashboard-rules.yml"), JSON.stringify(rules));
    const r = await promtool(["check", "rules", "dashboard-rules.yml"], { cwd: dir });
    expect(r.output).toContain(`SUCCESS: ${queries.length} rules found`);
    expect(r.code).toBe(0);
  });
});

describe("/metrics of every component, checked by promtool", () => {
  test("the common metrics every component's runtime exports (no process needed)", async () => {
    const m = createComponentMetrics("sentinel", "c1");
    m.loopObserver("tick", 12, null);
    m.loopObserver("tick", 30, new Error("store down"));
    await expectCleanMetrics(await m.registry.metrics());
  });

  const { lc } = clusterForFile("monitoring", { ports: [11000, 14000], keepers: 2, spec: { initMode: "new" } });

  test("a live cluster: each keeper's, sentinel's and the proxy's /metrics pass promtool check metrics, but for stolon_sentinel_leader_count", async () => {
    await lc.waitSettled(90_000);
    const names = [...lc.keeperNames, "sentinel1", "sentinel2", "proxy"];
    for (const name of names) {
      const text = await waitFor(`${name}'s /metrics`, async () => {
        const r = await fetch(`${lc.adminUrl(name)}/metrics`);
        return r.ok ? r.text() : null;
      }, 10_000, 200);
      expect(text).toContain("stolon_cluster_identifier{");
      await expectCleanMetrics(text);
    }
  }, 150_000);

  test("a settled cluster exports every series the alerts rely on, and none of their conditions holds", async () => {
    const scrape = async (name: string) => (await fetch(`${lc.adminUrl(name)}/metrics`)).text();
    // StolonNoMaster: exactly one keeper serves as primary (once the master has converged).
    await waitFor("one keeper serving as primary", async () => {
      const serving = await Promise.all(lc.keeperNames.map(async (k) => sampleOf(await scrape(k), "stolon_keeper_serving_primary")));
      return serving.sort().join(",") === "0,1";
    }, 30_000, 200);
    for (const k of lc.keeperNames) {
      const text = await scrape(k);
      expect([k, sampleOf(text, "stolon_keeper_fenced")]).toEqual([k, 0]);
      // StolonStandbyLagging compares the two on each keeper: both must be there, the lag within.
      const max = sampleOf(text, "stolon_keeper_max_standby_lag_bytes");
      expect([k, max]).toEqual([k, expect.any(Number)]);
      expect(max).toBeGreaterThan(0);
      const lag = await waitFor(`${k}'s replication lag`, async () => {
        const v = sampleOf(await scrape(k), "stolon_keeper_replication_lag_bytes");
        return Number.isNaN(v) ? null : { v };
      }, 30_000, 200);
      expect(lag.v).toBeLessThanOrEqual(max);
    }
    // StolonNoLeaderSentinel: one leader. StolonFailover: every sentinel exports its counter from
    // the start (0), so increase() sees the first failover rather than a new series.
    const sentinels = await Promise.all(["sentinel1", "sentinel2"].map(scrape));
    expect(sentinels.map((t) => sampleOf(t, "stolon_sentinel_is_leader")).sort()).toEqual([0, 1]);
    for (const t of sentinels) expect(sampleOf(t, "stolon_sentinel_failovers_total")).toBe(0);
    // StolonKeeperUnhealthy, StolonProxyNotServing.
    const leader = sentinels.find((t) => sampleOf(t, "stolon_sentinel_is_leader") === 1)!;
    expect(sampleOf(leader, 'stolon_sentinel_keepers{state="unhealthy"}')).toBe(0);
    expect(sampleOf(await scrape("proxy"), "stolon_proxy_health")).toBe(1);
  }, 90_000);
});
