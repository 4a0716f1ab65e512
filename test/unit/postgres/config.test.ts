/** postgresql.conf and pg_hba.conf rendering. */
import { describe, expect, test } from "bun:test";
import { buildParameters, quoteParameterValue, renderHba, renderPostgresqlConf, synchronousStandbyNames, type HbaInput, type ParameterInput } from "../../../src/postgres/index.ts";

const base: ParameterInput = Object.freeze({
  pgParameters: null,
  listenAddress: "10.0.0.1",
  port: 5433,
  socketDir: "/data/run",
  maxStandbys: 20,
  additionalWalSenders: 5,
  usePgrewind: false,
  synchronousStandbyNames: "",
  recovery: null,
});

describe("buildParameters", () => {
  test("managed parameters are set by the keeper", () => {
    const { params, ignored } = buildParameters(base);
    expect(params).toEqual({
      wal_level: "replica",
      hot_standby: "on",
      wal_keep_size: "128MB",
      wal_receiver_status_interval: "1s",
      wal_retrieve_retry_interval: "500ms",
      wal_receiver_timeout: "1000ms",
      unix_socket_directories: "/data/run",
      listen_addresses: "10.0.0.1",
      port: "5433",
      max_replication_slots: "20",
      max_wal_senders: "47",
      synchronous_standby_names: "",
    });
    expect(ignored).toEqual([]);
  });

  test.each([
    ["a user parameter is kept", { work_mem: "4MB" }, { work_mem: "4MB" }, []],
    ["a managed parameter is ignored and named", { port: "1", listen_addresses: "*" }, { port: "5433", listen_addresses: "10.0.0.1" }, ["port: managed by the keeper", "listen_addresses: managed by the keeper"]],
    ["recovery parameters are managed", { primary_conninfo: "host=evil" }, {}, ["primary_conninfo: managed by the keeper"]],
    ["include directives are refused", { include: "/etc/passwd" }, {}, ["include: managed by the keeper"]],
    ["a bad name is refused", { "a b": "1", "x\n": "2" }, {}, ['"a b": not a parameter name', '"x\\n": not a parameter name']],
    ["wal_level minimal is raised to replica", { wal_level: "minimal" }, { wal_level: "replica" }, []],
    ["wal_level logical is kept", { wal_level: "logical" }, { wal_level: "logical" }, []],
    ["the user's wal_keep_size wins", { wal_keep_size: "1GB" }, { wal_keep_size: "1GB" }, []],
    ["the user's wal_receiver_status_interval wins", { wal_receiver_status_interval: "10s" }, { wal_receiver_status_interval: "10s" }, []],
    ["the user's wal_retrieve_retry_interval wins", { wal_retrieve_retry_interval: "5s" }, { wal_retrieve_retry_interval: "5s" }, []],
    ["the user's wal_receiver_timeout wins", { wal_receiver_timeout: "60s" }, { wal_receiver_timeout: "60s" }, []],
    ["names are lower-cased", { Work_Mem: "8MB" }, { work_mem: "8MB" }, []],
  ] as const)("%s", (_, user, want, wantIgnored) => {
    const { params, ignored } = buildParameters({ ...base, pgParameters: { ...user } });
    expect(params).toMatchObject(want);
    expect(ignored).toEqual([...wantIgnored]);
  });

  test("initdb's parameters are included only when includePreviousConfig, and the spec's win", () => {
    const init = { datestyle: "iso, mdy", work_mem: "1MB" };
    expect(buildParameters({ ...base, initParameters: init, includePreviousConfig: false }).params).not.toHaveProperty("datestyle");
    const p = buildParameters({ ...base, initParameters: init, includePreviousConfig: true, pgParameters: { work_mem: "2MB" } }).params;
    expect(p).toMatchObject({ datestyle: "iso, mdy", work_mem: "2MB" });
  });

  test("usePgrewind sets wal_log_hints; a standby gets its recovery settings", () => {
    const p = buildParameters({
      ...base,
      usePgrewind: true,
      recovery: { primaryConninfo: "host='m' port='5432'", primarySlotName: "stolon_d2", recoveryMinApplyDelay: "5min" },
    }).params;
    expect(p).toMatchObject({
      wal_log_hints: "on",
      primary_conninfo: "host='m' port='5432'",
      primary_slot_name: "stolon_d2",
      recovery_min_apply_delay: "5min",
      recovery_target_timeline: "latest",
    });
  });

  test("a master has no recovery settings", () => {
    const p = buildParameters(base).params;
    expect(p).not.toHaveProperty("primary_conninfo");
    expect(p).not.toHaveProperty("recovery_target_timeline");
  });
});

