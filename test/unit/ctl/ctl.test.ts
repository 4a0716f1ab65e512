import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { newClusterData } from "../../../src/cluster/index.ts";
import {
  collectStatus,
  confirmWipe,
  failKeeper,
  promoteCluster,
  removeKeeper,
  followerTree,
  initCluster,
  readClusterData,
  renderStatusText,
  showSpec,
  updateSpec,
  writeClusterData,
} from "../../../src/ctl/index.ts";
import { FakeClock } from "../../../src/lib/clock.ts";
import { KeyModifiedError, SpecError, StolonError } from "../../../src/lib/errors.ts";
import { KvElection, KvStore, MemoryBackend, type Store } from "../../../src/store/index.ts";
import { caught } from "../../contract/caught.ts";
import { ScriptedIO } from "../../harness/scripted-io.ts";

let kv: MemoryBackend;
let store: Store;
let io: ScriptedIO;
const clock = new FakeClock();
beforeEach(() => {
  kv = new MemoryBackend(clock);
  store = new KvStore(kv, { prefix: "stolon/cluster", clusterName: "c1" });
  io = new ScriptedIO();
});
afterEach(() => kv.close());

/** The raw stored value and revision, to prove that a refused command wrote nothing. */
const snapshot = () => store.getRawClusterData();

describe("init", () => {
  test("--if-absent creates a cluster without asking, and leaves an existing one untouched", async () => {
    await initCluster(store, io, { yes: false, ifAbsent: true, spec: '{"initMode":"new","sleepInterval":"2s"}' });
    expect(io.questions).toEqual([]);
    const first = await snapshot();
    expect((await store.getClusterData())!.clusterData.cluster.spec).toEqual({ initMode: "new", sleepInterval: "2s" });
    await initCluster(store, io, { yes: true, ifAbsent: true });
    expect(await snapshot()).toEqual(first);
    expect(io.lines[1]).toContain("left as it is");
  });

  test("with -y writes a new initializing cluster with the default spec", async () => {
    await initCluster(store, io, { yes: true });
    const cd = (await store.getClusterData())!.clusterData;
    expect(cd.cluster.spec).toEqual({ initMode: "new" });
    expect(cd.cluster.status.phase).toBe("initializing");
    expect(cd.cluster.uid).toBe("uid00000");
    expect(io.lines[0]).toContain("cluster initialized at stolon/cluster/c1");
  });

  test("asks for confirmation without -y; no answer means nothing written", async () => {
    await caught(initCluster(store, io, { yes: false })).then((e) => expect(e.message).toContain("not confirmed"));
    expect(io.questions).toHaveLength(1);
    expect(await snapshot()).toBeNull();
    io.answer = true;
    await initCluster(store, io, { yes: false });
    expect(await snapshot()).not.toBeNull();
  });

  test("refuses without -y when a cluster exists; -y replaces it", async () => {
    await initCluster(store, io, { yes: true });
    const before = await snapshot();
    io.answer = true;
    const err = await caught(initCluster(store, io, { yes: false, spec: '{"initMode":"new","failInterval":"3s"}' }));
    expect(err.message).toContain("a cluster already exists");
    expect(await snapshot()).toEqual(before);
    await initCluster(store, io, { yes: true, spec: '{"initMode":"new","failInterval":"3s"}' });
    expect((await store.getClusterData())!.clusterData.cluster.spec.failInterval).toBe("3s");
  });

  test("reads the spec from a file or stdin", async () => {
    io.inputs["-"] = '{"initMode":"new","sleepInterval":"1s"}';
    await initCluster(store, io, { yes: true, file: "-" });
    expect((await store.getClusterData())!.clusterData.cluster.spec.sleepInterval).toBe("1s");
  });

  const bad: [string, { spec?: string; file?: string }, string][] = [
    ["invalid JSON", { spec: "{initMode:new}" }, "the cluster spec (argument) is not valid JSON"],
    ["an unknown field", { spec: '{"initMode":"new","foo":1}' }, `unknown field "foo"`],
    ["a bad duration", { spec: '{"initMode":"new","failInterval":"fast"}' }, `failInterval: "fast" is not a duration`],
    ["proxyCheckInterval >= proxyTimeout", { spec: '{"initMode":"new","proxyCheckInterval":"20s"}' }, "proxyCheckInterval: must be less than proxyTimeout"],
    ["both argument and file", { spec: "{}", file: "x" }, "either as an argument or with --file"],
    ["a missing file", { file: "/nope.json" }, "cannot read cluster spec from file /nope.json"],
  ];
  test.each(bad)("refuses %s and writes nothing", async (_n, opts, msg) => {
    const err = await caught(initCluster(store, io, { yes: true, ...opts }));
    expect(err.message).toContain(msg);
    expect(await snapshot()).toBeNull();
  });
});

