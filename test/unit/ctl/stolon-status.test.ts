/**
 * `stolonctl status -f stolon` and `-f stolon-json` (issue 16, item 5): stolon v0.17's layout
 * (cmd/stolonctl/cmd/status.go) byte for byte, on cluster data as stolon's own sentinel writes it.
 * The expected texts were worked out by hand from Go's text/tabwriter rules (minwidth 0,
 * tabwidth 8, padding 1, padchar '\t') and stolon's flush after every table row.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { parseClusterData } from "../../../src/cluster/index.ts";
import { goTabwriter, showStatus, stolonTree, type CtlIO, type StatusFormat } from "../../../src/ctl/index.ts";
import { FakeClock } from "../../../src/lib/clock.ts";
import { StolonError } from "../../../src/lib/errors.ts";
import { KvElection, KvStore, MemoryBackend, type Store } from "../../../src/store/index.ts";
import { caught } from "../../contract/caught.ts";
import { loadStolonFixture, loadStolonInfos, STOLON_IDS } from "../../harness/stolon-fixtures.ts";

/**
 * A three-keeper cluster, keeper2 failed, as stolon's sentinel writes it with encoding/json:
 * Go's field order, omitempty dropping false and zero (keeper2's healthy, its db's
 * currentGeneration), zero times, times with nanoseconds, nil slices as null.
 */
const stolonClusterData = {
  formatVersion: 1,
  changeTime: "2026-11-30T10:00:05.123456789Z",
  cluster: {
    uid: "6a8c3b2f",
    generation: 1,
    changeTime: "2026-11-30T09:00:00.5Z",
    spec: { sleepInterval: "5s", requestTimeout: "10s", failInterval: "20s", initMode: "new" },
    status: { currentGeneration: 1, phase: "normal", master: "d0a1b2c3" },
  },
  keepers: Object.fromEntries(
    ["keeper0", "keeper1", "keeper2"].map((uid, i) => [
      uid,
      {
        uid,
        generation: 1,
        changeTime: "0001-01-01T00:00:00Z",
        spec: {},
        status: {
          ...(i < 2 ? { healthy: true } : {}),
          lastHealthyTime: "2026-11-30T10:00:04.987654321Z",
          bootUUID: `b${i}`,
          postgresBinaryVersion: { Maj: 15, Min: 4 },
          canBeMaster: true,
          canBeSynchronousReplica: true,
        },
      },
    ]),
  ),
  dbs: {
    d0a1b2c3: stolonDb("d0a1b2c3", "keeper0", 2, { role: "master", initMode: "new", followers: ["d1e2f3a4", "d2f3a4b5"] }, { healthy: true, currentGeneration: 2, listenAddress: "10.0.0.10" }),
    d1e2f3a4: stolonDb("d1e2f3a4", "keeper1", 1, { role: "standby", initMode: "resync", followConfig: { type: "internal", dbuid: "d0a1b2c3" }, followers: [] }, { healthy: true, currentGeneration: 1, listenAddress: "10.0.0.11" }),
    d2f3a4b5: stolonDb("d2f3a4b5", "keeper2", 1, { role: "standby", initMode: "resync", followConfig: { type: "internal", dbuid: "d0a1b2c3" }, followers: [] }, { listenAddress: "10.0.0.12" }),
  },
  proxy: { generation: 3, changeTime: "2026-11-30T09:00:30.4Z", spec: { masterDbUid: "d0a1b2c3", enabledProxies: ["p1a2b3c4"] }, status: {} },
};

function stolonDb(uid: string, keeperUID: string, generation: number, spec: Record<string, unknown>, status: Record<string, unknown>) {
  return {
    uid,
    generation,
    changeTime: "2026-11-30T09:00:10.1Z",
    spec: {
      keeperUID,
      requestTimeout: "10s",
      maxStandbys: 20,
      additionalWalSenders: 5,
      additionalReplicationSlots: null,
      pgHBA: null,
      synchronousStandbys: null,
      externalSynchronousStandbys: null,
      ...spec,
    },
    status: { port: "5432", systemdID: "7300000000000000001", timelineID: 1, xLogPos: 50331800, synchronousStandbys: null, ...status },
  };
}

