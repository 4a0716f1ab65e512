#!/usr/bin/env bun
/**
 * stolon-sentinel: campaigns for leadership in etcd; the leader computes the cluster view.
 * Thin: flags -> SentinelConfig -> Sentinel, run by runComponent (admin listener, teardown) until SIGINT/SIGTERM.
 */
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { checkFlags, runCli } from "../src/lib/cli.ts";
import { systemClock } from "../src/lib/clock.ts";
import { newUid } from "../src/lib/ids.ts";
import { shutdownSignal, Teardown } from "../src/lib/lifecycle.ts";
import { createLogger, daemonLogOptions } from "../src/lib/log.ts";
import { createComponentMetrics } from "../src/lib/metrics.ts";
import { runComponent } from "../src/lib/runtime.ts";
import { registerSentinelMetrics, resolveSentinelConfig, Sentinel, SENTINEL_ELECTION_TTL_MS, sentinelArgs } from "../src/sentinel/index.ts";
import { openStore } from "../src/store/index.ts";

export const main = defineCommand({
  meta: { name: "stolon-sentinel", description: "elect a leader and compute the cluster view" },
  args: sentinelArgs,
  run: async (ctx) => {
    checkFlags(ctx.rawArgs, sentinelArgs);
    const cfg = resolveSentinelConfig(ctx.args, process.env, (p) => readFileSync(p, "utf8"));
    const uid = newUid();
    const log = createLogger(daemonLogOptions(cfg.common, "sentinel", uid));
    for (const w of cfg.common.warnings) log.warn(w);
    const teardown = new Teardown(log);
    const opened = openStore(cfg.common);
    teardown.defer("the store client", () => opened.store.close());
    const signal = shutdownSignal(log);
    log.info(`sentinel ${uid} starting (${opened.store.description})`);
    const metrics = createComponentMetrics("sentinel", cfg.common.clusterName);
    const sentinel = new Sentinel({
      uid,
      store: opened.store,
      election: opened.election(SENTINEL_ELECTION_TTL_MS),
      log,
      clock: systemClock,
      newUid,
      initialSpec: cfg.initialSpec,
      observe: metrics.loopObserver,
    });
    registerSentinelMetrics(metrics.registry, sentinel);
    await runComponent({ component: sentinel, metrics, metricsListenAddress: cfg.common.metricsListenAddress, teardown, signal, log });
  },
});

/** Runs stolon-sentinel with these arguments (the multi-call executable, cmd/stolon.ts, calls this too). */
export const run = (argv: string[]): Promise<void> => runCli("stolon-sentinel", main, argv);

if (import.meta.main) await run(process.argv.slice(2));
