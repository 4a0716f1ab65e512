/** stolon-proxy flags. */
import { expect, test } from "bun:test";
import { ConfigError } from "../../../src/lib/errors.ts";
import { resolveProxyConfig } from "../../../src/proxy/config.ts";

const base = { "cluster-name": "c1", "store-backend": "etcdv3" };

test("defaults are stolon's", () => {
  expect(resolveProxyConfig(base, {})).toMatchObject({ listenAddress: "127.0.0.1", port: 5432, stopListening: true, keepAliveIdleMs: 0, holdMs: 4000, warnings: [] });
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
])("%p is refused", (over, msg) => {
  expect(() => resolveProxyConfig({ ...base, ...over }, {})).toThrow(ConfigError);
  expect(() => resolveProxyConfig({ ...base, ...over }, {})).toThrow(msg);
});