test.each([
  [[], ""],
  [["stolon_b", "stolon_a"], '2 ("stolon_a","stolon_b")'],
  [["stolonfakestandby"], '1 ("stolonfakestandby")'],
])("synchronous_standby_names of %p", (names, want) => {
  expect(synchronousStandbyNames(names)).toBe(want);
});

describe("postgresql.conf values", () => {
  test.each([
    ["plain", "4MB", "'4MB'"],
    ["single quote", "it's", "'it''s'"],
    ["backslash", "C:\\x", "'C:\\\\x'"],
    ["newline cannot start a new setting", "x\nport = 1", "'x\\nport = 1'"],
    ["control characters are dropped", "a\u0001b", "'ab'"],
  ])("%s", (_, v, want) => {
    expect(quoteParameterValue(v)).toBe(want);
  });

  test("the file is sorted, one setting per line, with a header", () => {
    expect(renderPostgresqlConf({ b: "2", a: "it's" })).toBe(
      "# Written by stolon-keeper. Every change here is overwritten: use the cluster spec (stolonctl update).\na = 'it''s'\nb = '2'\n",
    );
  });
});

describe("pg_hba.conf", () => {
  const hba: HbaInput = Object.freeze({
    suUsername: "su",
    suAuthMethod: "md5",
    replUsername: "repl",
    replAuthMethod: "md5",
    accessMode: "all",
    standbyAddresses: [],
    isMaster: true,
    pgHBA: null,
    internalOnly: false,
  });
  const body = (h: Partial<HbaInput>) => renderHba({ ...hba, ...h }).text.split("\n").slice(1, -1);

  test("mode all: local and host rules for su and repl, then the md5 defaults when pgHBA is null", () => {
    expect(body({})).toEqual([
      'local postgres "su" md5',
      'local replication "repl" md5',
      'host all "su" 0.0.0.0/0 md5',
      'host replication "repl" 0.0.0.0/0 md5',
      'host all "su" ::0/0 md5',
      'host replication "repl" ::0/0 md5',
      "host all all 0.0.0.0/0 md5",
      "host all all ::0/0 md5",
    ]);
  });

  test("mode strict: on the master only the other DBs' addresses, /32 and /128", () => {
    expect(body({ accessMode: "strict", standbyAddresses: ["10.0.0.3", "fd00::2", "10.0.0.3", "bad host"], pgHBA: [] })).toEqual([
      'local postgres "su" md5',
      'local replication "repl" md5',
      'host all "su" 10.0.0.3/32 md5',
      'host replication "repl" 10.0.0.3/32 md5',
      'host all "su" fd00::2/128 md5',
      'host replication "repl" fd00::2/128 md5',
    ]);
    expect(body({ accessMode: "strict", isMaster: false, standbyAddresses: ["10.0.0.3"], pgHBA: [] })).toEqual([
      'local postgres "su" md5',
      'local replication "repl" md5',
    ]);
  });

  describe("strict mode with addresses from etcd, good and hostile", () => {
    const strict = (addrs: string[], h: Partial<HbaInput> = {}) => renderHba({ ...hba, accessMode: "strict", pgHBA: [], standbyAddresses: addrs, ...h });
    const rules = (r: { text: string }) => r.text.split("\n").filter((l) => l.startsWith("host all"));

    test.each([
      ["IPv6, canonical", "FD00:0:0::2", "fd00::2/128"],
      ["IPv4-mapped IPv6: the IPv4 address it stands for", "::ffff:10.0.0.4", "10.0.0.4/32"],
      ["IPv4-mapped IPv6 in hex", "::ffff:a00:5", "10.0.0.5/32"],
    ])("%s", (_, addr, cidr) => {
      const r = strict([addr]);
      expect(rules(r)).toEqual([`host all "su" ${cidr} md5`]);
      expect(r.text).toContain(`host replication "repl" ${cidr} md5`);
      expect(r.ignored).toEqual([]);
    });

    test.each([
      ["a suffix after an IPv4 address", "10.0.0.1.evil", /is not an IP address/],
      ["an octet above 255", "999.1.1.1", /is not an IP address/],
      ["a leading zero (octal to the C library)", "010.0.0.1", /is not an IP address/],
      ["hex digits only", "abc", /is not an IP address/],
      ["colons only", "::::", /is not an IP address/],
      ["a CIDR", "0.0.0.0/0", /is not an IP address/],
      ["a host name", "db1.example.com", /is not an IP address/],
      ["the unspecified address", "0.0.0.0", /is not a host address/],
      ["an IPv6 zone index", "fe80::1%eth0", /zone index/],
      ["an injected line", "10.0.0.1/32 trust\nhost all all 0.0.0.0/0", /is not an IP address/],
    ])("%s: no rule, named in ignored", (_, addr, why) => {
      const r = strict([addr, "10.0.0.9"]);
      expect(rules(r)).toEqual(['host all "su" 10.0.0.9/32 md5']);
      expect(r.ignored).toHaveLength(1);
      expect(r.ignored[0]).toMatch(why);
      expect(r.ignored[0]).toContain(JSON.stringify(addr));
    });

    test("the same host written twice gets one rule", () => {
      expect(rules(strict(["fd00::2", "FD00:0::2", "::ffff:10.0.0.3", "10.0.0.3"]))).toEqual(['host all "su" 10.0.0.3/32 md5', 'host all "su" fd00::2/128 md5']);
    });
  });

  describe("trust on host lines needs the opt-in", () => {
    test("mode all: without it trust on the local lines and loopback only, md5 users keep every address; with it trust everywhere", () => {
      expect(body({ suAuthMethod: "trust", pgHBA: [] })).toEqual([
        'local postgres "su" trust',
        'local replication "repl" md5',
        'host all "su" 127.0.0.0/8 trust',
        'host replication "repl" 0.0.0.0/0 md5',
        'host all "su" ::1/128 trust',
        'host replication "repl" ::0/0 md5',
      ]);
      expect(body({ suAuthMethod: "trust", replAuthMethod: "trust", trustOnNetwork: true, pgHBA: [] })).toEqual([
        'local postgres "su" trust',
        'local replication "repl" trust',
        'host all "su" 0.0.0.0/0 trust',
        'host replication "repl" 0.0.0.0/0 trust',
        'host all "su" ::0/0 trust',
        'host replication "repl" ::0/0 trust',
      ]);
    });

    test("strict mode without it: loopback standbys only, the others named", () => {
      const r = renderHba({ ...hba, accessMode: "strict", replAuthMethod: "trust", standbyAddresses: ["127.0.0.2", "10.0.0.3"], pgHBA: [] });
      expect(r.text.split("\n").filter((l) => l.startsWith("host"))).toEqual([
        'host all "su" 10.0.0.3/32 md5',
        'host all "su" 127.0.0.2/32 md5',
        'host replication "repl" 127.0.0.2/32 trust',
      ]);
      expect(r.ignored).toEqual(['strict mode: no trust rule for "repl" from 10.0.0.3/32: trust on the network needs --allow-trust-on-network']);
    });

    test("fenced without it: replication trust from loopback only", () => {
      expect(body({ fenced: true, replAuthMethod: "trust" }).filter((l) => l.startsWith("host"))).toEqual([
        'host replication "repl" 127.0.0.0/8 trust',
        'host replication "repl" ::1/128 trust',
      ]);
    });

    test("no line of any rendering gives trust to a non-loopback network without the opt-in", () => {
      for (const accessMode of ["all", "strict"] as const)
        for (const fenced of [false, true]) {
          const text = renderHba({ ...hba, accessMode, fenced, suAuthMethod: "trust", replAuthMethod: "trust", standbyAddresses: ["10.0.0.3", "::1"], pgHBA: [] }).text;
          for (const l of text.split("\n").filter((x) => x.startsWith("host") && x.endsWith("trust"))) expect(l).toMatch(/ (127\.0\.0\.0\/8|::1\/128) trust$/);
        }
    });
  });

  test("an empty pgHBA means no other access; user lines follow the keeper's; bad lines are ignored and named", () => {
    expect(body({ pgHBA: [] })).toHaveLength(6);
    const r = renderHba({ ...hba, pgHBA: ["host all app 10.0.0.0/8 scram-sha-256", "host all all 0.0.0.0/0 trust\nlocal all all trust"] });
    expect(r.text.split("\n").at(-2)).toBe("host all app 10.0.0.0/8 scram-sha-256");
    expect(r.ignored).toHaveLength(1);
    expect(r.text).not.toContain("trust");
  });

  test("fenced: replication and the local superuser only; no client can connect over TCP", () => {
    expect(body({ fenced: true, internalOnly: true, pgHBA: ["host all app 0.0.0.0/0 md5"] })).toEqual([
      'local postgres "su" md5',
      'local replication "repl" md5',
      'host replication "repl" 0.0.0.0/0 md5',
      'host replication "repl" ::0/0 md5',
    ]);
  });

  test("internal only: su and repl rules, nothing for other users", () => {
    expect(body({ internalOnly: true, pgHBA: ["host all app 0.0.0.0/0 md5"] })).toHaveLength(6);
  });

  test("trust is written as given, names are quoted", () => {
    expect(body({ suUsername: "my su", suAuthMethod: "trust" })[0]).toBe('local postgres "my su" trust');
  });
});
