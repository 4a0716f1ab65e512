/**
 * `npm run demo`: a local cluster on 127.0.0.1 made of the project's own commands: one etcd, three
 * keepers, two sentinels and one proxy. It initializes the cluster, waits for a master and two
 * streaming standbys, prints how to connect and how to kill the master, and runs until Ctrl-C,
 * which stops everything.
 *
 * The demo dir (<tmp>/stolon-demo) is recreated at every run: processes left by an earlier run are
 * stopped and its data removed. The keepers run PostgreSQL as the "postgres" OS user when the demo
 * runs as root.
 *
 *   bun scripts/demo.ts [--base-port 25430] [--dir DIR] [--once]
 *
 * --once: stop everything and exit as soon as the cluster is ready (for tests).
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalCluster, SU_PASSWORD } from "./local-cluster.ts";

const args = process.argv.slice(2);
const argValue = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const dir = argValue("dir") ?? join(tmpdir(), "stolon-demo");
const say = (msg: string) => console.log(`demo: ${msg}`);
const lc = new LocalCluster({ dir, basePort: Number(argValue("base-port") ?? 25430), spec: { initMode: "new", usePgrewind: true }, log: say });

async function main(): Promise<void> {
  lc.cleanEarlierRun();
  await lc.start();
  const cd = await lc.waitSettled(180_000);
  const masterKeeper = cd.dbs[cd.cluster.status.master!]!.spec.keeperUID;
  const status = Bun.spawnSync([...lc.cmd("stolonctl", []), "status"], { stdout: "pipe", stderr: "pipe" });
  console.log(`
The cluster is ready: master on ${masterKeeper}, two streaming standbys, a proxy on 127.0.0.1:${lc.ports.proxy}.

${status.stdout.toString().trim()}

Connect through the proxy (password ${SU_PASSWORD}):
  psql "host=127.0.0.1 port=${lc.ports.proxy} user=stolon dbname=postgres"

Watch the cluster:
  bun run stolonctl -- ${lc.common.join(" ")} status

Kill the master (its keeper and its PostgreSQL) and watch a standby take over within seconds:
  kill -9 ${lc.pid(masterKeeper)} ${lc.postmasterPid(masterKeeper)}

Logs: ${join(dir, "logs")}. Ctrl-C stops everything; the next run recreates ${dir}.`);
  if (args.includes("--once")) return;
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  console.log("\ndemo: stopping ...");
}

let code = 0;
try {
  await main();
} catch (err) {
  console.error(`demo: ${(err as Error).message}`);
  code = 1;
} finally {
  await lc.stop();
  say(`stopped; data left in ${dir} (removed at the next run)`);
}
process.exit(code);
