/**
 * The keeper's Patroni-compatible endpoints, table-driven: each case is a keeper status built from
 * a healthy master or a healthy streaming standby with only what matters changed, and the HTTP
 * status every path answers. Inputs are frozen, so a responder that mutates its input throws.
 */
import { describe, expect, test } from "bun:test";
import { parseLag, patroniResponse, patroniRoutes, PATRONI_PATHS, type PatroniBody } from "../../../src/keeper/patroni.ts";
import { isServingPrimary, type KeeperStatus } from "../../../src/keeper/status.ts";
import { makeStatus, masterStatus, MB, standbyStatus } from "../../harness/status-builders.ts";

const master = masterStatus;
const standby = standbyStatus;
const down = { postgresRunning: false, postgresHealthy: false, localRole: null } as const;

// Columns: the HTTP status of each path family for one keeper status.
type Row = [name: string, status: KeeperStatus, primary: number, replica: number, readOnly: number, sync: number, async: number, health: number];

const rows: Row[] = [
  //                                                                  primary replica r-o  sync async health
  ["healthy master", master(), 200, 503, 200, 503, 503, 200],
  ["streaming async standby", standby(), 503, 200, 200, 503, 200, 200],
  ["streaming sync standby", standby({ synchronous: true }), 503, 200, 200, 200, 503, 200],
  ["standby not streaming", standby({ streaming: false }), 503, 503, 503, 503, 503, 200],
  ["lagging standby (no ?lag bound)", standby({ replicationLagBytes: 100 * MB, replicationLagSeconds: 30 }), 503, 200, 200, 503, 200, 200],
  ["fenced master", master({ fenced: true }), 503, 503, 503, 503, 503, 200],
  ["master behind the view's latest generation (a follower added): still the master", master({ converged: false }), 200, 503, 200, 503, 503, 200],
  ["master whose local data is not the elected db", master({ converged: false, holdsDb: false }), 503, 503, 503, 503, 503, 200],
  ["unconverged standby (still a streaming standby)", standby({ converged: false }), 503, 200, 200, 503, 200, 200],
  ["running master not elected (replaced)", master({ elected: false, targetRole: "standby" }), 503, 503, 503, 503, 503, 200],
  ["running master with no cluster view", master({ elected: false, targetRole: null }), 503, 503, 503, 503, 503, 200],
  ["standby being promoted (view says master)", standby({ targetRole: "master", elected: true }), 503, 503, 503, 503, 503, 200],
  ["standby with no role in the view", standby({ targetRole: null }), 503, 503, 503, 503, 503, 200],
  ["master shutting down", master({ shuttingDown: true }), 503, 503, 503, 503, 503, 200],
  ["standby shutting down", standby({ shuttingDown: true }), 503, 503, 503, 503, 503, 200],
  ["master, PostgreSQL down", master(down), 503, 503, 503, 503, 503, 503],
  ["standby, PostgreSQL down", standby(down), 503, 503, 503, 503, 503, 503],
  ["master, PostgreSQL running but not answering", master({ postgresHealthy: false }), 503, 503, 503, 503, 503, 503],
  ["standby, PostgreSQL running but not answering", standby({ postgresHealthy: false }), 503, 503, 503, 503, 503, 503],
];

const families: [column: number, paths: string[]][] = [
  [2, ["/primary", "/master", "/leader"]],
  [3, ["/replica"]],
  [4, ["/read-only"]],
  [5, ["/sync", "/synchronous"]],
  [6, ["/async", "/asynchronous"]],
  [7, ["/health"]],
];

const q = (s = "") => new URLSearchParams(s);

describe("every path for every keeper status", () => {
  for (const row of rows) {
    for (const [col, paths] of families) {
      for (const path of paths) {
        test(`${row[0]}: ${path} -> ${row[col]}`, () => {
          expect<number>(patroniResponse(row[1], path, q()).status).toBe(row[col] as number);
        });
      }
    }
  }
});

test("/primary answers 200 exactly when isServingPrimary (stolon_keeper_serving_primary) holds", () => {
  for (const [name, s] of rows) expect([name, patroniResponse(s, "/primary", q()).status === 200]).toEqual([name, isServingPrimary(s)]);
});