describe("spec and update", () => {
  beforeEach(() => initCluster(store, io, { yes: true, spec: '{"initMode":"new","pgParameters":{"work_mem":"4MB","max_connections":"100"}}' }));

  test("spec prints the stored spec; --defaults fills the rest", async () => {
    await showSpec(store, io, { defaults: false });
    expect(JSON.parse(io.lines.at(-1)!)).toEqual({ initMode: "new", pgParameters: { work_mem: "4MB", max_connections: "100" } });
    await showSpec(store, io, { defaults: true });
    const full = JSON.parse(io.lines.at(-1)!);
    expect(full.failInterval).toBe("5s");
    expect(full.maxStandbyLag).toBe(1048576);
  });

  test("a merge patch changes only what it names; null deletes", async () => {
    await updateSpec(store, io, { patch: true, spec: '{"failInterval":"10s","pgParameters":{"work_mem":null}}' });
    const cd = (await store.getClusterData())!.clusterData;
    expect(cd.cluster.spec).toEqual({ initMode: "new", failInterval: "10s", pgParameters: { max_connections: "100" } });
    expect(cd.cluster.generation).toBe(2);
    expect(io.lines.at(-1)).toBe("cluster spec updated: failInterval, pgParameters");
  });

  test("without --patch the spec is replaced", async () => {
    await updateSpec(store, io, { patch: false, spec: '{"initMode":"new","usePgrewind":true}' });
    expect((await store.getClusterData())!.clusterData.cluster.spec).toEqual({ initMode: "new", usePgrewind: true });
  });

  test("an unchanged spec is not rewritten", async () => {
    const before = await snapshot();
    await updateSpec(store, io, { patch: true, spec: '{"initMode":"new"}' });
    expect(io.lines.at(-1)).toBe("cluster spec unchanged");
    expect(await snapshot()).toEqual(before);
  });

  const bad: [string, { patch: boolean; spec?: string }, string][] = [
    ["invalid JSON", { patch: true, spec: "{" }, "the patch (argument) is not valid JSON"],
    ["a non-object patch", { patch: true, spec: "[1]" }, "the patch must be a JSON object"],
    ["an unknown field", { patch: true, spec: '{"failIntreval":"1s"}' }, `unknown field "failIntreval"`],
    ["a bad enum", { patch: true, spec: '{"defaultSUReplAccessMode":"none"}' }, "defaultSUReplAccessMode: must be one of"],
    ["proxyCheckInterval >= proxyTimeout", { patch: true, spec: '{"proxyCheckInterval":"5s"}' }, "proxyCheckInterval: must be less than proxyTimeout"],
    ["a change of initMode", { patch: true, spec: '{"initMode":"existing","existingConfig":{"keeperUID":"k1"}}' }, "initMode: cannot be changed"],
    ["master -> standby", { patch: false, spec: '{"initMode":"new","role":"standby","standbyConfig":{"standbySettings":{}}}' }, `role: "standby" cannot be used with initMode "new"`],
    ["no spec at all", { patch: true }, "no spec given"],
  ];
  test.each(bad)("refuses %s and writes nothing", async (_n, opts, msg) => {
    const before = await snapshot();
    const err = await caught(updateSpec(store, io, opts));
    expect(err.message).toContain(msg);
    expect(await snapshot()).toEqual(before);
  });

  test("a refused update lists every problem", async () => {
    const err = await caught(updateSpec(store, io, { patch: true, spec: '{"failInterval":"x","bogus":1}' }));
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).problems).toHaveLength(2);
  });

  test("a concurrent change is re-read and the patch re-applied", async () => {
    // A store that lets another writer in between the first read and write.
    let raced = false;
    const racing: Store = Object.create(store);
    racing.putClusterData = async (cd, rev) => {
      if (!raced) {
        raced = true;
        await updateSpec(store, new ScriptedIO(), { patch: true, spec: '{"sleepInterval":"2s"}' });
      }
      return store.putClusterData(cd, rev);
    };
    await updateSpec(racing, io, { patch: true, spec: '{"failInterval":"9s"}' });
    const spec = (await store.getClusterData())!.clusterData.cluster.spec;
    expect(spec.sleepInterval).toBe("2s");
    expect(spec.failInterval).toBe("9s");
  });

  test("gives up after three lost races", async () => {
    const losing: Store = Object.create(store);
    losing.putClusterData = async () => {
      throw new KeyModifiedError("k");
    };
    expect(await caught(updateSpec(losing, io, { patch: true, spec: '{"failInterval":"9s"}' }))).toBeInstanceOf(KeyModifiedError);
  });
});

