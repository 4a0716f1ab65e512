/**
 * A stolon deployment's flags and environment on our real processes (issue 16, items 3 and 5):
 * stolon's deprecated flags start the daemons with a warning that names the replacement; its
 * store backends and Kubernetes flags stop every command at once with how to move; `stolonctl
 * status -f stolon` prints stolon's layout from a real etcd holding stolon-format cluster data.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, waitFor } from "../harness/util.ts";
import { etcdForFile } from "./harness/etcd.ts";
import { DaemonProcess, makeTestRoot, passwordArgs, PG_BIN, requirePostgres } from "./harness/keeper.ts";
import { runCmd } from "./harness/process.ts";
import { loadStolonFixture, loadStolonInfos } from "../harness/stolon-fixtures.ts";

requirePostgres();
const root = makeTestRoot("stolon-flags");
const fx = etcdForFile("c1");
const COMMANDS = ["keeper", "sentinel", "proxy", "stolonctl"] as const;
const PREFIX = { keeper: "STKEEPER", sentinel: "STSENTINEL", proxy: "STPROXY", stolonctl: "STOLONCTL" } as const;

/** What each command needs besides the common flags to get as far as the store. */
const own = (c: (typeof COMMANDS)[number]) =>
  c === "keeper" ? ["--data-dir", join(root, "k"), "--pg-listen-address", "127.0.0.1", ...passwordArgs(root)] : [];

