/** Keeper flags: every rule of §3.2, all problems at once. */
import { describe, expect, test } from "bun:test";
import { resolveKeeperConfig, type KeeperConfigEnv } from "../../../src/keeper/config.ts";
import { ConfigError } from "../../../src/lib/errors.ts";

const files: Record<string, string> = { "/pw/su": "s3cret\n", "/pw/repl": "r3pl\r\n", "/pw/empty": "\n", "/pw/multi": "a\nb\n" };
const env = (o: Partial<KeeperConfigEnv> = {}): KeeperConfigEnv => ({
  isRoot: false,
  currentUser: "alice",
  readFile: (p) => {
    if (!(p in files)) throw new Error("ENOENT: no such file");
    return files[p]!;
  },
  ...o,
});
const good = {
  "cluster-name": "c1",
  "store-backend": "etcdv3",
  "data-dir": "/data/k1",
  "pg-listen-address": "10.0.0.1",
  "pg-repl-username": "repl",
  "pg-repl-passwordfile": "/pw/repl",
  "pg-su-passwordfile": "/pw/su",
};

function problems(args: Record<string, unknown>, e = env(), vars: Record<string, string> = {}): string[] {
  try {
    resolveKeeperConfig(args, vars, e);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [...err.problems];
  }
}

describe("resolveKeeperConfig", () => {
  test("defaults", () => {
    const c = resolveKeeperConfig(good, {}, env());
    expect(c).toMatchObject({
      uid: undefined,
      dataDir: "/data/k1",
      pgListenAddress: "10.0.0.1",
      pgAdvertiseAddress: "10.0.0.1",
      pgPort: 5432,
      pgAdvertisePort: 5432,
      repl: { username: "repl", password: "r3pl", authMethod: "md5" },
      su: { username: "alice", password: "s3cret", authMethod: "md5" },
      pgOsUser: null,
      canBeMaster: true,
      canBeSynchronousReplica: true,
      disableDataDirLocking: false,
    });
  });

  test("as root, PostgreSQL runs as postgres, which is also the default superuser", () => {
    const c = resolveKeeperConfig(good, {}, env({ isRoot: true, currentUser: "root" }));
    expect(c.pgOsUser).toBe("postgres");
    expect(c.su.username).toBe("postgres");
    expect(problems({ ...good, "pg-os-user": "root" }, env({ isRoot: true }))).toEqual([expect.stringContaining("refuses to run as root")]);
  });

  test("STKEEPER_ environment variables apply when the flag is absent", () => {
    const c = resolveKeeperConfig({ ...good, "pg-port": "6000" }, { STKEEPER_PG_PORT: "7000", STKEEPER_UID: "k_env", STKEEPER_CAN_BE_MASTER: "false" }, env());
    expect(c.pgPort).toBe(6000);
    expect(c.uid).toBe("k_env");
    expect(c.canBeMaster).toBe(false);
  });

  test.each([
    ["a bad uid", { uid: "K-1" }, /--uid: "K-1" must match/],
    ["no data dir", { "data-dir": undefined }, /--data-dir is required/],
    ["no listen address", { "pg-listen-address": undefined }, /--pg-listen-address is required/],
    ["listen on * without advertise", { "pg-listen-address": "*" }, /--pg-advertise-address is required/],
    ["bad port", { "pg-port": "70000" }, /--pg-port: must be an integer from 1 to 65535/],
    ["no repl user", { "pg-repl-username": undefined }, /--pg-repl-username is required/],
    ["missing password file", { "pg-su-passwordfile": "/pw/none" }, /--pg-su-passwordfile: cannot read "\/pw\/none"/],
    ["empty password file", { "pg-su-passwordfile": "/pw/empty" }, /--pg-su-passwordfile: "\/pw\/empty" is empty/],
    ["password file with two lines", { "pg-repl-passwordfile": "/pw/multi" }, /contains a newline/],
    ["no password with md5", { "pg-su-passwordfile": undefined }, /--pg-su-password or --pg-su-passwordfile is required with the md5 auth method/],
    ["both password and file", { "pg-su-password": "x" }, /mutually exclusive/],
    ["trust with a password", { "pg-repl-auth-method": "trust" }, /a password must not be given with trust/],
    ["unknown auth method", { "pg-su-auth-method": "scram" }, /"scram" is not one of md5, trust/],
    ["same user, other password", { "pg-su-username": "repl" }, /their passwords must be the same/],
    ["quote in a user name", { "pg-su-username": 'a"b' }, /must not contain quotes/],
    ["another OS user without root", { "pg-os-user": "postgres" }, /only a keeper running as root/],
  ])("%s", (_, over, msg) => {
    const p = problems({ ...good, ...over });
    expect(p.join("\n")).toMatch(msg);
  });

  test("every problem is reported at once", () => {
    expect(problems({ "cluster-name": "c1", "store-backend": "etcdv3" })).toHaveLength(5);
  });

  test("trust needs no password; one role for both when the passwords match", () => {
    const c = resolveKeeperConfig(
      { ...good, "pg-su-username": "repl", "pg-su-passwordfile": undefined, "pg-su-password": "r3pl" },
      {},
      env(),
    );
    expect(c.su).toEqual({ username: "repl", password: "r3pl", authMethod: "md5" });
    const t = resolveKeeperConfig({ ...good, "pg-repl-passwordfile": undefined, "pg-repl-auth-method": "trust" }, {}, env());
    expect(t.repl).toEqual({ username: "repl", password: undefined, authMethod: "trust" });
  });

  test("a loopback advertise address is a warning, not an error", () => {
    expect(resolveKeeperConfig({ ...good, "pg-listen-address": "127.0.0.1" }, {}, env()).warnings[0]).toContain("loopback");
  });
});