describe("commands on unusable cluster data", () => {
  const cases: [string, string | null, string][] = [
    ["no cluster data", null, "no cluster data at stolon/cluster/c1"],
    ["garbage", "\u0000garbage", "cluster data is not valid JSON"],
    ["unknown formatVersion", JSON.stringify({ ...newClusterData("x", { initMode: "new" }, new Date()), formatVersion: 9 }), "unsupported cluster data formatVersion 9"],
  ];
  test.each(cases)("%s: spec and update fail clearly and write nothing", async (_n, raw, msg) => {
    if (raw !== null) await kv.put("stolon/cluster/c1/clusterdata", raw);
    const before = await snapshot();
    expect((await caught(showSpec(store, io, { defaults: false }))).message).toContain(msg);
    expect((await caught(updateSpec(store, io, { patch: true, spec: '{"failInterval":"1s"}' }))).message).toContain(msg);
    expect(await snapshot()).toEqual(before);
  });
});

describe("clusterdata read/write", () => {
  test("read prints the stored bytes, even garbage; --pretty needs JSON", async () => {
    await kv.put("stolon/cluster/c1/clusterdata", "garbage");
    await readClusterData(store, io, { pretty: false });
    expect(io.lines.at(-1)).toBe("garbage");
    expect((await caught(readClusterData(store, io, { pretty: true }))).message).toContain("not valid JSON");
  });

  test("write replaces garbage only with -y, and only with valid data", async () => {
    await kv.put("stolon/cluster/c1/clusterdata", "garbage");
    io.inputs["-"] = JSON.stringify(newClusterData("abcd", { initMode: "new" }, new Date()));
    expect((await caught(writeClusterData(store, io, { yes: false }))).message).toContain("already exists");
    io.inputs["bad.json"] = JSON.stringify({ formatVersion: 1 });
    expect((await caught(writeClusterData(store, io, { yes: true, file: "bad.json" }))).message).toContain("no cluster object");
    expect((await snapshot())?.value).toBe("garbage");
    await writeClusterData(store, io, { yes: true });
    expect((await store.getClusterData())?.clusterData.cluster.uid).toBe("abcd");
  });

  test("write checks every db spec, not only the cluster spec, and writes nothing when one is invalid", async () => {
    const cd = newClusterData("abcd", { initMode: "new" }, new Date());
    cd.cluster.status = { phase: "normal", master: "d1" };
    const spec = { keeperUID: "k1", requestTimeout: "10s", maxStandbys: 20, synchronousReplication: false, usePgrewind: false, additionalWalSenders: 5, initMode: "none" as const, role: "master" as const };
    cd.dbs = {
      d1: { uid: "d1", generation: 1, changeTime: "", spec, status: {} },
      d2: { uid: "d2", generation: 1, changeTime: "", spec: { ...spec, keeperUID: "k2", role: "boss" as "master", initMode: "resync", followConfig: { type: "internal", dbuid: "__x" } }, status: { xLogPos: -1 } },
    };
    await kv.put("stolon/cluster/c1/clusterdata", "garbage");
    io.inputs["-"] = JSON.stringify(cd);
    const err = await caught(writeClusterData(store, io, { yes: true }));
    expect(err.message).toContain(`dbs.d2.spec.role: must be one of "master", "standby", got "boss"`);
    expect(err.message).toContain("dbs.d2.status.xLogPos");
    expect((await snapshot())?.value).toBe("garbage");
  });
});

