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
