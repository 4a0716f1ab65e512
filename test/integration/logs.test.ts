/**
 * --log-format json on a real daemon: a sentinel against a real etcd writes nothing but JSON
 * objects, one per line, each naming its component, cluster and uid, from start-up to shutdown.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCmd } from "./harness/process.ts";
import { waitFor } from "../harness/util.ts";
import { etcdForFile } from "./harness/etcd.ts";
import { DaemonProcess, makeTestRoot } from "./harness/keeper.ts";

const root = makeTestRoot("logs");
const fx = etcdForFile("c1");
const flags = () => fx.flags();

describe("--log-format", () => {
  test("a sentinel started with --log-format json writes only JSON lines, each with its identity", async () => {
    const file = join(root, "spec.json");
    writeFileSync(file, JSON.stringify({ initMode: "new", sleepInterval: "1s" }));
    const s = DaemonProcess.start("sentinel", "s1", [...flags(), "--log-format", "json", "--log-color", "--initial-cluster-spec", file]);
    await waitFor("the cluster data", () => fx.store.getClusterData(), 15_000, 100);
    // Leader ticks log what they decide; wait for a few lines beyond start-up.
    await waitFor("a few log lines", () => s.output.split("\n").filter((l) => l !== "").length >= 3, 15_000, 100);
    expect(await s.stop()).toBe(0);

    const lines = s.output.split("\n").filter((l) => l !== "");
    const objects = lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });
    const uid = objects[0]?.uid;
    expect(typeof uid).toBe("string");
    for (const o of objects) {
      expect(Object.keys(o).slice(0, 6)).toEqual(["time", "level", "component", "cluster", "uid", "msg"]);
      expect(o).toMatchObject({ component: "sentinel", cluster: "c1", uid });
      expect(["debug", "info", "warn", "error"]).toContain(o.level as string);
      expect(Number.isNaN(Date.parse(o.time as string))).toBe(false);
    }
    expect(objects.some((o) => String(o.msg).includes("created from --initial-cluster-spec"))).toBe(true);
    // --log-color is accepted, and json is never coloured.
    expect(s.output).not.toContain("\u001b[");
  });

  test("an invalid --log-format is refused with one line naming the flag", async () => {
    const r = await runCmd("sentinel", [...flags(), "--log-format", "xml"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`--log-format: "xml" is not one of text, json`);
  });
});

describe("--log-format json to the last word", () => {
  test("a keeper that cannot start writes its warnings and the error that ends it as JSON lines", async () => {
    const file = join(root, "not-a-dir");
    writeFileSync(file, "");
    const r = await runCmd("keeper", [
      ...flags(), "--log-format", "json", "--data-dir", join(file, "data"), "--pg-listen-address", "127.0.0.1",
      "--pg-su-password", "su", "--pg-repl-username", "repl", "--pg-repl-password", "repl",
    ]);
    expect(r.code).toBe(1);
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    // The warnings (passwords on the command line, a loopback address), then the error.
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const objects = lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });
    for (const o of objects) expect(o).toMatchObject({ component: "keeper", cluster: "c1" });
    expect(objects.at(-1)).toMatchObject({ level: "error", msg: expect.stringContaining("stolon-keeper: --data-dir") });
  });
});
