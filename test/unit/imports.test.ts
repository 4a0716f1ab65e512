/**
 * Keeps the dependency direction of STYLE.md: cluster imports nothing with I/O; store, ctl and
 * lib never import the daemons or the entry points.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dir, "../..");
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}
function imports(file: string): string[] {
  return [...readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gm)].map((m) => m[1]!);
}

const allowed: Record<string, (spec: string) => boolean> = {
  // Pure: other cluster files and the error types only; no node: or package imports.
  cluster: (s) => s.startsWith("./") || s === "../lib/errors.ts",
  store: (s) => s.startsWith("./") || s.startsWith("../cluster/") || s.startsWith("../lib/") || s.startsWith("node:") || s === "etcd3",
  ctl: (s) => s.startsWith("./") || s.startsWith("../cluster/") || s.startsWith("../lib/") || s.startsWith("../store/"),
  // ../cluster/slot-names.ts: the stolon_ prefix of slot and application names, one pure constant;
  // ../cluster/timing.ts: the timing constants, the standbys' wal_receiver_timeout among them.
  postgres: (s) => s.startsWith("./") || s.startsWith("../lib/") || s === "../cluster/slot-names.ts" || s === "../cluster/patterns.ts" || s === "../cluster/timing.ts" || s.startsWith("node:") || s === "postgres",
  keeper: (s) => s === "prom-client" ||
    s.startsWith("./") || ["../cluster/", "../lib/", "../postgres/", "../store/"].some((p) => s.startsWith(p)) || s.startsWith("node:") || s === "bun:ffi",
  proxy: (s) => s.startsWith("./") || ["../cluster/", "../lib/", "../store/"].some((p) => s.startsWith(p)) || s === "bun" || s === "prom-client",
  sentinel: (s) => s.startsWith("./") || ["../cluster/", "../lib/", "../store/"].some((p) => s.startsWith(p)) || s === "prom-client",
  lib: (s) => s.startsWith("./") || s.startsWith("../cluster/duration.ts") || s.startsWith("node:") || ["citty", "consola", "prom-client"].includes(s) || s.endsWith("package.json"),
};

for (const [dir, ok] of Object.entries(allowed)) {
  test(`src/${dir} imports only what it may`, () => {
    const bad = files(join(root, "src", dir)).flatMap((f) =>
      imports(f)
        .filter((s) => !ok(s))
        .map((s) => `${relative(root, f)} imports ${s}`),
    );
    expect(bad).toEqual([]);
  });
}

test("the import scanner sees imports (so the checks above can fail)", () => {
  expect(imports(join(root, "src/cluster/spec.ts"))).toContain("./duration.ts");
  expect(imports(join(root, "src/store/etcd.ts"))).toContain("etcd3");
});
