/**
 * SQL clients for integration tests: one postgres.js client as the superuser (user "stolon") on
 * 127.0.0.1, and one statement on a fresh connection. Every setting is explicit, so nothing is
 * read from the PG* environment.
 */
import postgres from "postgres";

/**
 * A one-connection client as "stolon" on 127.0.0.1:port; `password` is the cluster's superuser
 * password (the keeper harness's or the local cluster's), `o` overrides any setting.
 */
export function superuserSql(port: number, password: string | undefined, o: postgres.Options<{}> = {}): postgres.Sql {
  return postgres({
    host: "127.0.0.1",
    port,
    database: "postgres",
    username: "stolon",
    password,
    max: 1,
    connect_timeout: 5,
    idle_timeout: 5,
    fetch_types: false,
    onnotice: () => {},
    ...o,
  });
}

/** Runs one statement on `sql` and closes it (the instance may have restarted since the last one). */
export async function queryOnce<T = Record<string, unknown>>(sql: postgres.Sql, text: string): Promise<T[]> {
  try {
    return (await sql.unsafe(text)) as unknown as T[];
  } finally {
    await sql.end({ timeout: 1 });
  }
}