describe("status", () => {
  const election = () => new KvElection(kv, "stolon/cluster/c1/sentinel-leader", clock, 20_000);

  test("works on an empty store", async () => {
    const r = await collectStatus(store, election());
    expect(r.initialized).toBe(false);
    expect(renderStatusText(r)).toContain("Cluster not initialized at stolon/cluster/c1");
  });

  test("shows sentinels with the leader, proxies, keepers, the master and the follower tree", async () => {
    const cd = newClusterData("cccc0001", { initMode: "new" }, new Date());
    const db = (uid: string, keeperUID: string, role: "master" | "standby", followers: string[] = []) => ({
      uid,
      generation: 2,
      changeTime: "",
      spec: { keeperUID, requestTimeout: "10s", maxStandbys: 20, synchronousReplication: false, usePgrewind: false, additionalWalSenders: 5, initMode: "none" as const, role, followers },
      status: { healthy: true, currentGeneration: 2, listenAddress: "127.0.0.1", port: "5432" },
    });
    cd.cluster.status = { phase: "normal", master: "db1" };
    cd.dbs = { db1: db("db1", "k1", "master", ["db2", "db3"]), db2: db("db2", "k2", "standby"), db3: db("db3", "k3", "standby") };
    for (const k of ["k1", "k2", "k3"]) cd.keepers[k] = { uid: k, generation: 1, changeTime: "", spec: {}, status: { healthy: k !== "k3" } };
    cd.proxy.spec = { masterDbUid: "db1", enabledProxies: ["p1"] };
    cd.lastDecision = { time: "2026-11-25T12:00:00Z", sentinelUID: "s1", notes: ["db db1 elected master"] };
    await store.putClusterData(cd, 0);
    await store.setSentinelInfo({ UID: "s1" }, 20_000);
    await store.setSentinelInfo({ UID: "s2" }, 20_000);
    await store.setProxyInfo({ infoUID: "i", UID: "p1", Generation: 1, ProxyTimeout: 15e9 }, 30_000);
    const leadership = await election().campaign("s1", new AbortController().signal);

    const r = await collectStatus(store, election());
    expect(r.leader).toBe("s1");
    expect(r.sentinels).toEqual([{ uid: "s1", leader: true }, { uid: "s2", leader: false }]);
    expect(r.proxies).toEqual([{ uid: "p1", generation: 1, enabled: true }]);
    expect(r.cluster?.masterKeeper).toBe("k1");
    expect(r.keepers.map((k) => [k.uid, k.healthy, k.role])).toEqual([["k1", true, "master"], ["k2", true, "standby"], ["k3", false, "standby"]]);
    expect(r.tree).toEqual(["k1 (master)", "├─k2", "└─k3"]);
    const text = renderStatusText(r);
    expect(text).toContain("Master Keeper: k1");
    expect(text).toContain("db db1 elected master");
    await leadership.resign();
  });

  test("a keeper running with --allow-trust-on-network is named in the text and the json; a non-boolean flag is not taken for it", async () => {
    const info = (uid: string, extra: Record<string, unknown>) =>
      store.setKeeperInfo(
        { infoUID: "i", uid, clusterUID: "", bootUUID: "b", postgresBinaryVersion: { Maj: 15, Min: 4 }, postgresState: null, ...extra },
        20_000,
      );
    await info("k1", { trustOnNetwork: true });
    await info("k2", {});
    await info("k3", { trustOnNetwork: "yes" });
    const r = await collectStatus(store, election());
    // k3 may also be dropped as an invalid info: either way it is not shown as trusting.
    expect(r.keepers.filter((k) => k.trustOnNetwork).map((k) => k.uid)).toEqual(["k1"]);
    expect(r.keepers.find((k) => k.uid === "k2")?.trustOnNetwork).toBe(false);
    const warnings = renderStatusText(r).split("\n").filter((l) => l.includes("trust"));
    expect(warnings).toEqual(["WARNING: keeper k1 runs with --allow-trust-on-network: anyone who can reach its PostgreSQL port connects with no password"]);
  });

  test("the follower tree survives a follower cycle in bad data", () => {
    const cd = newClusterData("x", { initMode: "new" }, new Date());
    const spec = { keeperUID: "", requestTimeout: "", maxStandbys: 1, synchronousReplication: false, usePgrewind: false, additionalWalSenders: 0, initMode: "none" as const, role: "standby" as const };
    cd.cluster.status.master = "a";
    cd.dbs = {
      a: { uid: "a", generation: 1, changeTime: "", spec: { ...spec, keeperUID: "ka", followers: ["b"] }, status: {} },
      b: { uid: "b", generation: 1, changeTime: "", spec: { ...spec, keeperUID: "kb", followers: ["a"] }, status: {} },
    };
    expect(followerTree(cd)).toEqual(["ka (master)", "└─kb"]);
  });

  test("infos that fail their check are not shown as members but listed with the reason", async () => {
    await store.putClusterData(newClusterData("cccc0001", { initMode: "new" }, new Date()), 0);
    await kv.put("stolon/cluster/c1/keepers/info/__proto__", JSON.stringify({ uid: "__proto__", postgresState: "garbage" }));
    await kv.put("stolon/cluster/c1/keepers/info/k2", JSON.stringify({ uid: "k2", infoUID: "i", clusterUID: "cccc0001", bootUUID: "b", postgresBinaryVersion: { Maj: 15, Min: 0 }, postgresState: { xLogPos: "lots" } }));
    await kv.put("stolon/cluster/c1/proxies/info/p1", JSON.stringify({ UID: "p1", infoUID: "i", Generation: -3, ProxyTimeout: 1 }));
    const r = await collectStatus(store, election());
    expect(r.keepers).toEqual([]);
    expect(r.proxies).toEqual([]);
    const text = renderStatusText(r);
    expect(text).toContain(`keeper info "__proto__" ignored (treated as absent): infoUID: required`);
    expect(text).toContain(`keeper info "k2" ignored (treated as absent): postgresState.xLogPos: must be an integer`);
    expect(text).toContain(`proxy info "p1" ignored (treated as absent): Generation: must be an integer`);
  });

  test("garbage cluster data is an error, not a crash", async () => {
    await kv.put("stolon/cluster/c1/clusterdata", "][");
    const err = await caught(collectStatus(store, election()));
    expect(err).toBeInstanceOf(StolonError);
    expect(err.message).toContain("not valid JSON");
  });
});

