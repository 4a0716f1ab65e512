/** stolon-proxy flags. */
import { expect, test } from "bun:test";
import { ConfigError } from "../../../src/lib/errors.ts";
import { resolveProxyConfig } from "../../../src/proxy/config.ts";

const base = { "cluster-name": "c1", "store-backend": "etcdv3" };

test("defaults are stolon's", () => {
  expect(resolveProxyConfig(base, {})).toMatchObject({ listenAddress: "127.0.0.1", port: 5432, stopListening: true, keepAliveIdleMs: 0, holdMs: 4000, warnings: [] });
});

test("--hold-timeout 0 closes a client at once and is allowed; STPROXY_HOLD_TIMEOUT is bounded too", () => {
  expect(resolveProxyConfig({ ...base, "hold-timeout": "0" }, {}).holdMs).toBe(0);
  expect(() => resolveProxyConfig(base, { STPROXY_HOLD_TIMEOUT: "100h" })).toThrow(/--hold-timeout: "100h" is above the maximum/);
});

test("STPROXY_ variables apply when the flag is absent", () => {
  const c = resolveProxyConfig({ ...base, port: "6000" }, { STPROXY_PORT: "7000", STPROXY_STOP_LISTENING: "false", STPROXY_TCP_KEEPALIVE_IDLE: "30" });
  expect(c).toMatchObject({ port: 6000, stopListening: false, keepAliveIdleMs: 30_000 });
});

test("keepalive count and interval are accepted with a warning (Bun fixes them)", () => {
  expect(resolveProxyConfig({ ...base, "tcp-keepalive-count": "3" }, {}).warnings[0]).toContain("--tcp-keepalive-count 3 is ignored");
});

test.each([
  [{ port: "0" }, /--port: must be an integer from 1 to 65535/],
  [{ "tcp-keepalive-idle": "-1" }, /--tcp-keepalive-idle: must be an integer from 0/],
  [{ "hold-timeout": "soon" }, /--hold-timeout/],
  [{ "hold-timeout": "1ns" }, /--hold-timeout: "1ns" is below the minimum of 100ms \(or 0 for no hold\)/],
  [{ "hold-timeout": "-1s" }, /--hold-timeout: must not be negative/],
  [{ "hold-timeout": "2562047h" }, /--hold-timeout: "2562047h" is above the maximum of 1h0m0s/],
  [{ "store-timeout": "24d" }, /--store-timeout: "24d" is not a duration/],
  [{ "store-timeout": "11m" }, /--store-timeout: "11m" is above the maximum of 10m0s/],
])("%p is refused", (over, msg) => {
  expect(() => resolveProxyConfig({ ...base, ...over }, {})).toThrow(ConfigError);
  expect(() => resolveProxyConfig({ ...base, ...over }, {})).toThrow(msg);
});
