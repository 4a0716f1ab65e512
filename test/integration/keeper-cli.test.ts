/**
 * stolon-keeper refuses to start on bad flags, each with one line naming the problem and exit
 * code 1, before it touches etcd or PostgreSQL.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCmd } from "./harness/etcd.ts";
import { makeTestRoot, passwordArgs } from "./harness/keeper.ts";

const root = makeTestRoot("keeper-cli");
const base = ["--cluster-name", "c1", "--store-backend", "etcdv3", "--store-endpoints", "http://127.0.0.1:9", "--pg-listen-address", "127.0.0.1"];
const empty = join(root, "empty.pw");
writeFileSync(empty, "\n");

describe("stolon-keeper start-up errors", () => {
  test.each([
    ["a missing password file", ["--pg-su-passwordfile", join(root, "nope.pw")], /--pg-su-passwordfile: cannot read ".*nope\.pw"/],
    ["an empty password file", ["--pg-repl-passwordfile", empty], /--pg-repl-passwordfile: ".*empty\.pw" is empty/],
    ["missing PostgreSQL binaries", ["--pg-bin-path", join(root, "no-bin")], /--pg-bin-path .*no-bin: missing PostgreSQL programs: postgres, initdb/],
    ["a bad uid", ["--uid", "Keeper-1"], /--uid: "Keeper-1" must match/],
    ["an unknown flag", ["--pg-pot", "5"], /unknown flag --pg-pot/],
  ])("%s", async (_, args, msg) => {
    // Later flags win in citty, so the case's flags override the defaults given first.
    const r = await runCmd("keeper", [...base, "--data-dir", join(root, "k"), ...passwordArgs(root), ...args]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(msg);
    // One error line (a loopback --pg-advertise-address warning may come before it).
    expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("stolon-keeper:"))).toHaveLength(1);
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(msg);
  });

  test("--help lists stolon's keeper flags", async () => {
    const r = await runCmd("keeper", ["--help"]);
    expect(r.code).toBe(0);
    for (const f of ["--pg-repl-passwordfile", "--pg-su-auth-method", "--can-be-synchronous-replica", "--disable-data-dir-locking", "--pg-os-user"])
      expect(r.stdout + r.stderr).toContain(f);
  });
});