describe("failkeeper, removekeeper, promote", () => {
  async function seed(role: "master" | "standby" = "master") {
    const cd = newClusterData("c1", role === "standby" ? { initMode: "pitr", role: "standby", pitrConfig: { dataRestoreCommand: "x" }, standbyConfig: { standbySettings: { primaryConninfo: "host=a" } } } : { initMode: "new" }, io.now());
    cd.cluster.status = { phase: "normal", master: "d1" };
    const k = (uid: string) => ({ uid, generation: 1, changeTime: "", spec: {}, status: { healthy: true } });
    cd.keepers = { k1: k("k1"), k2: k("k2") };
    const spec = { requestTimeout: "10s", maxStandbys: 20, synchronousReplication: false, usePgrewind: false, additionalWalSenders: 5, initMode: "none" as const };
    cd.dbs = {
      d1: { uid: "d1", generation: 3, changeTime: "", spec: { ...spec, keeperUID: "k1", role: "master", followers: ["d2"] }, status: {} },
      d2: { uid: "d2", generation: 1, changeTime: "", spec: { ...spec, keeperUID: "k2", role: "standby", followConfig: { type: "internal", dbuid: "d1" } }, status: {} },
    };
    await store.putClusterData(cd, 0);
  }
  const read = async () => (await store.getClusterData())!.clusterData;

  test("failkeeper marks the keeper failed; an unknown keeper is named in the error", async () => {
    await seed();
    await failKeeper(store, io, "k1");
    expect((await read()).keepers.k1!.status.forceFail).toBe(true);
    expect(io.lines.at(-1)).toContain("the sentinel will elect another master");
    const err = await caught(failKeeper(store, io, "k9"));
    expect(err).toBeInstanceOf(StolonError);
    expect((err as Error).message).toBe("keeper k9 is not in the cluster (keepers: k1, k2)");
  });

  test("removekeeper removes a standby's keeper and db, and refuses the master's", async () => {
    await seed();
    const refused = await caught(removeKeeper(store, io, "k1"));
    expect((refused as Error).message).toContain("keeper k1 holds the master db d1: fail it over first");
    await removeKeeper(store, io, "k2");
    const cd = await read();
    expect(Object.keys(cd.keepers)).toEqual(["k1"]);
    expect(Object.keys(cd.dbs)).toEqual(["d1"]);
    expect(cd.dbs.d1!.spec.followers).toEqual([]);
    expect(cd.dbs.d1!.generation).toBe(4);
  });

  test("promote: only a standby cluster, after confirmation or -y", async () => {
    await seed();
    expect(((await caught(promoteCluster(store, io, { yes: true }))) as Error).message).toContain("not a standby cluster");
    await kv.delete("stolon/cluster/c1/clusterdata");
    await seed("standby");
    io.answer = false;
    expect(((await caught(promoteCluster(store, io, { yes: false }))) as Error).message).toContain("promote cancelled");
    await promoteCluster(store, io, { yes: true });
    expect((await read()).cluster.spec.role).toBe("master");
  });
});

