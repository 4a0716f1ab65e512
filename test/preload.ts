/**
 * Loaded before the tests (bunfig.toml [test] preload). Bun loads the harness module once per run,
 * so its per-file cleanup hook only covers the first file that loads it; this runs the harness
 * cleanup once more after the whole run, so no process or temp dir a test registered is left.
 */
import { afterAll } from "bun:test";
import { cleanUpHarness } from "./integration/harness/process.ts";

afterAll(cleanUpHarness);
