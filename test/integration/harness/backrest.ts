/**
 * pgBackRest for integration tests: scripts/backrest.ts (shared with the drill) with its
 * repository in a test dir of its own, removed after the test file.
 */
import { BackrestRepo } from "../../../scripts/backrest.ts";
import { makeTestRoot } from "./keeper.ts";

export * from "../../../scripts/backrest.ts";

/** A repository for test `name`, stanza `stanza`, in a test dir removed after the file. */
export function testBackrestRepo(name: string, stanza: string): BackrestRepo {
  return new BackrestRepo(makeTestRoot(`${name}-backrest`), stanza);
}