describe("confirm-wipe", () => {
  /** k1 held master db d1, which failed over to d2 on k2; the sentinel asks k1 to resync as d3. */
  async function seed(k1Reports: string | null = "d1") {
    const cd = newClusterData("c1", { initMode: "new" }, io.now());
    cd.cluster.status = { phase: "normal", master: "d2" };
    const k = (uid: string) => ({ uid, generation: 1, changeTime: "", spec: {}, status: { healthy: true } });
    cd.keepers = { k1: k("k1"), k2: k("k2"), k3: k("k3") };
    const spec = { requestTimeout: "10s", maxStandbys: 20, synchronousReplication: false, usePgrewind: false, additionalWalSenders: 5 };
    cd.dbs = {
      d2: { uid: "d2", generation: 3, changeTime: "", spec: { ...spec, initMode: "none", keeperUID: "k2", role: "master", followers: ["d3"] }, status: {} },
      d3: { uid: "d3", generation: 1, changeTime: "", spec: { ...spec, initMode: "resync", keeperUID: "k1", role: "standby", followConfig: { type: "internal", dbuid: "d2" } }, status: {} },
    };
    await store.putClusterData(cd, 0);
    if (k1Reports !== null) {
      const st = { uid: k1Reports, generation: 0, listenAddress: "a", port: "1", healthy: false, systemID: "", timelineID: 0, xLogPos: 0, timelinesHistory: null, pgParameters: null, synchronousStandbys: null, olderWalFile: "" };
      await store.setKeeperInfo({ infoUID: "i1", uid: "k1", clusterUID: "c1", bootUUID: "b1", postgresBinaryVersion: { Maj: 15, Min: 0 }, postgresState: st }, 10_000);
    }
  }
  const read = async () => (await store.getClusterData())!.clusterData;

  test("records leave for this keeper, the data it reports (db d1) and the db it is asked to become (d3)", async () => {
    await seed();
    await confirmWipe(store, io, "k1");
    expect((await read()).keepers.k1!.status.wipeConfirmation).toEqual({ dbUID: "d1", forDbUID: "d3", time: "2026-11-25T12:00:00.000Z" });
    expect(io.lines.at(-1)).toContain("keeper k1 may now remove the data of db d1 to become db d3 (a full copy)");
  });

  test("--db names the data when the keeper publishes no info", async () => {
    await seed(null);
    const err = await caught(confirmWipe(store, io, "k1"));
    expect((err as Error).message).toContain("keeper k1 publishes no info (is it running?): name the db whose data it holds with --db <uid>");
    await confirmWipe(store, io, "k1", { db: "d1" });
    expect((await read()).keepers.k1!.status.wipeConfirmation?.dbUID).toBe("d1");
  });

  test.each([
    ["an unknown keeper", "k9", undefined, /keeper k9 is not in the cluster/],
    ["a keeper without a db", "k3", "x1", /no db is assigned to keeper k3/],
    ["the master's keeper (initMode none: nothing replaces data)", "k2", "d2", /keeper k2 already holds db d2|replaces no data/],
    ["the cluster's current master as the data to wipe", "k1", "d2", /db d2 is this cluster's master/],
    ["the db the keeper is asked to become", "k1", "d3", /already holds db d3/],
    ["a malformed --db", "k1", "D;1", /--db: "D;1" is not a db uid/],
  ] as const)("refused: %s, and nothing written", async (_, keeper, db, msg) => {
    await seed();
    const before = await snapshot();
    const err = await caught(confirmWipe(store, io, keeper, db === undefined ? {} : { db }));
    expect(err).toBeInstanceOf(StolonError);
    expect((err as Error).message).toMatch(msg);
    expect(await snapshot()).toEqual(before);
  });
});
