/**
 * The error a promise rejects with (fails the test if it resolves).
 * Bun's `expect(promise).rejects` waits without running I/O, so a promise that needs the network
 * (a real etcd) never settles inside it: tests await the rejection themselves with this.
 */
export async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the promise to reject, but it resolved");
}
