/**
 * The one timeout race: `p`, or the error `onTimeout()` makes once `ms` have passed, whichever
 * comes first. The timer is cleared either way, so a settled race leaves nothing pending. `p` is
 * not cancelled: a caller whose work holds a resource (a connection, a request) drops it on the
 * timeout error itself.
 */
export async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
