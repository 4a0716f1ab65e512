/**
 * pgBackRest for integration tests: scripts/backrest.ts (shared with the drill) with its
 * repository in a test dir of its own, removed after the test file.
 */
import { BackrestRepo } from "../../../scripts/backrest.ts";
import { waitFor } from "../../harness/util.ts";
import { makeTestRoot } from "./keeper.ts";

export * from "../../../scripts/backrest.ts";

/** A repository for test `name`, stanza `stanza`, in a test dir removed after the file. */
export function testBackrestRepo(name: string, stanza: string): BackrestRepo {
  return new BackrestRepo(makeTestRoot(`${name}-backrest`), stanza);
}

/** One statement on a fresh connection to 127.0.0.1:port (FileCluster.query). */
type Query = <T = Record<string, unknown>>(port: number, text: string) => Promise<T[]>;

/** Closes the current WAL segment of the master on `port` and waits until its archiver has pushed it; its name. */
export async function switchWalAndWaitArchived(query: Query, port: number): Promise<string> {
  const [sw] = await query<{ f: string }>(port, "select pg_walfile_name(pg_switch_wal()) as f");
  await waitFor(`${sw!.f} archived`, async () => {
    const [a] = await query<{ last_archived_wal: string | null }>(port, "select last_archived_wal from pg_stat_archiver");
    return a?.last_archived_wal !== null && a!.last_archived_wal! >= sw!.f;
  }, 30_000, 200);
  return sw!.f;
}
