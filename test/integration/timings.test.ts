/**
 * Bounded timings as an operator meets them: stolonctl against a real etcd refuses durations out
 * of range (spec and flags) with one line that names each field, the value and the bound; a spec
 * stored by an older version with a duration now out of range is still read (the daemons use the
 * value clamped to its range and the sentinel's notes say so), and `stolonctl update` repairs it.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { newClusterData } from "../../src/cluster/index.ts";
import type { EtcdBackend } from "../../src/store/index.ts";
import { runCmd } from "./harness/process.ts";
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
const stored = async () => (await kv.get(key))?.value ?? null;

describe("timings out of range", () => {
  test("init with durations out of range is refused, every one named with its bound; etcd stays empty", async () => {
    const spec = JSON.stringify({ initMode: "new", sleepInterval: "1ns", failInterval: "1s", proxyTimeout: "2562047h" });
    const r = await ctl([...flags, "init", "-y", spec]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`sleepInterval: "1ns" is below the minimum of 100ms`);
    expect(r.stderr).toContain(`failInterval: "1s" is below the minimum of 2s`);
    expect(r.stderr).toContain(`proxyTimeout: "2562047h" is above the maximum of 1h0m0s`);
    expect(await stored()).toBeNull();
  });

  test.each([
    ["1ns", `--store-timeout: "1ns" is below the minimum of 100ms`],
    ["2562047h", `--store-timeout: "2562047h" is above the maximum of 10m0s`],
  ])("--store-timeout %s is refused before etcd is contacted", async (value, msg) => {
    const r = await ctl([...flags, "--store-timeout", value, "status"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`stolonctl: ${msg}`);
  });

  test("a spec stored by an older version with failInterval 1s is still read (the daemons use 2s); update names it and repairs it", async () => {
    const old = newClusterData("cuid1", { initMode: "new", failInterval: "1s" }, new Date());
    await kv.put(key, JSON.stringify(old), { expectModRevision: 0 });

    // Readers do not stop on it: an upgrade must not turn every component off.
    const before = await ctl([...flags, "spec"]);
    expect(before.code).toBe(0);
    expect(JSON.parse(before.stdout)).toEqual({ initMode: "new", failInterval: "1s" });

    // A change that leaves it out of range is refused, naming it; the one that fixes it goes through.
    const upd = await ctl([...flags, "update", "-p", '{"sleepInterval":"2s"}']);
    expect(upd.code).toBe(1);
    expect(upd.stderr).toContain(`failInterval: "1s" is below the minimum of 2s`);
    const fix = await ctl([...flags, "update", "-p", '{"failInterval":"5s"}']);
    expect(fix.stderr).toBe("");
    expect(fix.code).toBe(0);

    const spec = await ctl([...flags, "spec"]);
    expect(spec.code).toBe(0);
    expect(JSON.parse(spec.stdout)).toEqual({ initMode: "new", failInterval: "5s" });
  });
});
