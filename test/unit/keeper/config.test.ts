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
      priority: 1,
      disableDataDirLocking: false,
    });
  });

  test("--priority, or STKEEPER_PRIORITY; 0 is allowed (never elected automatically)", () => {
    expect(resolveKeeperConfig({ ...good, priority: "5" }, {}, env()).priority).toBe(5);
    expect(resolveKeeperConfig(good, { STKEEPER_PRIORITY: "0" }, env()).priority).toBe(0);
    expect(resolveKeeperConfig({ ...good, priority: "7" }, { STKEEPER_PRIORITY: "3" }, env()).priority).toBe(7);
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
    ["negative priority", { priority: "-1" }, /--priority: must be an integer from 0 to 1000000, got "-1"/],
    ["priority too high", { priority: "1000001" }, /--priority: must be an integer from 0 to 1000000/],
    ["priority not an integer", { priority: "1.5" }, /--priority: must be an integer/],
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
    const t = resolveKeeperConfig({ ...good, "pg-listen-address": "127.0.0.1", "pg-repl-passwordfile": undefined, "pg-repl-auth-method": "trust" }, {}, env());
    expect(t.repl).toEqual({ username: "repl", password: undefined, authMethod: "trust" });
  });

  describe("trust and the network", () => {
    const trustSu = { ...good, "pg-su-passwordfile": undefined, "pg-su-auth-method": "trust" };
    const trustRepl = { ...good, "pg-repl-passwordfile": undefined, "pg-repl-auth-method": "trust" };

    test.each([
      ["su trust, listening on an address of the network", trustSu, "su", /PostgreSQL listens on 10\.0\.0\.1, so trust would let anyone who can reach port 5432 connect with no password as the superuser/],
      ["repl trust, listening on *", { ...trustRepl, "pg-listen-address": "*", "pg-advertise-address": "10.0.0.1" }, "repl", /as the replication user, who can copy every database/],
      ["repl trust, loopback and a network address", { ...trustRepl, "pg-listen-address": "127.0.0.1,10.0.0.1", "pg-advertise-address": "10.0.0.1" }, "repl", /listens on 127\.0\.0\.1,10\.0\.0\.1/],
      ["su trust, listening on a host name", { ...trustSu, "pg-listen-address": "db1.example" }, "su", /listens on db1\.example/],
      [
        "su trust, listening on loopback but advertised on the network (a relay)",
        { ...trustSu, "pg-listen-address": "127.0.0.1", "pg-advertise-address": "10.0.0.1" },
        "su",
        /listens on 127\.0\.0\.1 but is advertised on 10\.0\.0\.1 \(a relay brings it connections from the network\), so trust would/,
      ],
    ])("refused without the opt-in: %s", (_, args, who, msg) => {
      const p = problems(args);
      expect(p).toHaveLength(1);
      expect(p[0]).toMatch(msg);
      expect(p[0]).toContain(`--pg-${who}-auth-method trust:`);
      expect(p[0]).toContain(`--pg-${who}-passwordfile`);
      expect(p[0]).toContain("--allow-trust-on-network");
    });

    test.each([
      ["127.0.0.1"],
      ["::1"],
      ["localhost"],
      ["127.0.0.2,::1"],
    ])("allowed when PostgreSQL listens on loopback only (%s): not published as trust on the network", (listen) => {
      const c = resolveKeeperConfig({ ...trustSu, "pg-listen-address": listen, "pg-advertise-address": "127.0.0.1" }, {}, env());
      expect(c.su.authMethod).toBe("trust");
      expect(c.trustOnNetwork).toBe(false);
    });

    test("accepted with --allow-trust-on-network (or its env variable), published, with a warning per trusted user", () => {
      const c = resolveKeeperConfig({ ...trustSu, "pg-repl-passwordfile": undefined, "pg-repl-auth-method": "trust", "allow-trust-on-network": true }, {}, env());
      expect(c.trustOnNetwork).toBe(true);
      expect(c.warnings.filter((w) => w.startsWith("--allow-trust-on-network"))).toEqual([
        '--allow-trust-on-network: anyone who can reach port 5432 from any host connects with no password as the superuser, who can read and change every database and run programs as the PostgreSQL OS user ("alice")',
        '--allow-trust-on-network: anyone who can reach port 5432 from any host connects with no password as the replication user, who can copy every database with pg_basebackup ("repl")',
      ]);
      expect(resolveKeeperConfig(trustSu, { STKEEPER_ALLOW_TRUST_ON_NETWORK: "true" }, env()).trustOnNetwork).toBe(true);
    });

    test("the opt-in without any trust method changes nothing and says so", () => {
      const c = resolveKeeperConfig({ ...good, "allow-trust-on-network": true }, {}, env());
      expect(c.trustOnNetwork).toBe(false);
      expect(c.warnings).toContain("--allow-trust-on-network has no effect: neither --pg-su-auth-method nor --pg-repl-auth-method is trust");
    });
  });

  test("a password given as a flag is a warning that names the passwordfile flag; a file or the env variable is not", () => {
    const c = resolveKeeperConfig({ ...good, "pg-su-passwordfile": undefined, "pg-su-password": "s3cret" }, {}, env());
    expect(c.su.password).toBe("s3cret");
    expect(c.warnings).toEqual([
      "--pg-su-password: a password on the command line can be read by every user of this host (ps, /proc/<pid>/cmdline) and stays in shell history; put it in a file only the keeper can read and pass --pg-su-passwordfile instead",
    ]);
    const r = resolveKeeperConfig({ ...good, "pg-repl-passwordfile": undefined, "pg-repl-password": "r" }, {}, env());
    expect(r.warnings.join("\n")).toMatch(/^--pg-repl-password: .* pass --pg-repl-passwordfile instead$/);
    expect(resolveKeeperConfig(good, {}, env()).warnings).toEqual([]);
    const fromEnv = resolveKeeperConfig({ ...good, "pg-su-passwordfile": undefined }, { STKEEPER_PG_SU_PASSWORD: "s3cret" }, env());
    expect(fromEnv.warnings).toEqual([]);
  });

  test("a password whose SCRAM verifier the keeper cannot compute exactly is refused", () => {
    expect(problems({ ...good, "pg-su-passwordfile": undefined, "pg-su-password": "caf\u0065\u0301" }).join("\n")).toMatch(
      /--pg-su-password: the keeper cannot compute the SCRAM verifier PostgreSQL would for this password: .*NFKC/,
    );
    expect(problems({ ...good, "pg-su-passwordfile": undefined, "pg-su-password": "café" })).toEqual([]);
  });

  test("listen and advertise addresses are parsed: bad IP addresses are refused, host names and IPv4-mapped addresses are not", () => {
    const cases: [Record<string, string>, RegExp | null][] = [
      [{ "pg-listen-address": "999.1.1.1" }, /--pg-listen-address: "999\.1\.1\.1" is not a valid IPv4 address/],
      [{ "pg-listen-address": "010.0.0.1" }, /"010\.0\.0\.1" is not a valid IPv4 address/], // octal to the C library
      [{ "pg-listen-address": "fd00::1::2" }, /"fd00::1::2" is not a valid IPv6 address/],
      [{ "pg-listen-address": "127.0.0.1,a b", "pg-advertise-address": "127.0.0.1" }, /"a b" is neither an IP address nor a host name/],
      [{ "pg-listen-address": "127.0.0.1,10.0.0.1" }, /--pg-advertise-address is required/],
      [{ "pg-listen-address": "*", "pg-advertise-address": "10.0.0.1/8" }, /--pg-advertise-address: "10\.0\.0\.1\/8" is neither/],
      [{ "pg-listen-address": "*", "pg-advertise-address": "db-1.example.com" }, null],
      [{ "pg-listen-address": "::ffff:10.0.0.1" }, null],
      [{ "pg-listen-address": "127.0.0.1,10.0.0.1", "pg-advertise-address": "10.0.0.1" }, null],
    ];
    for (const [over, msg] of cases) {
      const p = problems({ ...good, ...over }).join("\n");
      if (msg === null) expect(p).toBe("");
      else expect(p).toMatch(msg);
    }
  });

  test("a loopback advertise address is a warning, not an error", () => {
    expect(resolveKeeperConfig({ ...good, "pg-listen-address": "127.0.0.1" }, {}, env()).warnings[0]).toContain("loopback");
  });
});
