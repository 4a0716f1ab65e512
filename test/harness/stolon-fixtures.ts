/**
 * The stolon-format fixtures (test/fixtures/stolon, see its README): cluster data and infos as
 * stolon v0.17's own daemons write them, for the tests of the sentinel, stolonctl and the proxy.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const STOLON_FIXTURES_DIR = join(import.meta.dir, "..", "fixtures", "stolon");

/** The cluster data fixtures, each `<name>.json`; all but new-cluster have `<name>.infos.json`. */
export const STOLON_CLUSTERS = ["new-cluster", "normal-one-failed", "synchronous", "existing"] as const;
export type StolonCluster = (typeof STOLON_CLUSTERS)[number];

/** The uids the fixtures share. */
export const STOLON_IDS = {
  clusterUID: "5e1c7d2a",
  masterDb: "9a3f1b20",
  standbyDb1: "c47e0d11",
  standbyDb2: "e2b85a07",
  proxy: "3b6d0c9e",
  sentinel: "71d0e4b2",
} as const;

/** A fixture file's text as stored, and its decoded JSON. */
export function loadStolonFixture(name: string): { text: string; json: unknown } {
  const text = readFileSync(join(STOLON_FIXTURES_DIR, `${name}.json`), "utf8");
  return { text, json: JSON.parse(text) };
}

/** The infos stolon's daemons publish for a cluster fixture, by uid (raw JSON values). */
export interface StolonInfos {
  keepers: Record<string, unknown>;
  proxies: Record<string, unknown>;
  sentinels: Record<string, unknown>;
}

export function loadStolonInfos(name: StolonCluster): StolonInfos {
  return loadStolonFixture(`${name}.infos`).json as StolonInfos;
}
