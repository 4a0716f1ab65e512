#!/usr/bin/env bun
/**
 * stolon-keeper: manages one PostgreSQL instance and converges it to the cluster view.
 * Thin: flags -> KeeperConfig -> prepareKeeper (data dir, lock, identity) -> runComponent(Keeper).
 */
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { Keeper, keeperArgs, keeperRoutes, prepareKeeper, registerKeeperMetrics, resolveKeeperConfig } from "../src/keeper/index.ts";
import { checkFlags, runCli } from "../src/lib/cli.ts";
import { systemClock } from "../src/lib/clock.ts";
import { shutdownSignal, Teardown } from "../src/lib/lifecycle.ts";
import { createLogger, daemonLogOptions, withLogUid } from "../src/lib/log.ts";
import { createComponentMetrics } from "../src/lib/metrics.ts";
import { runComponent } from "../src/lib/runtime.ts";
import { currentUser } from "../src/postgres/os-user.ts";
import { openStore } from "../src/store/index.ts";

export const main = defineCommand({
  meta: { name: "stolon-keeper", description: "manage a PostgreSQL instance and converge it to the cluster view" },
  args: keeperArgs,
  run: async (ctx) => {
    checkFlags(ctx.rawArgs, keeperArgs);
    const cfg = resolveKeeperConfig(ctx.args, process.env, {
      isRoot: process.getuid?.() === 0,
      currentUser: currentUser().name,
      readFile: (p) => readFileSync(p, "utf8"),
    });
    const log = createLogger(daemonLogOptions(cfg.common, "keeper", cfg.uid));
    for (const w of [...cfg.common.warnings, ...cfg.warnings]) log.warn(w);
    const rt = await prepareKeeper(cfg, log);
    const teardown = new Teardown(log);
    const { store } = openStore(cfg.common);
    teardown.defer("the store client", () => store.close());
    const signal = shutdownSignal(log);
    const metrics = createComponentMetrics("keeper", cfg.common.clusterName);
    const keeper = new Keeper(cfg, rt, store, withLogUid(log, rt.uid), systemClock, metrics.loopObserver);
    registerKeeperMetrics(metrics.registry, () => keeper.status(), () => keeper.figures());
    await runComponent({
      component: keeper,
      metrics,
      metricsListenAddress: cfg.common.metricsListenAddress,
      routes: keeperRoutes(keeper),
      teardown,
      signal,
      log,
    });
  },
});

/** Runs stolon-keeper with these arguments (the multi-call executable, cmd/stolon.ts, calls this too). */
export const run = (argv: string[]): Promise<void> => runCli("stolon-keeper", main, argv);

if (import.meta.main) await run(process.argv.slice(2));