class CollectingIO implements CtlIO {
  text = "";
  out(text: string) {
    this.text += text;
  }
  readInput(): Promise<string> {
    throw new Error("no input");
  }
  async confirm() {
    return false;
  }
  now() {
    return new Date("2026-11-30T10:00:00Z");
  }
  newUid() {
    return "uid00000";
  }
}

let kv: MemoryBackend;
let store: Store;
const clock = new FakeClock();
const election = () => new KvElection(kv, "stolon/cluster/c1/sentinel-leader", clock, 20_000);
beforeEach(() => {
  kv = new MemoryBackend(clock);
  store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
});
afterEach(() => kv.close());

async function status(format: StatusFormat): Promise<string> {
  const io = new CollectingIO();
  await showStatus(store, election(), io, { format });
  return io.text;
}

/** The stolon-format cluster data in the store, two sentinels (the first one leads) and one proxy. */
async function stolonCluster(cd: unknown = stolonClusterData) {
  await kv.put("stolon/cluster/c1/clusterdata", JSON.stringify(cd));
  await store.setSentinelInfo({ UID: "5e4d5e6f" }, 20_000);
  await store.setSentinelInfo({ UID: "5e1a2b3c" }, 20_000);
  await store.setProxyInfo({ infoUID: "i1", UID: "p1a2b3c4", Generation: 3, ProxyTimeout: 15e9 }, 30_000);
  return election().campaign("5e1a2b3c", new AbortController().signal);
}

describe("status -f stolon", () => {
  test("a three-keeper cluster with a failed keeper, in stolon's layout byte for byte", async () => {
    const leadership = await stolonCluster();
    expect(await status("stolon")).toBe(
      [
        "=== Active sentinels ===",
        "",
        "ID\t\tLEADER",
        "5e1a2b3c\ttrue",
        "5e4d5e6f\tfalse",
        "",
        "=== Active proxies ===",
        "",
        "ID",
        "p1a2b3c4",
        "",
        "=== Keepers ===",
        "",
        "UID\tHEALTHY\tPG LISTENADDRESS\tPG HEALTHY\tPG WANTEDGENERATION\tPG CURRENTGENERATION",
        // stolon flushes its tabwriter after every row: the first row is aligned with the header,
        // each later one only with itself.
        "keeper0\ttrue\t10.0.0.10:5432\t\ttrue\t\t2\t\t\t2\t",
        "keeper1\ttrue\t10.0.0.11:5432\ttrue\t1\t1\t",
        "keeper2\tfalse\t10.0.0.12:5432\tfalse\t1\t0\t",
        "",
        "=== Cluster Info ===",
        "",
        "Master Keeper: keeper0",
        "",
        "===== Keepers/DB tree =====",
        "",
        "keeper0 (master)",
        "├─keeper1",
        "└─keeper2",
        "",
        "",
      ].join("\n"),
    );
    await leadership.resign();
  });

  test("no sentinels, proxies nor master: stolon's sentences", async () => {
    const cd = structuredClone(stolonClusterData) as Record<string, any>;
    cd.cluster.status = { phase: "initializing" };
    cd.keepers = {};
    cd.dbs = {};
    await kv.put("stolon/cluster/c1/clusterdata", JSON.stringify(cd));
    expect(await status("stolon")).toBe(
      "=== Active sentinels ===\n\nNo active sentinels\n\n=== Active proxies ===\n\nNo active proxies\n\n=== Keepers ===\n\nNo keepers available\n\nNo cluster available\n\n",
    );
  });

  test("a db without an address, a keeper without a db", async () => {
    const cd = structuredClone(stolonClusterData) as Record<string, any>;
    delete cd.dbs.d1e2f3a4.status.listenAddress;
    cd.keepers.keeper9 = { ...cd.keepers.keeper1, uid: "keeper9" };
    await kv.put("stolon/cluster/c1/clusterdata", JSON.stringify(cd));
    const text = await status("stolon");
    expect(text).toContain("\nkeeper1\ttrue\t(unknown)\ttrue\t1\t1\t\n");
    expect(text).toContain("\nkeeper9\ttrue\t(no db assigned)\tfalse\t0\t0\t\n");
  });

  test("a control character from etcd cannot break the table", async () => {
    const cd = structuredClone(stolonClusterData) as Record<string, any>;
    cd.dbs.d2f3a4b5.status.listenAddress = "10.0.0.12\n\tevil";
    await kv.put("stolon/cluster/c1/clusterdata", JSON.stringify(cd));
    expect(await status("stolon")).toContain("\nkeeper2\tfalse\t10.0.0.12\\n\\tevil:5432\tfalse\t1\t0\t\n");
  });

  test("an uninitialized cluster is an error, as in stolon", async () => {
    for (const format of ["stolon", "stolon-json"] as const) {
      const err = await caught(status(format));
      expect(err).toBeInstanceOf(StolonError);
      expect((err as StolonError).code).toBe("ENOCLUSTER");
    }
  });
});

