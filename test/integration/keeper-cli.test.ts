/**
 * stolon-keeper refuses to start on bad flags, each with one line naming the problem and exit
 * code 1, before it touches etcd or PostgreSQL.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCmd } from "./harness/process.ts";
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

  test("trust for a user over the network without --allow-trust-on-network: refused, saying why and which flag", async () => {
    const replArgs = passwordArgs(root).slice(4);
    const r = await runCmd("keeper", [...base, "--data-dir", join(root, "k"), "--pg-listen-address", "0.0.0.0", "--pg-advertise-address", "10.1.1.1", "--pg-su-auth-method", "trust", ...replArgs]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(
      /^stolon-keeper: --pg-su-auth-method trust: PostgreSQL listens on 0\.0\.0\.0, so trust would let anyone who can reach port 5432 connect with no password as the superuser, .* add --allow-trust-on-network$/,
    );
  });

  test("a password given as a flag: a warning that names --pg-su-passwordfile, without the password", async () => {
    const replArgs = passwordArgs(root).slice(4);
    // The missing binaries stop it after the warnings, before it touches etcd.
    const r = await runCmd("keeper", [...base, "--data-dir", join(root, "k"), "--pg-su-password", "s3cret-flag", ...replArgs, "--pg-bin-path", join(root, "no-bin")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--pg-su-password: a password on the command line can be read by every user of this host .* pass --pg-su-passwordfile instead/);
    expect(r.stderr).not.toContain("s3cret-flag");
  });

  test("--help lists stolon's keeper flags", async () => {
    const r = await runCmd("keeper", ["--help"]);
    expect(r.code).toBe(0);
    for (const f of ["--pg-repl-passwordfile", "--pg-su-auth-method", "--allow-trust-on-network", "--can-be-synchronous-replica", "--disable-data-dir-locking", "--pg-os-user"])
      expect(r.stdout + r.stderr).toContain(f);
  });
});
