import { describe, expect, test } from "bun:test";
import { resolveCommonConfig } from "../../../src/lib/config.ts";
import { ConfigError } from "../../../src/lib/errors.ts";
import { checkFlags, subcommandIndex } from "../../../src/lib/cli.ts";
import { commonArgs } from "../../../src/lib/config.ts";

const base = { "cluster-name": "c1", "store-backend": "etcdv3" };

function problems(args: Record<string, unknown>, env: Record<string, string> = {}): string[] {
  try {
    resolveCommonConfig(args, env, "STOLONCTL");
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
}

describe("resolveCommonConfig", () => {
  test("defaults", () => {
    const c = resolveCommonConfig(base, {}, "STOLONCTL");
    expect(c).toMatchObject({
      clusterName: "c1",
      storeBackend: "etcdv3",
      storeEndpoints: ["http://127.0.0.1:2379"],
      storePrefix: "stolon/cluster",
      storeTimeoutMs: 5000,
      storeSkipTlsVerify: false,
      logLevel: "info",
    });
  });

  test("precedence: flag > env > default", () => {
    const env = { STOLONCTL_STORE_PREFIX: "from/env", STOLONCTL_STORE_TIMEOUT: "2s", STKEEPER_STORE_PREFIX: "other/component" };
    const fromEnv = resolveCommonConfig(base, env, "STOLONCTL");
    expect(fromEnv.storePrefix).toBe("from/env");
    expect(fromEnv.storeTimeoutMs).toBe(2000);
    const fromFlag = resolveCommonConfig({ ...base, "store-prefix": "from/flag" }, env, "STOLONCTL");
    expect(fromFlag.storePrefix).toBe("from/flag");
  });

  test("env only for the component's own prefix, and empty env values are ignored", () => {
    expect(resolveCommonConfig({ "store-backend": "etcdv3" }, { STKEEPER_CLUSTER_NAME: "k" , STOLONCTL_CLUSTER_NAME: "ctl" }, "STOLONCTL").clusterName).toBe("ctl");
    expect(problems({ "store-backend": "etcdv3" }, { STOLONCTL_CLUSTER_NAME: "" })[0]).toContain("--cluster-name is required");
  });

  test("boolean env values", () => {
    expect(resolveCommonConfig(base, { STOLONCTL_STORE_SKIP_TLS_VERIFY: "true" }, "STOLONCTL").storeSkipTlsVerify).toBe(true);
    expect(problems(base, { STOLONCTL_STORE_SKIP_TLS_VERIFY: "maybe" })).toEqual([
      `STOLONCTL_STORE_SKIP_TLS_VERIFY: "maybe" is not a boolean (use true or false)`,
    ]);
  });

  // Issue 16: stolon's "etcd" means etcd v2, so it is no longer an alias of etcdv3 (test/unit/lib/stolon-flags.test.ts).
  test("etcd is not an alias of etcdv3", () => {
    expect(problems({ ...base, "store-backend": "etcd" })[0]).toContain(`unsupported backend "etcd": stolon's "etcd" means etcd v2`);
  });

  const bad: [string, Record<string, unknown>, string][] = [
    ["missing cluster name", { "store-backend": "etcdv3" }, "--cluster-name is required"],
    ["cluster name with a slash", { ...base, "cluster-name": "a/b" }, `--cluster-name: "a/b" must start`],
    ["missing backend", { "cluster-name": "c1" }, "--store-backend is required"],
    ["consul backend", { ...base, "store-backend": "consul" }, `unsupported backend "consul"`],
    ["bad endpoint", { ...base, "store-endpoints": "127.0.0.1:2379" }, `"127.0.0.1:2379" is not an endpoint URL`],
    ["mixed schemes", { ...base, "store-endpoints": "http://a:1,https://b:2" }, "same scheme"],
    ["bad timeout", { ...base, "store-timeout": "fast" }, `--store-timeout: "fast" is not a duration`],
    ["zero timeout", { ...base, "store-timeout": "0s" }, "--store-timeout: must be greater than zero"],
    ["1ns timeout", { ...base, "store-timeout": "1ns" }, `--store-timeout: "1ns" is below the minimum of 100ms`],
    ["negative timeout", { ...base, "store-timeout": "-5s" }, `--store-timeout: must not be negative, got "-5s"`],
    ["timeout of 2^31 ms", { ...base, "store-timeout": "2147483648ms" }, `--store-timeout: "2147483648ms" is above the maximum of 10m0s`],
    ["timeout of Go's longest duration", { ...base, "store-timeout": "2562047h" }, `--store-timeout: "2562047h" is above the maximum of 10m0s`],
    ["cert without key", { ...base, "store-endpoints": "https://a:1", "store-cert-file": "/etc/hostname" }, "must be given together"],
    ["missing CA file", { ...base, "store-endpoints": "https://a:1", "store-ca-file": "/nonexistent/ca.pem" }, `file "/nonexistent/ca.pem" does not exist`],
    ["bad log level", { ...base, "log-level": "verbose" }, `--log-level: "verbose" is not one of`],
  ];
  test.each(bad)("%s", (_n, args, msg) => {
    const p = problems(args);
    expect(p).toHaveLength(1);
    expect(p[0]).toContain(msg);
  });

  test("every problem at once", () => {
    expect(problems({ "store-backend": "zk", "store-timeout": "x", "log-level": "loud" })).toHaveLength(4);
  });
});

describe("checkFlags", () => {
  const defs = { ...commonArgs, yes: { type: "boolean", alias: "y" }, file: { type: "string", alias: "f" } } as const;
  test("accepts known flags, aliases, --flag=value and --no-bool", () => {
    checkFlags(["--cluster-name", "c1", "-y", "-f", "-", "--store-prefix=x", "--no-yes", "positional"], defs);
  });
  test("names every unknown flag", () => {
    expect(() => checkFlags(["--clustername", "c1", "--yes", "--bogus=1"], defs)).toThrow(
      "unknown flag --clustername; unknown flag --bogus",
    );
  });
  test("a value flag at the end without a value", () => {
    expect(() => checkFlags(["--cluster-name"], defs)).toThrow("flag --cluster-name needs a value");
  });
  test("subcommandIndex skips flag values", () => {
    expect(subcommandIndex(["--cluster-name", "c1", "--store-skip-tls-verify", "status", "-f", "json"], commonArgs)).toBe(3);
    expect(subcommandIndex(["--cluster-name=c1", "init"], commonArgs)).toBe(1);
    expect(subcommandIndex(["--cluster-name", "c1"], commonArgs)).toBe(-1);
  });
});
