#!/usr/bin/env bun
/**
 * stolon-proxy: the clients' entry point; forwards to the current master only.
 * Thin: flags -> ProxyConfig -> Proxy, run by runComponent (admin listener, teardown) until SIGINT/SIGTERM.
 */
import { defineCommand } from "citty";
import { checkFlags, runCli } from "../src/lib/cli.ts";
import { systemClock } from "../src/lib/clock.ts";
import { newUid } from "../src/lib/ids.ts";
import { shutdownSignal, Teardown } from "../src/lib/lifecycle.ts";
import { createLogger, daemonLogOptions } from "../src/lib/log.ts";
import { createComponentMetrics } from "../src/lib/metrics.ts";
import { runComponent } from "../src/lib/runtime.ts";
import { Proxy, proxyArgs, registerProxyMetrics, resolveProxyConfig } from "../src/proxy/index.ts";
import { openStore } from "../src/store/index.ts";

export const main = defineCommand({
  meta: { name: "stolon-proxy", description: "forward client connections to the current master" },
  args: proxyArgs,
  run: async (ctx) => {
    checkFlags(ctx.rawArgs, proxyArgs);
    const cfg = resolveProxyConfig(ctx.args, process.env);
    const uid = newUid();
    const log = createLogger(daemonLogOptions(cfg.common, "proxy", uid));
    for (const w of [...cfg.common.warnings, ...cfg.warnings]) log.warn(w);
    const teardown = new Teardown(log);
    const { store } = openStore(cfg.common);
    teardown.defer("the store client", () => store.close());
    const signal = shutdownSignal(log);
    log.info(`proxy ${uid} starting (${store.description})`);
    const metrics = createComponentMetrics("proxy", cfg.common.clusterName);
    const proxy = new Proxy(uid, cfg, store, log, systemClock, newUid, metrics.loopObserver);
    registerProxyMetrics(metrics.registry, proxy);
    await runComponent({ component: proxy, metrics, metricsListenAddress: cfg.common.metricsListenAddress, teardown, signal, log });
  },
});

/** Runs stolon-proxy with these arguments (the multi-call executable, cmd/stolon.ts, calls this too). */
export const run = (argv: string[]): Promise<void> => runCli("stolon-proxy", main, argv);

if (import.meta.main) await run(process.argv.slice(2));