describe("stolon's store backends and Kubernetes flags: refused at once, saying how to move", () => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ["--store-backend etcd", ["--store-backend", "etcd"], {}, /--store-backend: unsupported backend "etcd": stolon's "etcd" means etcd v2: .*not visible through the v3 API.*etcdctl migrate.*initMode":"existing"/],
    ["--store-backend etcdv2", ["--store-backend", "etcdv2"], {}, /unsupported backend "etcdv2": etcd v2 is not supported/],
    ["--store-backend consul", ["--store-backend", "consul"], {}, /unsupported backend "consul": consul is not supported: the cluster data must be in etcd v3/],
    ["--store-backend kubernetes", ["--store-backend", "kubernetes"], {}, /unsupported backend "kubernetes": the Kubernetes store \(configmaps\) is not supported/],
    ["--kube-resource-kind", ["--kube-resource-kind", "configmap"], {}, /--kube-resource-kind is not supported: the Kubernetes store/],
    ["<PREFIX>_STORE_BACKEND=etcd", [], { STORE_BACKEND: "etcd" }, /_STORE_BACKEND: unsupported backend "etcd": stolon's "etcd" means etcd v2/],
    ["<PREFIX>_KUBE_NAMESPACE", [], { KUBE_NAMESPACE: "db" }, /_KUBE_NAMESPACE is not supported: the Kubernetes store/],
  ];
  for (const c of COMMANDS)
    test.each(cases)(`${c}: %s`, async (_name, args, env, msg) => {
      const common = ["--cluster-name", "c1", "--store-endpoints", fx.etcd.endpoint];
      const backend = env.STORE_BACKEND !== undefined ? [] : ["--store-backend", "etcdv3"];
      const vars = Object.fromEntries(Object.entries(env).map(([k, v]) => [`${PREFIX[c]}_${k}`, v]));
      const r = await runCmd(c, [...common, ...backend, ...own(c), ...args, ...(c === "stolonctl" ? ["spec"] : [])], { env: vars });
      expect(r.code).toBe(1);
      const last = r.stderr.trim().split("\n").at(-1) ?? "";
      expect(last).toMatch(msg);
      if (env.STORE_BACKEND !== undefined) expect(last).toContain(`${PREFIX[c]}_STORE_BACKEND`);
      // Refused before anything was written.
      expect(await fx.kv.list("stolon/")).toEqual([]);
    });

  test("stolonctl register is refused with what to use instead", async () => {
    const r = await runCmd("stolonctl", [...fx.flags(), "register", "--register-backend", "consul", "--register-endpoints", "http://127.0.0.1:8500"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^stolonctl: stolonctl register \(service registration in consul\) is not supported: the proxies are the clients' entry point/);
  });
});

describe("stolon's deprecated flags start the daemons with a warning", () => {
  test("a keeper started with --id and --debug (no --uid) takes that uid and logs at debug level", async () => {
    const k = DaemonProcess.start("keeper", "kid", [
      ...fx.flags(),
      "--id", "kid1",
      "--debug",
      "--data-dir", join(root, "kid1"),
      "--pg-listen-address", "127.0.0.1",
      "--pg-port", String(freePort()),
      "--pg-bin-path", PG_BIN,
      ...passwordArgs(root),
    ]);
    try {
      // With no cluster data yet, the keeper waits, saying so at debug level every second.
      await waitFor("a debug line of keeper kid1", async () => /DEBUG +\[keeper kid1\]/.test(k.output) || undefined, 30_000, 200);
      expect(JSON.parse(readFileSync(join(root, "kid1", "keeperstate"), "utf8")).UID).toBe("kid1");
      expect(k.output).toContain("--id is deprecated: use --uid");
      expect(k.output).toContain("--debug is deprecated: use --log-level debug");
    } finally {
      expect(await k.stop()).toBe(0);
    }
  });

  test("STKEEPER_ID and STKEEPER_UID that differ stop the keeper before it touches anything", async () => {
    const r = await runCmd("keeper", [...fx.flags(), ...own("keeper")], { env: { STKEEPER_ID: "k1", STKEEPER_UID: "k2" } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n").at(-1)).toBe(`stolon-keeper: STKEEPER_UID "k2" and STKEEPER_ID "k1" differ: give only STKEEPER_UID`);
  });

  test("a proxy started with --debug logs at debug level: a client held while no master is routed", async () => {
    const port = freePort();
    const p = DaemonProcess.start("proxy", "proxy", [...fx.flags(), "--debug", "--port", String(port), "--hold-timeout", "1s"]);
    try {
      await waitFor("the proxy's warning", async () => p.output.includes("--debug is deprecated: use --log-level debug") || undefined, 15_000, 100);
      await waitFor("a held client's debug line", async () => {
        const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).catch(() => undefined);
        await Bun.sleep(300);
        s?.end();
        return p.output.includes("holding a client until a master is routed") || undefined;
      }, 20_000, 200);
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });
});

describe("stolonctl status in stolon's layout from a real etcd", () => {
  test("-f stolon and -f stolon-json on stolon-format cluster data and the infos stolon's daemons publish", async () => {
    // Its own cluster name, so the daemons above do not show up in it.
    const base = "stolon/cluster/c2";
    await fx.kv.put(`${base}/clusterdata`, loadStolonFixture("normal-one-failed").text);
    const infos = loadStolonInfos("normal-one-failed");
    for (const [uid, info] of Object.entries(infos.proxies)) await fx.kv.put(`${base}/proxies/info/${uid}`, JSON.stringify(info));
    const flags = ["--cluster-name", "c2", "--store-backend", "etcdv3", "--store-endpoints", fx.etcd.endpoint];
    const text = await runCmd("stolonctl", [...flags, "status", "-f", "stolon"]);
    expect(text.stderr).toBe("");
    expect(text.stdout).toBe(
      "=== Active sentinels ===\n\nNo active sentinels\n\n=== Active proxies ===\n\nID\n3b6d0c9e\n\n=== Keepers ===\n\n" +
        "UID\tHEALTHY\tPG LISTENADDRESS\tPG HEALTHY\tPG WANTEDGENERATION\tPG CURRENTGENERATION\n" +
        "keeper0\ttrue\t127.0.0.1:5432\t\ttrue\t\t3\t\t\t3\t\n" +
        "keeper1\ttrue\t127.0.0.1:5433\ttrue\t2\t2\t\n" +
        "keeper2\tfalse\t127.0.0.1:5434\tfalse\t2\t2\t\n" +
        "\n=== Cluster Info ===\n\nMaster Keeper: keeper0\n\n===== Keepers/DB tree =====\n\nkeeper0 (master)\n├─keeper1\n└─keeper2\n\n",
    );
    const json = await runCmd("stolonctl", [...flags, "status", "--format", "stolon-json"]);
    expect(JSON.parse(json.stdout).cluster).toEqual({ available: true, master_keeper_uid: "keeper0", master_db_uid: "9a3f1b20" });
    const bad = await runCmd("stolonctl", [...flags, "status", "-f", "yaml"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`stolonctl: --format: "yaml" is not one of text, json, stolon, stolon-json\n`);
  });
});

describe("a boolean flag with a value Go accepts means what it means in stolon", () => {
  test("clusterdata write -y=0 asks (and, with no terminal, refuses); -y=1 writes", async () => {
    const flags = ["--cluster-name", "c3", "--store-backend", "etcdv3", "--store-endpoints", fx.etcd.endpoint];
    const { text } = loadStolonFixture("new-cluster");
    await fx.kv.put("stolon/cluster/c3/clusterdata", text);
    const no = await runCmd("stolonctl", [...flags, "clusterdata", "write", "-y=0"], { stdin: text });
    expect(no.code).toBe(1);
    expect(no.stderr).toContain("cluster data already exists");
    const yes = await runCmd("stolonctl", [...flags, "clusterdata", "write", "--yes=True"], { stdin: text });
    expect(yes.stderr).toBe("");
    expect(yes.code).toBe(0);
  });
});
