/**
 * `npm run build`'s executables, run from an empty directory with no node_modules anywhere above
 * it: version and help of each name, then a one-keeper cluster (keeper, sentinel, proxy, all from
 * the copied binary) against a real etcd, answering a query through the proxy.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { build, COMMANDS } from "../../scripts/build.ts";
import { EtcdBackend, KvStore } from "../../src/store/index.ts";
import { freePort, waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";
import { DaemonProcess, makeTestRoot, passwordArgs, PG_BIN, requirePostgres, sqlTo } from "./harness/keeper.ts";

requirePostgres();

const root = makeTestRoot("build");
const bin = join(root, "bin");
let etcd: EtcdProcess;
let store: KvStore;

beforeAll(async () => {
  const built = await build(join(root, "dist"));
  mkdirSync(bin);
  copyFileSync(built, join(bin, "stolon"));
  Bun.spawnSync(["chmod", "755", join(bin, "stolon")]);
  for (const name of COMMANDS) symlinkSync("stolon", join(bin, name));
  etcd = await EtcdProcess.start();
  store = new KvStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }), { prefix: "stolon/cluster", clusterName: "b1" });
}, 120_000);
afterAll(async () => {
  await store?.close();
  await etcd?.stop();
});

/** Runs a copied executable in the empty dir, with an environment that points nowhere near the repo. */
function runBin(name: string, args: string[]): { code: number; out: string } {
  const r = Bun.spawnSync([join(bin, name), ...args], { cwd: bin, stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", HOME: root } });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

describe("compiled executables", () => {
  test.each(COMMANDS.map((c) => [c]))("%s --version and --help", (name) => {
    const v = runBin(name, ["--version"]);
    expect(v.code).toBe(0);
    expect(v.out.trim()).toMatch(new RegExp(`^${name} version \\d+\\.\\d+\\.\\d+ \\(bun \\d+\\.\\d+\\.\\d+\\)$`));
    const h = runBin(name, ["--help"]);
    expect(h.code).toBe(0);
    expect(h.out).toContain(name);
  });

  test("no node_modules is within reach of the copied executables", () => {
    for (let d = bin; ; d = dirname(d)) {
      expect(existsSync(join(d, "node_modules"))).toBe(false);
      if (d === dirname(d)) break;
    }
  });

  test("stolonctl version; the multi-call name refuses an unknown command", () => {
    expect(runBin("stolonctl", ["version"]).out).toMatch(/^stolonctl version /);
    const r = runBin("stolon", ["bogus"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('unknown command "bogus"');
  });

  test("keeper, sentinel and proxy from the copied binary make a cluster that answers through the proxy", async () => {
    const common = ["--cluster-name", "b1", "--store-backend", "etcdv3", "--store-endpoints", etcd.endpoint];
    const init = runBin("stolonctl", [...common, "init", "-y", '{"initMode":"new"}']);
    expect(init.out).toContain("cluster initialized");
    expect(init.code).toBe(0);
    const pgPort = freePort();
    const proxyPort = freePort();
    const daemons = [
      DaemonProcess.spawn("keeper", [join(bin, "stolon-keeper"), ...common, "--uid", "k1", "--data-dir", join(root, "k1"), "--pg-listen-address", "127.0.0.1", "--pg-port", String(pgPort), "--pg-bin-path", PG_BIN, ...passwordArgs(root)], bin),
      DaemonProcess.spawn("sentinel", [join(bin, "stolon-sentinel"), ...common], bin),
      DaemonProcess.spawn("proxy", [join(bin, "stolon-proxy"), ...common, "--listen-address", "127.0.0.1", "--port", String(proxyPort)], bin),
    ];
    try {
      await waitFor("a master routed by the proxy", async () => {
        const cd = (await store.getClusterData())?.clusterData;
        return cd?.cluster.status.master && cd.proxy.spec.masterDbUid === cd.cluster.status.master && (cd.proxy.spec.enabledProxies ?? []).length > 0;
      }, 60_000, 200);
      const sql = sqlTo(proxyPort);
      try {
        const rows = await waitFor("a query through the proxy", async () => {
          try {
            return await sql<{ port: string }[]>`select current_setting('port') as port`;
          } catch {
            return null;
          }
        }, 30_000, 200);
        expect(Number(rows[0]!.port)).toBe(pgPort);
      } finally {
        await sql.end({ timeout: 1 });
      }
    } finally {
      const codes = await Promise.all(daemons.map((d) => d.stop()));
      if (codes.some((c) => c !== 0)) for (const d of daemons) console.log(`--- ${d.name}\n${d.output}`);
      expect(codes).toEqual([0, 0, 0]);
    }
  }, 120_000);
});
