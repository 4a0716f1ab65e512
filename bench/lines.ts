/**
 * The lines of a byte stream (a child's stdout, stdin), as they arrive, without their "\n"; a
 * last line without one is not yielded. For the benchmarks' child processes (relays, CPU hogs).
 */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
}
