/**
 * `npm run demo` as a user runs it (here with --once, which stops everything once the cluster is
 * ready): a master, two streaming standbys and a proxy, made of the project's own commands.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { freeBasePort } from "../../scripts/local-cluster.ts";
import { makeTestRoot, requirePostgres } from "./harness/keeper.ts";

requirePostgres();

test("the demo brings up a cluster, prints how to use it, and stops cleanly", async () => {
  const dir = join(makeTestRoot("demo"), "demo");
  const base = freeBasePort(17000, 20000);
  const p = Bun.spawn([process.execPath, join(import.meta.dir, "../../scripts/demo.ts"), "--once", "--base-port", String(base), "--dir", dir], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(err).toBe("");
  expect(code).toBe(0);
  expect(out).toContain("The cluster is ready: master on keeper");
  expect(out).toContain(`psql "host=127.0.0.1 port=${base + 2} user=stolon dbname=postgres"`);
  expect(out).toMatch(/kill -9 \d+ \d+/);
  expect(out).toContain("└─keeper");
  expect(out).toContain("demo: stopped");
  // Nothing of the demo is left running.
  const left = Bun.spawnSync(["pgrep", "-f", dir], { stdout: "pipe" }).stdout.toString().trim();
  expect(left).toBe("");
}, 240_000);
