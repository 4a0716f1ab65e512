/** stolon-proxy flags. */
import { expect, test } from "bun:test";
import { ConfigError } from "../../../src/lib/errors.ts";
import { resolveProxyConfig } from "../../../src/proxy/config.ts";

const base = { "cluster-name": "c1", "store-backend": "etcdv3" };

test("defaults are stolon's", () => {
  expect(resolveProxyConfig(base, {})).toMatchObject({ listenAddress: "127.0.0.1", port: 5432, stopListening: true, keepAliveIdleMs: 0, holdMs: 4000, maxConnections: 1000, maxHeld: 100, warnings: [] });
});

test("--hold-timeout 0 closes a client at once and is allowed; STPROXY_HOLD_TIMEOUT is bounded too", () => {
  expect(resolveProxyConfig({ ...base, "hold-timeout": "0" }, {}).holdMs).toBe(0);
  expect(() => resolveProxyConfig(base, { STPROXY_HOLD_TIMEOUT: "100h" })).toThrow(/--hold-timeout: "100h" is above the maximum/);
});

test("STPROXY_ variables apply when the flag is absent", () => {
  const c = resolveProxyConfig({ ...base, port: "6000" }, { STPROXY_PORT: "7000", STPROXY_STOP_LISTENING: "false", STPROXY_TCP_KEEPALIVE_IDLE: "30" });
  expect(c).toMatchObject({ port: 6000, stopListening: false, keepAliveIdleMs: 30_000 });
});

test("--max-connections and --max-held-connections, from flags or STPROXY_ variables", () => {
  expect(resolveProxyConfig({ ...base, "max-connections": "2", "max-held-connections": "0" }, {})).toMatchObject({ maxConnections: 2, maxHeld: 0 });
  expect(resolveProxyConfig(base, { STPROXY_MAX_CONNECTIONS: "50", STPROXY_MAX_HELD_CONNECTIONS: "7" })).toMatchObject({ maxConnections: 50, maxHeld: 7 });
});

test("more held clients than connections is allowed with a warning: the smaller limit applies", () => {
  expect(resolveProxyConfig({ ...base, "max-connections": "10" }, {}).warnings).toEqual([
    "--max-held-connections 100 is above --max-connections 10: at most 10 clients can wait",
  ]);
});

test("keepalive count and interval are accepted with a warning (Bun fixes them)", () => {
  expect(resolveProxyConfig({ ...base, "tcp-keepalive-count": "3" }, {}).warnings[0]).toContain("--tcp-keepalive-count 3 is ignored");
});

test.each([
  [{ port: "0" }, /--port: must be an integer from 1 to 65535/],
  [{ "tcp-keepalive-idle": "-1" }, /--tcp-keepalive-idle: must be an integer from 0/],
  [{ "hold-timeout": "soon" }, /--hold-timeout/],
  [{ "max-connections": "0" }, /--max-connections: must be an integer from 1 to 100000, got "0"/],
  [{ "max-connections": "100001" }, /--max-connections: must be an integer from 1 to 100000/],
  [{ "max-connections": "1e3" }, /--max-connections: must be an integer/],
  [{ "max-connections": "12abc" }, /--max-connections: must be an integer/],
  [{ "max-held-connections": "-1" }, /--max-held-connections: must be an integer from 0 to 100000, got "-1"/],
  [{ "max-held-connections": "many" }, /--max-held-connections: must be an integer/],
  [{ "hold-timeout": "1ns" }, /--hold-timeout: "1ns" is below the minimum of 100ms \(or 0 for no hold\)/],
  [{ "hold-timeout": "-1s" }, /--hold-timeout: must not be negative/],
  [{ "hold-timeout": "2562047h" }, /--hold-timeout: "2562047h" is above the maximum of 1h0m0s/],
  [{ "store-timeout": "24d" }, /--store-timeout: "24d" is not a duration/],
  [{ "store-timeout": "11m" }, /--store-timeout: "11m" is above the maximum of 10m0s/],
])("%p is refused", (over, msg) => {
  expect(() => resolveProxyConfig({ ...base, ...over }, {})).toThrow(ConfigError);
  expect(() => resolveProxyConfig({ ...base, ...over }, {})).toThrow(msg);
});

test("the read-only listener is off by default, its other flags then warned about", () => {
  expect(resolveProxyConfig(base, {}).readOnly).toBeNull();
  const c = resolveProxyConfig({ ...base, "read-only-fallback": "hold" }, { STPROXY_READ_ONLY_MAX_LAG: "1MB" });
  expect(c.readOnly).toBeNull();
  expect(c.warnings).toEqual(["STPROXY_READ_ONLY_MAX_LAG, --read-only-fallback ignored: there is no read-only listener without --read-only-port"]);
});

test("--read-only-port with its defaults, and every flag from STPROXY_READ_ONLY_*", () => {
  expect(resolveProxyConfig({ ...base, "listen-address": "10.0.0.5", "read-only-port": "5433" }, {}).readOnly).toEqual({
    listenAddress: "10.0.0.5",
    port: 5433,
    maxLagBytes: null,
    fallback: "master",
  });
  const env = { STPROXY_READ_ONLY_PORT: "6433", STPROXY_READ_ONLY_LISTEN_ADDRESS: "127.0.0.2", STPROXY_READ_ONLY_MAX_LAG: "16MB", STPROXY_READ_ONLY_FALLBACK: "refuse" };
  expect(resolveProxyConfig(base, env).readOnly).toEqual({ listenAddress: "127.0.0.2", port: 6433, maxLagBytes: 16 * 1024 * 1024, fallback: "refuse" });
});

test.each([
  [{ "read-only-port": "5432" }, /--read-only-port: 5432 is the read-write --port on the same address/],
  [{ "read-only-port": "70000" }, /--read-only-port: must be an integer from 0 to 65535/],
  [{ "read-only-port": "5433", "read-only-fallback": "primary" }, /--read-only-fallback: "primary" is not one of master, hold, refuse/],
  [{ "read-only-port": "5433", "read-only-max-lag": "16 parsecs" }, /--read-only-max-lag: "16 parsecs": unknown unit "parsecs"/],
  [{ "read-only-port": "5433", "read-only-max-lag": "-1" }, /--read-only-max-lag: "-1" is not a size/],
  [{ "read-only-port": "5433", "read-only-max-lag": "2TB" }, /--read-only-max-lag: "2TB" is 2199023255552 bytes, outside 0 to 1099511627776/],
])("read-only flags %p are refused, naming the flag", (flags, re) => {
  expect(() => resolveProxyConfig({ ...base, ...flags }, {})).toThrow(re);
});
