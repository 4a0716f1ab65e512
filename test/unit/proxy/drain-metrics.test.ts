/**
 * The proxy's switchover metrics, read from the Forwarder at scrape time, and its health details
 * during a hold.
 */
import { expect, test } from "bun:test";
import { createComponentMetrics } from "../../../src/lib/metrics.ts";
import { registerProxyMetrics, type Proxy } from "../../../src/proxy/index.ts";

const lines = (text: string) => text.split("\n").filter((l) => l && !l.startsWith("#"));

test("proxy: hold, draining, drained and cut-at-drain-time metrics", async () => {
  const forwarder = { accepted: 0, cut: 0, refused: 0, clientToServerBytes: 0, serverToClientBytes: 0, targetChanges: 0, connectionCount: 0, heldCount: 0, holdId: "sw1" as string | null, drainingCount: 2, drained: 7, drainCut: 1 };
  const proxy = { forwarder, serving: true, isFenced: false, lastValidClusterDataAt: 0 } as unknown as Proxy;
  const m = createComponentMetrics("proxy", "c1");
  registerProxyMetrics(m.registry, proxy);
  expect(lines(await m.registry.metrics())).toEqual(
    expect.arrayContaining([
      "stolon_proxy_switchover_hold 1",
      "stolon_proxy_connections_draining 2",
      "stolon_proxy_connections_drained_total 7",
      "stolon_proxy_connections_drain_cut_total 1",
    ]),
  );
  forwarder.holdId = null;
  forwarder.drainingCount = 0;
  expect(lines(await m.registry.metrics())).toEqual(expect.arrayContaining(["stolon_proxy_switchover_hold 0", "stolon_proxy_connections_draining 0"]));
});