describe("?lag= bounds replica-type answers", () => {
  const lagging = standby({ replicationLagBytes: 16 * MB });
  const cases: [name: string, s: KeeperStatus, path: string, query: string, want: number][] = [
    ["lag under the bound", lagging, "/replica", "lag=32MB", 200],
    ["lag equal to the bound", lagging, "/replica", "lag=16MB", 200],
    ["lag one byte over the bound", lagging, "/replica", `lag=${16 * MB - 1}`, 503],
    ["lag=1 on a lagging standby", lagging, "/replica", "lag=1", 503],
    ["lag=1GB on a lagging standby", lagging, "/replica", "lag=1GB", 200],
    ["lag=0 on a caught-up standby", standby({ replicationLagBytes: 0 }), "/replica", "lag=0", 200],
    ["unknown lag with a bound", standby({ replicationLagBytes: null }), "/replica", "lag=1GB", 503],
    ["unknown lag without a bound", standby({ replicationLagBytes: null }), "/replica", "", 200],
    ["read-only honours lag on a standby", lagging, "/read-only", "lag=1MB", 503],
    ["read-only ignores lag on the master", master({ replicationLagBytes: 0 }), "/read-only", "lag=0", 200],
    ["sync honours lag", standby({ synchronous: true, replicationLagBytes: 16 * MB }), "/sync", "lag=1kB", 503],
    ["async honours lag", lagging, "/async", "lag=1kB", 503],
    ["async within lag", lagging, "/asynchronous", "lag=1GiB", 200],
    ["primary ignores lag, even malformed", master(), "/primary", "lag=banana", 200],
    ["malformed lag on /replica is a bad request", standby(), "/replica", "lag=16XB", 400],
    ["malformed lag on /read-only of the master is a bad request", master(), "/read-only", "lag=-1", 400],
    ["repeated lag is a bad request", standby(), "/replica", "lag=1GB&lag=1", 400],
    ["empty lag is a bad request", standby(), "/replica", "lag=", 400],
    ["other parameters are ignored", standby(), "/replica", "foo=bar", 200],
  ];
  for (const [name, s, path, query, want] of cases) {
    test(`${name}: ${path}?${query} -> ${want}`, () => {
      expect<number>(patroniResponse(s, path, q(query)).status).toBe(want);
    });
  }

  test("a 400 names the problem, a 503 says why, both carry the status", () => {
    const bad = patroniResponse(standby(), "/replica", q("lag=16XB"));
    expect(bad.body.error).toContain('unknown unit "XB"');
    const over = patroniResponse(lagging, "/replica", q("lag=1MB"));
    expect(over.body.reason).toBe(`the replication lag ${16 * MB} bytes is over ${MB} bytes`);
    expect(over.body.replication_lag_bytes).toBe(16 * MB);
  });
});

describe("parseLag", () => {
  const good: [string, number][] = [
    ["0", 0],
    ["1", 1],
    ["1048576", MB],
    ["512kB", 512 * 1024],
    ["512KB", 512 * 1024],
    ["16MB", 16 * MB],
    ["16mb", 16 * MB],
    ["16 MB", 16 * MB],
    ["1GB", 1024 * MB],
    ["1TB", 1024 * 1024 * MB],
    ["100B", 100],
    ["16MiB", 16 * MB],
    ["1gib", 1024 * MB],
    ["1.5MB", 1.5 * MB],
    [" 7 ", 7],
    ["8191TB", 8191 * 1024 ** 4],
  ];
  for (const [input, bytes] of good) {
    test(`${JSON.stringify(input)} is ${bytes} bytes`, () => {
      expect(parseLag(input)).toEqual({ ok: true, bytes });
    });
  }
  const bad: [string, string][] = [
    ["", "it is empty"],
    ["  ", "it is empty"],
    ["-1", "it is negative"],
    ["-16MB", "it is negative"],
    ["NaN", "not a number of bytes"],
    ["Infinity", "not a number of bytes"],
    ["1e99", "not a number of bytes"],
    ["16XB", 'unknown unit "XB"'],
    ["16 M B", "not a number of bytes"],
    ["0x10", "not a number of bytes"],
    ["1,000", "not a number of bytes"],
    ["99999999999999999999", "too large"],
    ["8192TB", "too large"],
    ["1".repeat(500), "not a number of bytes"],
    ["16MB; DROP TABLE", "not a number of bytes"],
  ];
  for (const [input, problem] of bad) {
    test(`${JSON.stringify(input.slice(0, 30))} is refused: ${problem}`, () => {
      const r = parseLag(input);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.problem).toContain(problem);
        expect(r.problem.length).toBeLessThan(200);
      }
    });
  }
});

