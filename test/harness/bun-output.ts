/**
 * Reading `bun test`'s output, for test/run.ts: the summary counts, and each failed test's error
 * so the end of a CI log (often all that is kept) says why, not only which.
 */

/** Counts from bun test's summary (" 12 pass", " 1 fail", " 2 skip"). */
export function bunCounts(output: string): { pass: number; fail: number; skip: number } {
  const n = (re: RegExp) => Number(re.exec(output)?.[1] ?? 0);
  return { pass: n(/^\s*(\d+) pass$/m), fail: n(/^\s*(\d+) fail$/m), skip: n(/^\s*(\d+) skip$/m) };
}

/** Lines kept from before a failure's excerpt: what the test printed last. */
const CONTEXT_LINES = 4;

/**
 * For every "(fail)" line of a bun test output, what bun printed between the line before it (a
 * test's result or a file's header) and it: from CONTEXT_LINES lines before the first source
 * excerpt or error line on (the last lines the test printed), without the stack frames inside
 * node_modules and the runtime, at most `maxLines` lines. bun lists the failed tests again at the
 * end without their errors; a name is reported once.
 */
export function failureDigests(output: string, maxLines = 24): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  let block: string[] = [];
  for (const line of output.split("\n")) {
    if (/^\((pass|skip|todo)\) /.test(line) || /^\S.*\.test\.tsx?:$/.test(line)) {
      block = [];
      continue;
    }
    if (!line.startsWith("(fail) ")) {
      block.push(line);
      continue;
    }
    const name = line.replace(/ \[[\d.]+m?s\]$/, "");
    const kept = block.filter((l) => l.trim() !== "" && !/^\s+at .*(node_modules\/|\(?internal:|\(?node:)/.test(l));
    block = [];
    if (seen.has(name) || kept.length === 0) continue;
    seen.add(name);
    const first = kept.findIndex((l) => /^\s*\d+ \| /.test(l) || /^(error|\w*Error)\b/.test(l));
    // What the test printed just before (its own figures, often what explains the error), a few lines.
    const body = first > 0 ? kept.slice(Math.max(0, first - CONTEXT_LINES)) : kept;
    const shown = body.length > maxLines ? [...body.slice(0, maxLines), `  ... (${body.length - maxLines} more lines)`] : body;
    out.push([line, ...shown].join("\n"));
  }
  return out;
}
