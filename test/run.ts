/**
 * `npm test`: type check, unit tests, integration tests (real etcd, real PostgreSQL), the docker
 * compose demo in containers (test/docker), then one closing line "N passed, N failed" for the
 * whole run. Exits non-zero on any failure.
 * Extra arguments are passed to `bun test` as filters, e.g. `npm test -- spec`.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { bunCounts, failureDigests } from "./harness/bun-output.ts";

const root = join(import.meta.dir, "..");
const filters = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
/** Each failed test's error, as bun printed it before its "(fail)" line: repeated before the closing line. */
const failures: string[] = [];

function banner(text: string) {
  console.log(`\n=== ${text} ===`);
}

async function runStep(cmd: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(cmd, { cwd: root, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      output += text;
      sink.write(text);
    }
  };
  await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr)]);
  return { code: await proc.exited, output };
}

async function bunTests(title: string, paths: string[], timeoutMs: number) {
  banner(title);
  const { code, output } = await runStep([process.execPath, "test", "--timeout", String(timeoutMs), ...paths]);
  const c = bunCounts(output);
  passed += c.pass;
  failed += c.fail;
  failures.push(...failureDigests(output));
  skipped += c.skip;
  // A crash outside any test (a file that fails to load) shows as a non-zero exit without a failed test.
  if (code !== 0 && c.fail === 0) {
    console.log(`${title}: bun test exited with code ${code}`);
    failed++;
  }
}

if (filters.length > 0) {
  // `npm test -- <filter>...`: only the test files whose path matches a filter.
  await bunTests(`tests matching ${filters.join(" ")}`, filters, 120_000);
} else {
  // 1. Type check: Bun strips types without checking them.
  banner("type check (tsc --noEmit)");
  const { code } = await runStep([join(root, "node_modules/.bin/tsc"), "--noEmit", "-p", "tsconfig.json"]);
  if (code === 0) {
    console.log("type check: ok");
    passed++;
  } else failed++;

  // 2. Unit tests: pure logic and fakes, no processes.
  await bunTests("unit tests", ["test/unit"], 20_000);

  // 3. Integration tests need etcd and PostgreSQL 15. In CI a missing binary is a failure.
  const missing = ["/usr/lib/postgresql/15/bin/initdb", "/usr/lib/postgresql/15/bin/postgres"].filter((p) => !existsSync(p));
  if (!Bun.which("etcd")) missing.push("etcd");
  if (missing.length > 0) {
    banner("integration tests");
    console.log(`missing: ${missing.join(", ")} (run "npm run setup" as root, or install etcd-server and postgresql-15)`);
    if (process.env.CI) failed++;
    else {
      console.log("integration tests NOT RUN (outside CI this is reported, not failed)");
      skipped++;
    }
  } else {
    await bunTests("integration tests", ["test/integration"], 120_000);
  }

  // 4. The docker compose demo in containers, on a dockerd of its own (root; about 6 minutes
  //    cold, most of it building the images). Outside CI, not being root skips it.
  await bunTests("docker compose demo (test/docker)", ["test/docker"], 600_000);
}

if (failures.length > 0) {
  // The end of a CI log is what gets read: each failure's error again, next to the counts.
  banner(`the ${failures.length} failed test(s), with the error each printed`);
  for (const f of failures) console.log(`${f}\n`);
}
console.log("");
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