describe("on the stolon-format fixtures (test/fixtures/stolon) with the infos stolon's daemons publish", () => {
  async function fixture(name: "normal-one-failed" | "synchronous") {
    await kv.put("stolon/cluster/c1/clusterdata", loadStolonFixture(name).text);
    const infos = loadStolonInfos(name);
    for (const kind of ["keepers", "sentinels", "proxies"] as const)
      for (const [uid, info] of Object.entries(infos[kind])) await kv.put(`stolon/cluster/c1/${kind}/info/${uid}`, JSON.stringify(info));
    return election().campaign(STOLON_IDS.sentinel, new AbortController().signal);
  }

  test("normal-one-failed: stolon's text", async () => {
    const leadership = await fixture("normal-one-failed");
    expect(await status("stolon")).toBe(
      "=== Active sentinels ===\n\nID\t\tLEADER\n71d0e4b2\ttrue\n\n=== Active proxies ===\n\nID\n3b6d0c9e\n\n=== Keepers ===\n\n" +
        "UID\tHEALTHY\tPG LISTENADDRESS\tPG HEALTHY\tPG WANTEDGENERATION\tPG CURRENTGENERATION\n" +
        "keeper0\ttrue\t127.0.0.1:5432\t\ttrue\t\t3\t\t\t3\t\n" +
        "keeper1\ttrue\t127.0.0.1:5433\ttrue\t2\t2\t\n" +
        "keeper2\tfalse\t127.0.0.1:5434\tfalse\t2\t2\t\n" +
        "\n=== Cluster Info ===\n\nMaster Keeper: keeper0\n\n===== Keepers/DB tree =====\n\nkeeper0 (master)\n├─keeper1\n└─keeper2\n\n",
    );
    await leadership.resign();
  });

  test("synchronous: stolon's JSON names the master", async () => {
    const leadership = await fixture("synchronous");
    const st = JSON.parse(await status("stolon-json"));
    expect(st.cluster).toEqual({ available: true, master_keeper_uid: "keeper0", master_db_uid: STOLON_IDS.masterDb });
    expect(st.sentinels).toEqual([{ uid: STOLON_IDS.sentinel, leader: true }]);
    expect(st.keepers.map((k: { uid: string }) => k.uid)).toEqual(["keeper0", "keeper1", "keeper2"]);
    await leadership.resign();
  });
});

describe("status -f stolon-json", () => {
  test("stolon's Status struct: its field names and order, tab indentation", async () => {
    const leadership = await stolonCluster();
    const text = await status("stolon-json");
    expect(JSON.parse(text)).toEqual({
      sentinels: [
        { uid: "5e1a2b3c", leader: true },
        { uid: "5e4d5e6f", leader: false },
      ],
      proxies: [{ uid: "p1a2b3c4", generation: 3 }],
      keepers: [
        { uid: "keeper0", listen_address: "10.0.0.10:5432", healthy: true, pg_healthy: true, pg_wanted_generation: 2, pg_current_generation: 2 },
        { uid: "keeper1", listen_address: "10.0.0.11:5432", healthy: true, pg_healthy: true, pg_wanted_generation: 1, pg_current_generation: 1 },
        { uid: "keeper2", listen_address: "10.0.0.12:5432", healthy: false, pg_healthy: false, pg_wanted_generation: 1, pg_current_generation: 0 },
      ],
      cluster: { available: true, master_keeper_uid: "keeper0", master_db_uid: "d0a1b2c3" },
    });
    expect(text).toStartWith('{\n\t"sentinels": [\n\t\t{\n\t\t\t"uid": "5e1a2b3c",\n\t\t\t"leader": true\n\t\t},');
    expect(text).toContain('\t"cluster": {\n\t\t"available": true,\n\t\t"master_keeper_uid": "keeper0",\n\t\t"master_db_uid": "d0a1b2c3"\n\t}\n}');
    await leadership.resign();
  });

  test("Go's HTML escaping in strings", async () => {
    const cd = structuredClone(stolonClusterData) as Record<string, any>;
    cd.dbs.d2f3a4b5.status.listenAddress = "<a&b>";
    await kv.put("stolon/cluster/c1/clusterdata", JSON.stringify(cd));
    expect(await status("stolon-json")).toContain('"listen_address": "\\u003ca\\u0026b\\u003e:5432"');
  });

  test("empty lists are [] as Go's make([]T, 0) marshals", async () => {
    const cd = structuredClone(stolonClusterData) as Record<string, any>;
    cd.keepers = {};
    await kv.put("stolon/cluster/c1/clusterdata", JSON.stringify(cd));
    const text = await status("stolon-json");
    expect(text).toContain('"sentinels": [],\n\t"proxies": [],\n\t"keepers": [],');
  });
});

