/** keeperstate / dbstate files, uid rules and the data dir lock. */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, linkSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  loadDbState,
  loadKeeperState,
  loadPitrFailure,
  lockDataDir,
  removePitrFailure,
  resolveKeeperUid,
  saveDbState,
  saveKeeperState,
  savePitrFailure,
} from "../../../src/keeper/local-state.ts";
import { attacker, mkfifo, snapshot } from "../../attacker.ts";

const dir = mkdtempSync(join(tmpdir(), "stolon-test-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("local state", () => {
  test("keeperstate and dbstate round-trip, 0600, with no temp file left", () => {
    expect(loadKeeperState(dir)).toBeNull();
    saveKeeperState(dir, { UID: "k1", ClusterUID: "c1" });
    expect(loadKeeperState(dir)).toEqual({ UID: "k1", ClusterUID: "c1" });
    const db = { UID: "d1", Generation: 3, Initializing: false, InitPGParameters: { work_mem: "4MB" } };
    saveDbState(dir, db);
    expect(loadDbState(dir)).toEqual(db);
    expect(statSync(join(dir, "dbstate")).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp"))).toEqual([]);
  });

  test("dbstate keeps what tells whether its data may be replaced; an invalid pending swap is a clear error", () => {
    const d = mkdtempSync(join(dir, "wipe-"));
    const db = { UID: "d1", Generation: 3, Initializing: false, InitPGParameters: null, ClusterUID: "c1", SystemID: "7001", WasMaster: true, Swap: { UID: "d2", ClusterUID: "c1", SystemID: "7001" } };
    saveDbState(d, db);
    expect(loadDbState(d)).toEqual(db);
    writeFileSync(join(d, "dbstate"), JSON.stringify({ ...db, Swap: { UID: 1 } }));
    expect(() => loadDbState(d)).toThrow(/Swap is not a valid pending swap/);
    // A dbstate written before these fields existed still loads, without them.
    writeFileSync(join(d, "dbstate"), '{"UID":"d1","Generation":1,"Initializing":false,"InitPGParameters":null}');
    expect(loadDbState(d)).toEqual({ UID: "d1", Generation: 1, Initializing: false, InitPGParameters: null });
  });

  test.each([
    ["not JSON", "{oops", /not valid JSON/],
    ["a bad uid", '{"UID":"K 1"}', /valid keeper uid/],
  ])("a keeperstate that is %s is a clear error", (_, content, msg) => {
    const d = mkdtempSync(join(dir, "bad-"));
    writeFileSync(join(d, "keeperstate"), content);
    expect(() => loadKeeperState(d)).toThrow(msg);
  });

  test.each([
    ["saved, no flag", { UID: "k1", ClusterUID: "" }, undefined, "k1"],
    ["saved, same flag", { UID: "k1", ClusterUID: "" }, "k1", "k1"],
    ["nothing saved, flag", null, "k2", "k2"],
    ["nothing saved, no flag", null, undefined, "gen"],
  ] as const)("uid: %s", (_, saved, flag, want) => {
    expect(resolveKeeperUid(saved, flag, () => "gen")).toBe(want);
  });

  test("a uid flag that differs from the saved one is refused, naming both", () => {
    expect(() => resolveKeeperUid({ UID: "k1", ClusterUID: "" }, "k2", () => "x")).toThrow(/--uid k2 does not match the uid k1/);
  });

  test("the data dir lock is exclusive and released", () => {
    const l = lockDataDir(dir);
    // flock locks belong to open files: a second open in the same process conflicts like another process would.
    expect(() => lockDataDir(dir)).toThrow(/locked by another keeper/);
    l.release();
    lockDataDir(dir).release();
  });
});

describe("local state files are never followed or read through what another user planted", () => {
  const victim = join(dir, "victim");
  const plantDir = () => {
    const d = mkdtempSync(join(dir, "planted-"));
    writeFileSync(victim, "precious\n", { mode: 0o644 });
    return d;
  };

  test.each([
    ["a link", (p: string) => symlinkSync(victim, p), /symbolic link/],
    ["a FIFO (must not hang)", (p: string) => mkfifo(p), /FIFO/],
    ["a hard link", (p: string) => linkSync(victim, p), /hard links/],
  ] as const)("%s at keeperstate, dbstate or lock is a clear error; the victim is unchanged", (_, plant, msg) => {
    const d = plantDir();
    const before = snapshot(victim);
    for (const name of ["keeperstate", "dbstate", "lock"]) plant(join(d, name));
    expect(() => loadKeeperState(d)).toThrow(msg);
    expect(() => loadDbState(d)).toThrow(msg);
    expect(() => lockDataDir(d)).toThrow(msg);
    saveKeeperState(d, { UID: "k1", ClusterUID: "" });
    expect(loadKeeperState(d)).toEqual({ UID: "k1", ClusterUID: "" });
    expect(snapshot(victim)).toEqual(before);
  });

  test("a state file of another user is refused", () => {
    if (!attacker) return;
    const d = plantDir();
    writeFileSync(join(d, "keeperstate"), '{"UID":"k9"}');
    chownSync(join(d, "keeperstate"), attacker.uid, attacker.gid);
    expect(() => loadKeeperState(d)).toThrow(/owned by uid/);
  });
});

describe("pitrfailure: a failed pitr init survives a keeper restart", () => {
  test("saved, loaded as it was, removed", () => {
    const d = mkdtempSync(join(dir, "pitr-"));
    expect(loadPitrFailure(d)).toBeNull();
    const f = { dbUid: "d1", phase: "failed" as const, since: "2026-12-01T08:00:00.000Z", detail: 'the dataRestoreCommand "false" exited with code 1', output: "tar: x" };
    savePitrFailure(d, f);
    expect(loadPitrFailure(d)).toEqual(f);
    removePitrFailure(d);
    expect(loadPitrFailure(d)).toBeNull();
    removePitrFailure(d);
  });

  test.each([
    ["not JSON", "{", /not valid JSON/],
    ["no db uid", JSON.stringify({ since: "x", detail: "y" }), /not a valid pitr failure record; remove it/],
  ])("a damaged record is an error that says what to do: %s", (_, text, message) => {
    const d = mkdtempSync(join(dir, "pitr-bad-"));
    writeFileSync(join(d, "pitrfailure"), text);
    expect(() => loadPitrFailure(d)).toThrow(message);
  });
});
