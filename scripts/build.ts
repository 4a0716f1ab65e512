/**
 * `npm run build`: one standalone executable, dist/stolon (cmd/stolon.ts with Bun inside), and
 * the four command names as links to it: dist/stolon-keeper, dist/stolon-sentinel,
 * dist/stolon-proxy, dist/stolonctl. Nothing else is needed at run time but glibc and, for the
 * keeper, PostgreSQL's programs.
 *
 * etcd3 reads its .proto files from node_modules when it is loaded; a compiled binary has no
 * node_modules, so the build turns them into JSON (protobufjs, which etcd3 already depends on)
 * and loads that instead (protoLoader.fromJSON), with the same options.
 *
 *   bun scripts/build.ts [--outdir dist]
 */
import { mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import type { BunPlugin } from "bun";
import protobuf from "protobufjs";

const root = join(import.meta.dir, "..");
export const COMMANDS = ["stolon-keeper", "stolon-sentinel", "stolon-proxy", "stolonctl"] as const;

/** etcd3's connection pool with its loadSync(<path to rpc.proto>) replaced by fromJSON(<the protos>). */
export function embedEtcdProtos(): BunPlugin {
  return {
    name: "embed-etcd3-protos",
    setup(build) {
      build.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, ({ path }) => {
        const source = readFileSync(path, "utf8");
        const call = /\(0, proto_loader_1\.loadSync\)\(`\$\{__dirname\}\/\.\.\/proto\/rpc\.proto`,/;
        if (!call.test(source)) throw new Error(`${path}: the loadSync call of rpc.proto was not found; etcd3 changed, update scripts/build.ts`);
        // keepCase must hold while parsing, as proto-loader's own loadSync does.
        const rootNs = new protobuf.Root().loadSync(join(dirname(path), "../proto/rpc.proto"), { keepCase: true });
        const json = JSON.stringify(rootNs.toJSON());
        return { contents: source.replace(call, `(0, proto_loader_1.fromJSON)(${json},`), loader: "js" };
      });
    },
  };
}

export async function build(outdir: string): Promise<string> {
  mkdirSync(outdir, { recursive: true });
  const outfile = join(outdir, "stolon");
  const result = await Bun.build({
    entrypoints: [join(root, "cmd/stolon.ts")],
    compile: { outfile },
    target: "bun",
    minify: false,
    plugins: [embedEtcdProtos()],
  });
  if (!result.success) throw new Error(`build failed:\n${result.logs.map(String).join("\n")}`);
  for (const name of COMMANDS) {
    rmSync(join(outdir, name), { force: true });
    symlinkSync("stolon", join(outdir, name));
  }
  return outfile;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const outdir = args.includes("--outdir") ? args[args.indexOf("--outdir") + 1]! : join(root, "dist");
  const t0 = performance.now();
  const outfile = await build(outdir);
  console.log(`built ${outfile} in ${((performance.now() - t0) / 1000).toFixed(1)} s, with links ${COMMANDS.join(", ")}`);
}