describe("stolonTree", () => {
  const cd = () => parseClusterData(JSON.stringify(stolonClusterData));
  test("followers in their spec order, a missing one skipped as stolon does after removekeeper", () => {
    const c = cd();
    c.dbs.d0a1b2c3!.spec.followers = ["d2f3a4b5", "gone", "d1e2f3a4"];
    expect(stolonTree(c, "d0a1b2c3")).toEqual(["keeper0 (master)", "├─keeper2", "└─keeper1"]);
  });
  test("a cascade: deeper levels get │ under a non-last branch and spaces under the last", () => {
    const c = cd();
    c.dbs.d0a1b2c3!.spec.followers = ["d1e2f3a4"];
    c.dbs.d1e2f3a4!.spec.followers = ["d2f3a4b5"];
    expect(stolonTree(c, "d0a1b2c3")).toEqual(["keeper0 (master)", "└─keeper1", "  └─keeper2"]);
    c.dbs.d0a1b2c3!.spec.followers = ["d1e2f3a4", "x"];
    c.dbs.x = { ...structuredClone(c.dbs.d2f3a4b5!), uid: "x", spec: { ...c.dbs.d2f3a4b5!.spec, keeperUID: "keeperx", followers: [] } };
    expect(stolonTree(c, "d0a1b2c3")).toEqual(["keeper0 (master)", "├─keeper1", "│ └─keeper2", "└─keeperx"]);
  });
  test("a follower loop (stolon would recurse until it crashes) is not entered again; a db under two others is shown twice, as stolon does", () => {
    const c = cd();
    c.dbs.d1e2f3a4!.spec.followers = ["d0a1b2c3", "d2f3a4b5"];
    expect(stolonTree(c, "d0a1b2c3")).toEqual(["keeper0 (master)", "├─keeper1", "│ └─keeper2", "└─keeper2"]);
  });
});

describe("goTabwriter: Go's text/tabwriter with stolon's settings", () => {
  const cases: [string, string, string][] = [
    ["a column padded to its widest cell + 1, rounded up to 8", "abcdefgh\tx\ny\tz\n", "abcdefgh\tx\ny\t\tz\n"],
    ["a line without a tab ends the column block", "abcdefgh\tx\nplain\ny\tz\n", "abcdefgh\tx\nplain\ny\tz\n"],
    ["the text after the last tab is no column", "a\tlong text here\nb\tc\n", "a\tlong text here\nb\tc\n"],
    ["a trailing tab makes the last text a column", "ab\tcdefghijk\t\nx\ty\t\n", "ab\tcdefghijk\t\nx\ty\t\t\n"],
    ["widths count code points, as Go counts runes", "😀😀😀😀\tx\nabcdefg\tz\n", "😀😀😀😀\tx\nabcdefg\tz\n"],
    ["an empty cell is padded too", "\tx\nabcdefghij\ty\n", "\t\tx\nabcdefghij\ty\n"],
  ];
  test.each(cases)("%s", (_name, input, want) => {
    expect(goTabwriter(input)).toBe(want);
  });
});
