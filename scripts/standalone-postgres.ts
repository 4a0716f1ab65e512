/**
 * A PostgreSQL server made and run directly with PgManager (no keeper), for tests and benchmarks
 * that only need a server: superuser "stolon", trust from 127.0.0.1 and the local socket. As root
 * it runs as the "postgres" OS user, which then owns `stateDir`.
 */
import { chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../src/lib/log.ts";
import { BunCommandRunner, lookupUserByName, PgManager, renderPostgresqlConf } from "../src/postgres/index.ts";

export const PG_BIN = "/usr/lib/postgresql/15/bin";

export async function startStandalonePostgres(stateDir: string, port: number, params: Record<string, string> = {}): Promise<PgManager> {
  const osUser = process.getuid?.() === 0 ? lookupUserByName("postgres") : null;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  if (osUser) chownSync(stateDir, osUser.uid, osUser.gid);
  const socketDir = join(stateDir, "run");
  const pg = new PgManager({
    binDir: PG_BIN,
    stateDir,
    socketDir,
    port,
    runner: new BunCommandRunner(osUser),
    su: { username: "stolon" },
    repl: { username: "stolon" },
    log: createLogger("warn"),
  });
  await pg.initdb({});
  pg.writeConfig({
    postgresqlConf: renderPostgresqlConf({ listen_addresses: "127.0.0.1", port: String(port), unix_socket_directories: socketDir, fsync: "off", ...params }),
    hba: "local all all trust\nhost all all 127.0.0.1/32 trust\n",
    standby: false,
  });
  await pg.start();
  await pg.waitReady(30_000);
  return pg;
}
