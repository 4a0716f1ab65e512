/**
 * stolon-sentinel's start-up: a bad --initial-cluster-spec is refused with one line naming the
 * problem; a good one creates the cluster when the store has none, and only then.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCmd } from "./harness/process.ts";
import { waitFor } from "../harness/util.ts";
import { etcdForFile } from "./harness/etcd.ts";
import { DaemonProcess, makeTestRoot } from "./harness/keeper.ts";

const root = makeTestRoot("sentinel-cli");
const fx = etcdForFile("c1");
const flags = () => fx.flags();

describe("stolon-sentinel start-up", () => {
  test.each([
    ["a missing file", "nope.json", null, /--initial-cluster-spec: cannot read ".*nope\.json"/],
    ["not JSON", "bad.json", "{oops", /--initial-cluster-spec .*bad\.json: not JSON/],
    ["an invalid spec", "invalid.json", '{"initMode":"new","sleepInterval":"soon"}', /--initial-cluster-spec .*invalid\.json: sleepInterval/],
  ])("%s is refused", async (_, name, content, msg) => {
    const file = join(root, name);
    if (content !== null) writeFileSync(file, content);
    const r = await runCmd("sentinel", [...flags(), "--initial-cluster-spec", file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(msg);
  });

  test("a valid --initial-cluster-spec creates the cluster in an empty store", async () => {
    const file = join(root, "spec.json");
    writeFileSync(file, JSON.stringify({ initMode: "new", sleepInterval: "1s", synchronousReplication: true }));
    const s = DaemonProcess.start("sentinel", "s1", [...flags(), "--initial-cluster-spec", file]);
    const v = await waitFor("the cluster data", () => fx.store.getClusterData(), 15_000, 100);
    expect(v.clusterData.cluster.status.phase).toBe("initializing");
    expect(v.clusterData.cluster.spec).toMatchObject({ initMode: "new", synchronousReplication: true });
    expect(await s.stop()).toBe(0);
    expect(s.output).toContain("created from --initial-cluster-spec");
  });
});
