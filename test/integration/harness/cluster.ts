/**
 * A whole local cluster (the demo's: etcd, keepers, two sentinels, a proxy) for one test file:
 * started before its tests, stopped after them, in a test dir of its own.
 */
import { afterAll, beforeAll } from "bun:test";
import { join } from "node:path";
import type postgres from "postgres";
import type { ClusterSpec } from "../../../src/cluster/index.ts";
import { freeBasePort, LocalCluster, SU_PASSWORD } from "../../../scripts/local-cluster.ts";
import { makeTestRoot, requirePostgres } from "./keeper.ts";
import { queryOnce, superuserSql } from "./sql.ts";

export interface FileCluster {
  lc: LocalCluster;
  /** A client as the superuser on 127.0.0.1:port (the proxy's or a keeper's). */
  sqlTo: (port: number) => postgres.Sql;
  /** One statement on a fresh connection (closed after), as the superuser on 127.0.0.1:port. */
  query: <T = Record<string, unknown>>(port: number, text: string) => Promise<T[]>;
  /** The PostgreSQL port of a keeper. */
  portOf: (keeper: string) => number;
}

export function clusterForFile(
  name: string,
  o: { ports: [number, number]; keepers?: number; spec: ClusterSpec; keeperArgs?: Record<string, string[]>; readOnlyProxy?: string[] },
): FileCluster {
  requirePostgres();
  const root = makeTestRoot(name);
  const lc = new LocalCluster({ dir: join(root, "cluster"), basePort: freeBasePort(...o.ports), keepers: o.keepers, spec: o.spec, keeperArgs: o.keeperArgs, readOnlyProxy: o.readOnlyProxy });
  beforeAll(async () => {
    await lc.start();
  });
  afterAll(async () => {
    await lc.stop();
  });
  const sqlTo = (port: number) => superuserSql(port, SU_PASSWORD, { connect_timeout: 15 });
  return {
    lc,
    sqlTo,
    query: <T = Record<string, unknown>>(port: number, text: string) => queryOnce<T>(sqlTo(port), text),
    portOf: (keeper) => lc.ports.pg[lc.keeperNames.indexOf(keeper)]!,
  };
}
