/**
 * stolonctl as a user runs it: a real process against a real etcd. Every bad input gets a
 * one-line error that names the problem, exit code 1, and leaves etcd unchanged.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import type { EtcdBackend } from "../../src/store/index.ts";
import { runCmd } from "./harness/process.ts";
import { freePort } from "../harness/util.ts";
import { etcdForFile, type EtcdProcess } from "./harness/etcd.ts";

const file = etcdForFile();
let etcd: EtcdProcess;
let kv: EtcdBackend;
let flags: string[];
const key = "stolon/cluster/c1/clusterdata";

beforeAll(() => {
  ({ etcd, kv } = file);
  flags = file.flags();
});

const ctl = (args: string[], stdin?: string) => runCmd("stolonctl", args, { stdin });
const stored = async () => {
  const e = await kv.get(key);
  return e ? { value: e.value, rev: e.modRevision } : null;
};

/** Runs a command that must fail: exit 1, one stderr line naming `msg`, etcd untouched. */
async function refused(args: string[], msg: string | RegExp, stdin?: string) {
  const before = await stored();
  const r = await ctl(args, stdin);
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(msg);
  expect(await stored()).toEqual(before);
}

describe("stolonctl against a real etcd", () => {
  test("status on an empty store says the cluster is not initialized", async () => {
    const r = await ctl([...flags, "status"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Cluster not initialized at stolon/cluster/c1");
  });

  test("init -y, spec --defaults, update --patch, status (the quick path)", async () => {
    const init = await ctl([...flags, "init", "-y"]);
    expect(init.stderr).toBe("");
    expect(init.code).toBe(0);
    expect(init.stdout).toContain("cluster initialized at stolon/cluster/c1");

    const spec = await ctl([...flags, "spec", "--defaults"]);
    expect(spec.code).toBe(0);
    const full = JSON.parse(spec.stdout);
    expect(full).toMatchObject({ initMode: "new", failInterval: "5s", sleepInterval: "1s", maxStandbyLag: 1048576, proxyTimeout: "5s" });

    const upd = await ctl([...flags, "update", "--patch", '{"failInterval":"10s"}']);
    expect(upd.stderr).toBe("");
    expect(upd.stdout).toContain("cluster spec updated: failInterval");
    expect(JSON.parse((await ctl([...flags, "spec"])).stdout)).toEqual({ initMode: "new", failInterval: "10s" });

    const st = await ctl([...flags, "status"]);
    expect(st.code).toBe(0);
    expect(st.stdout).toContain("Phase: initializing");
    const js = JSON.parse((await ctl([...flags, "status", "-f", "json"])).stdout);
    expect(js.cluster.phase).toBe("initializing");
    expect(js.initialized).toBe(true);
  });

  test("flags can come from STOLONCTL_* and after the subcommand", async () => {
    const r = await runCmd("stolonctl", ["spec", "--store-endpoints", etcd.endpoint], {
      env: { STOLONCTL_CLUSTER_NAME: "c1", STOLONCTL_STORE_BACKEND: "etcdv3" },
    });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).initMode).toBe("new");
  });

  test("update replaces the spec from stdin; clusterdata read shows it", async () => {
    const r = await ctl([...flags, "update", "-f", "-"], '{"initMode":"new","failInterval":"7s","sleepInterval":"2s"}');
    expect(r.stderr).toBe("");
    const cd = JSON.parse((await ctl([...flags, "clusterdata", "read", "--pretty"])).stdout);
    expect(cd.cluster.spec).toEqual({ initMode: "new", failInterval: "7s", sleepInterval: "2s" });
    expect(cd.formatVersion).toBe(1);
  });

  describe("bad input: one clear line, exit 1, nothing written", () => {
    test("init over an existing cluster without -y", () => refused([...flags, "init"], /a cluster already exists at stolon\/cluster\/c1/));
    test("init -y with invalid JSON", () => refused([...flags, "init", "-y", "{initMode: new}"], /is not valid JSON/));
    test("init -y with an unknown field", () => refused([...flags, "init", "-y", '{"initMode":"new","sleepIntreval":"1s"}'], /unknown field "sleepIntreval"/));
    test("update with a bad duration", () => refused([...flags, "update", "-p", '{"failInterval":"10 seconds"}'], /failInterval: "10 seconds" is not a duration/));
    test("update with a bad enum value", () => refused([...flags, "update", "-p", '{"role":"primary"}'], /role: must be one of "master", "standby", got "primary"/));
    test("update with proxyCheckInterval >= proxyTimeout", () =>
      refused([...flags, "update", "-p", '{"proxyCheckInterval":"30s"}'], /proxyCheckInterval: must be less than proxyTimeout/));
    test("update that changes initMode", () =>
      refused([...flags, "update", "-p", '{"initMode":"existing","existingConfig":{"keeperUID":"k1"}}'], /initMode: cannot be changed/));
    test("update with several problems lists them on one line", () =>
      refused([...flags, "update", "-p", '{"failInterval":"x","maxStandbys":0}'], /failInterval.*; maxStandbys: must be at least 1/));
    test("clusterdata write without -y over existing data", async () =>
      refused([...flags, "clusterdata", "write"], /cluster data already exists/, (await stored())!.value));
    test("clusterdata write -y of invalid data", async () =>
      refused([...flags, "clusterdata", "write", "-y"], /cluster data has no cluster object/, JSON.stringify({ formatVersion: 1 })));
    test("an unknown flag", () => refused([...flags, "status", "--colour"], /unknown flag --colour/));
    test("an unknown subcommand", () => refused([...flags, "statuss"], /Unknown command statuss/));
    test("an unsupported store backend", () =>
      refused(["--cluster-name", "c1", "--store-backend", "consul", "spec"], /unsupported backend "consul"/));
    test("a missing cluster name", () => refused(["--store-backend", "etcdv3", "spec"], /--cluster-name is required/));

    test("an unreachable etcd fails within --store-timeout", async () => {
      const dead = `http://127.0.0.1:${freePort()}`;
      const t0 = performance.now();
      const r = await ctl(["--cluster-name", "c1", "--store-backend", "etcdv3", "--store-endpoints", dead, "--store-timeout", "1s", "spec"]);
      const elapsed = performance.now() - t0;
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`etcd at ${dead}`);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      // The process start is included; the store call itself is bounded by the 1 s timeout.
      expect(elapsed).toBeLessThan(8000);
    });

    test("cluster data with an unknown formatVersion", async () => {
      const good = (await stored())!.value;
      await kv.put(key, JSON.stringify({ ...JSON.parse(good), formatVersion: 2 }));
      await refused([...flags, "spec"], /unsupported cluster data formatVersion 2/);
      await refused([...flags, "update", "-p", '{"failInterval":"3s"}'], /unsupported cluster data formatVersion 2/);
      await refused([...flags, "status"], /unsupported cluster data formatVersion 2/);
      await kv.put(key, good);
    });

    test("cluster data with garbage bytes", async () => {
      const good = (await stored())!.value;
      await kv.put(key, "\u0001\u0002 not json");
      await refused([...flags, "spec"], /cluster data is not valid JSON/);
      await refused([...flags, "update", "-p", '{"failInterval":"3s"}'], /cluster data is not valid JSON/);
      await refused([...flags, "init"], /a cluster already exists/);
      // The repair path: write valid data over it with -y.
      const w = await ctl([...flags, "clusterdata", "write", "-y"], good);
      expect(w.stderr).toBe("");
      expect(JSON.parse((await ctl([...flags, "spec"])).stdout).initMode).toBe("new");
    });
  });

  test("version", async () => {
    const r = await ctl(["version"]);
    expect(r.stdout).toMatch(/^stolonctl version \d+\.\d+\.\d+ \(bun \d+\.\d+\.\d+\)/);
  });

  test("the daemons' entry points validate the common flags", async () => {
    for (const name of ["keeper", "sentinel", "proxy"] as const) {
      const r = await runCmd(name, ["--cluster-name", "c1", "--store-backend", "zookeeper"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`unsupported backend "zookeeper"`);
    }
  });
});