describe("bodies", () => {
  test("carry role, state, timeline, WAL position and lag", () => {
    const r = patroniResponse(standby({ synchronous: true }), "/replica", q());
    expect(r.body).toEqual({
      role: "standby",
      state: "running",
      timeline: 3,
      wal_position: 50_331_648,
      replication_lag_bytes: 4096,
      replication_lag_seconds: 0,
      keeper_uid: "k1",
      db_uid: "db1",
      cluster_name: "c1",
      synchronous: true,
      fenced: false,
      reason: "this keeper's PostgreSQL is a streaming standby",
    } satisfies PatroniBody);
  });
  const states: [string, KeeperStatus, PatroniBody["state"]][] = [
    ["running", master(), "running"],
    ["stopped", master(down), "stopped"],
    ["starting", standby({ postgresHealthy: false }), "starting"],
    ["fenced", master({ fenced: true }), "fenced"],
    ["stopping (wins over fenced)", master({ fenced: true, shuttingDown: true }), "stopping"],
  ];
  for (const [name, s, state] of states) {
    test(`state ${name}`, () => {
      expect(patroniResponse(s, "/health", q()).body.state).toBe(state);
    });
  }
  test("say why a master is not primary", () => {
    expect(patroniResponse(master({ fenced: true }), "/primary", q()).body.reason).toBe("the master is fenced (cut from etcd)");
    expect(patroniResponse(master({ converged: false, holdsDb: false }), "/primary", q()).body.reason).toBe("the local data is not (yet) the db the cluster view elects");
    expect(patroniResponse(master({ elected: false }), "/primary", q()).body.reason).toBe("this keeper's db is not the elected master");
  });
  test("an unknown path answers 503", () => {
    expect(patroniResponse(master(), "/nope", q()).status).toBe(503);
  });
});

describe("patroniRoutes", () => {
  test("serve every path, /liveness and /readiness from the keeper's checks, reading the status per request", async () => {
    let s = standby();
    let live = { ok: true, reason: "all loops run" };
    const ready = { ok: false, reason: "PostgreSQL has not converged" };
    const routes = patroniRoutes(() => s, () => live, () => ready);
    expect(Object.keys(routes).sort()).toEqual([...PATRONI_PATHS].sort());
    const get = async (path: string) => {
      const url = new URL(`http://127.0.0.1${path}`);
      const route = routes[url.pathname];
      if (!route) throw new Error(`no route ${url.pathname}`);
      const res = await route(url, new Request(url.href));
      return { status: res.status, body: (await res.json()) as PatroniBody, type: res.headers.get("content-type") };
    };
    expect((await get("/replica")).status).toBe(200);
    expect((await get("/replica?lag=1")).status).toBe(503);
    expect((await get("/replica?lag=1x")).status).toBe(400);
    expect((await get("/primary")).type).toBe("application/json");
    expect(await get("/liveness")).toMatchObject({ status: 200, body: { reason: "all loops run", role: "standby" } });
    expect(await get("/readiness")).toMatchObject({ status: 503, body: { reason: "PostgreSQL has not converged" } });
    live = { ok: false, reason: "loop report has not finished a pass for 9 s" };
    expect((await get("/liveness")).status).toBe(503);
    s = master();
    expect((await get("/primary")).status).toBe(200);
    expect((await get("/replica")).status).toBe(503);
  });
});

test("patroniRoutes answer 503 with the reason when the keeper cannot tell its status", async () => {
  const routes = patroniRoutes(() => {
    throw new Error("no observation yet");
  }, () => ({ ok: true, reason: "" }), () => ({ ok: true, reason: "" }));
  const url = new URL("http://127.0.0.1/primary");
  const res = await routes["/primary"]!(url, new Request(url.href));
  expect(res.status).toBe(503);
  expect(((await res.json()) as { reason: string }).reason).toBe("the keeper cannot tell its status: no observation yet");
});
