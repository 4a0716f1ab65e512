/**
 * A stolon user's dump on a real etcd, through the real stolonctl: `clusterdata write` of what
 * stolon's `clusterdata read` gave, then `clusterdata read` gives back every field; status and
 * spec read it with stolon's keepers and proxy publishing their infos; update changes only the
 * field asked for (test/fixtures/stolon).
 */
import { describe, expect, test } from "bun:test";
import { loadStolonFixture, loadStolonInfos, STOLON_CLUSTERS, STOLON_IDS } from "../harness/stolon-fixtures.ts";
import { GO_CLUSTER_DATA, goDecodeProblems } from "../harness/stolon-go-types.ts";
import { etcdForFile } from "./harness/etcd.ts";
import { runCmd } from "./harness/process.ts";

const file = etcdForFile();
const base = "stolon/cluster/c1";
const ctl = (args: string[], stdin?: string) => runCmd("stolonctl", [...file.flags(), ...args], { stdin });

async function write(name: string): Promise<unknown> {
  const { text, json } = loadStolonFixture(name);
  const w = await ctl(["clusterdata", "write", "-y"], text);
  expect(w.stderr).toBe("");
  expect(w.code).toBe(0);
  return json;
}

describe("stolon's cluster data through stolonctl on a real etcd", () => {
  test.each(STOLON_CLUSTERS)("%s: clusterdata write, then clusterdata read: every field intact", async (name) => {
    const json = await write(name);
    const r = await ctl(["clusterdata", "read"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(json);
    const pretty = await ctl(["clusterdata", "read", "--pretty"]);
    expect(JSON.parse(pretty.stdout)).toEqual(json);
  });

  test("status and spec, with stolon's keepers and proxy publishing", async () => {
    await write("normal-one-failed");
    const infos = loadStolonInfos("normal-one-failed");
    for (const [uid, i] of Object.entries(infos.keepers)) await file.kv.put(`${base}/keepers/info/${uid}`, JSON.stringify(i));
    for (const [uid, i] of Object.entries(infos.proxies)) await file.kv.put(`${base}/proxies/info/${uid}`, JSON.stringify(i));
    for (const [uid, i] of Object.entries(infos.sentinels)) await file.kv.put(`${base}/sentinels/info/${uid}`, JSON.stringify(i));

    const st = await ctl(["status", "-f", "json"]);
    expect(st.stderr).toBe("");
    const js = JSON.parse(st.stdout);
    expect(js.initialized).toBe(true);
    expect(js.cluster.phase).toBe("normal");
    expect(js.keepers.map((k: { uid: string }) => k.uid).sort()).toEqual(["keeper0", "keeper1", "keeper2"]);
    expect(js.proxies.map((p: { uid: string }) => p.uid)).toEqual([STOLON_IDS.proxy]);
    expect(js.invalidInfos ?? []).toEqual([]);
    const text = await ctl(["status"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("keeper0");
    expect(text.stdout).not.toContain("ignored");

    const spec = await ctl(["spec"]);
    expect(JSON.parse(spec.stdout)).toEqual((loadStolonFixture("normal-one-failed").json as Record<string, any>).cluster.spec);
  });

  test("update --patch changes the field asked for and nothing stolon wrote", async () => {
    const before = (await write("synchronous")) as Record<string, any>;
    const u = await ctl(["update", "--patch", '{"maxStandbyLag":2097152}']);
    expect(u.stderr).toBe("");
    expect(u.stdout).toContain("cluster spec updated: maxStandbyLag");
    const after = JSON.parse((await ctl(["clusterdata", "read"])).stdout);
    expect(after.cluster.spec).toEqual({ ...before.cluster.spec, maxStandbyLag: 2097152 });
    expect(after.cluster.generation).toBe(before.cluster.generation + 1);
    expect({ ...after, cluster: null }).toEqual({ ...before, cluster: null });
    expect(goDecodeProblems(after, GO_CLUSTER_DATA)).toEqual([]);
  });
});
