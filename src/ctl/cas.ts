import type { ClusterData } from "../cluster/index.ts";
import { KeyModifiedError } from "../lib/errors.ts";
import type { Store } from "../store/index.ts";
import { requireClusterData } from "./spec.ts";

/** How many times a stolonctl change is applied before a lost compare-and-swap race is reported. */
export const CAS_ATTEMPTS = 3;

/**
 * stolonctl's one compare-and-swap loop: reads fresh cluster data, lets `change` modify it and
 * writes it on the revision read. When another writer got there first (KeyModifiedError) the
 * change is applied again to the fresh data, up to CAS_ATTEMPTS times in all; the last
 * KeyModifiedError, and any other error, is thrown as is.
 *
 * `change` returns the message to print once written, or null when there is nothing to write
 * (then nothing is written and nothing printed here). It may throw to refuse the change.
 */
export async function writeClusterDataWithRetry(
  store: Store,
  change: (cd: ClusterData) => string | null,
  out: (msg: string) => void,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const { clusterData: cd, revision } = await requireClusterData(store);
    const msg = change(cd);
    if (msg === null) return;
    try {
      await store.putClusterData(cd, revision);
      out(msg);
      return;
    } catch (err) {
      if (!(err instanceof KeyModifiedError) || attempt >= CAS_ATTEMPTS) throw err;
    }
  }
}
