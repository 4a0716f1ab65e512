/**
 * stolon v0.17's flags on every component (issue 16, item 3): each one works, works with a warning
 * that names the replacement, or is refused with a sentence that says why and what to use; and
 * its environment variable follows the same rule.
 */
import { describe, expect, test } from "bun:test";
import type { ArgsDef } from "citty";
import { keeperArgs, resolveKeeperConfig, type KeeperConfigEnv } from "../../../src/keeper/config.ts";
import { checkFlags, normalizeFlags } from "../../../src/lib/cli.ts";
import { commonArgs, ctlArgs, resolveCommonConfig, type EnvPrefix, type LogLevel } from "../../../src/lib/config.ts";
import { ConfigError } from "../../../src/lib/errors.ts";
import { proxyArgs, resolveProxyConfig } from "../../../src/proxy/config.ts";
import { resolveSentinelConfig, sentinelArgs } from "../../../src/sentinel/config.ts";

type Component = "keeper" | "sentinel" | "proxy" | "stolonctl";
type Vars = Record<string, string>;

const keeperBase = {
  "data-dir": "/data/k1",
  "pg-listen-address": "10.0.0.1",
  "pg-repl-username": "repl",
  "pg-repl-passwordfile": "/pw/repl",
  "pg-su-passwordfile": "/pw/su",
};
const keeperEnv: KeeperConfigEnv = { isRoot: false, currentUser: "alice", readFile: () => "s3cret" };

/** What a component makes of these flags and environment: its log level, uid, warnings, or problems. */
function resolve(c: Component, flags: Record<string, unknown>, vars: Vars) {
  const args = { "cluster-name": "c1", "store-backend": "etcdv3", ...flags };
  try {
    switch (c) {
      case "keeper": {
        const k = resolveKeeperConfig({ ...keeperBase, ...args }, vars, keeperEnv);
        return { logLevel: k.common.logLevel, uid: k.uid, warnings: [...k.common.warnings, ...k.warnings], problems: [] };
      }
      case "sentinel": {
        const s = resolveSentinelConfig(args, vars, () => "");
        return { logLevel: s.common.logLevel, uid: undefined, warnings: s.common.warnings, problems: [] };
      }
      case "proxy": {
        const p = resolveProxyConfig(args, vars);
        return { logLevel: p.common.logLevel, uid: undefined, warnings: [...p.common.warnings, ...p.warnings], problems: [] };
      }
      case "stolonctl": {
        const s = resolveCommonConfig(args, vars, "STOLONCTL");
        return { logLevel: s.logLevel, uid: undefined, warnings: s.warnings, problems: [] };
      }
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { logLevel: undefined, uid: undefined, warnings: [], problems: [...err.problems] };
  }
}

const PREFIX: Record<Component, EnvPrefix> = { keeper: "STKEEPER", sentinel: "STSENTINEL", proxy: "STPROXY", stolonctl: "STOLONCTL" };
const DAEMONS = ["keeper", "sentinel", "proxy"] as const;
const ALL = [...DAEMONS, "stolonctl"] as const;

describe("every flag of stolon's is known to our component (no 'unknown flag')", () => {
  // Copied from stolon's cmd/common.go AddCommonFlags and each cmd/*/cmd/*.go init().
  const common = ["cluster-name", "store-backend", "store-endpoints", "store-timeout", "store-prefix", "store-cert-file", "store-key", "store-skip-tls-verify", "store-ca-file", "metrics-listen-address", "kube-resource-kind", "log-level"];
  const stolonFlags: Record<Component, string[]> = {
    keeper: [...common, "log-color", "id", "uid", "data-dir", "pg-listen-address", "pg-advertise-address", "pg-port", "pg-advertise-port", "pg-bin-path", "pg-repl-auth-method", "pg-repl-username", "pg-repl-password", "pg-repl-passwordfile", "pg-su-auth-method", "pg-su-username", "pg-su-password", "pg-su-passwordfile", "debug", "can-be-master", "can-be-synchronous-replica", "disable-data-dir-locking"],
    sentinel: [...common, "log-color", "initial-cluster-spec", "debug"],
    proxy: [...common, "log-color", "listen-address", "port", "stop-listening", "debug", "tcp-keepalive-idle", "tcp-keepalive-count", "tcp-keepalive-interval"],
    stolonctl: [...common, "kubeconfig", "kube-context", "kube-namespace"],
  };
  const defs: Record<Component, ArgsDef> = { keeper: keeperArgs, sentinel: sentinelArgs, proxy: proxyArgs, stolonctl: ctlArgs };
  for (const c of ALL)
    test.each(stolonFlags[c])(`${c} --%s`, (flag) => {
      const def = (defs[c] as Record<string, { type?: string }>)[flag];
      expect(def).toBeDefined();
      const argv = def?.type === "boolean" ? [`--${flag}`] : [`--${flag}`, "x"];
      expect(() => checkFlags(argv, defs[c])).not.toThrow();
    });
  test("the daemons share the common ones", () => {
    for (const f of ["debug", "kube-resource-kind", "kubeconfig", "kube-context", "kube-namespace"]) expect(Object.keys(commonArgs)).toContain(f);
  });
});

interface Row {
  name: string;
  components: readonly Component[];
  flags?: Record<string, unknown>;
  /** Environment variables, with "*" standing for the component's prefix. */
  env?: Vars;
  logLevel?: LogLevel;
  uid?: string;
  /** Every warning, in order, each a substring. */
  warnings?: string[];
  /** Every problem, in order, each a substring. */
  problems?: string[];
}

const rows: Row[] = [
  // --debug: deprecated, as --log-level debug; it wins over --log-level as in stolon.
  { name: "--debug", components: ALL, flags: { debug: true }, logLevel: "debug", warnings: ["--debug is deprecated: use --log-level debug"] },
  { name: "*_DEBUG=true", components: ALL, env: { "*_DEBUG": "true" }, logLevel: "debug", warnings: ["_DEBUG is deprecated: use ST"] },
  { name: "--debug=false", components: ALL, flags: { debug: false }, logLevel: "info", warnings: ["--debug is deprecated and false here, so it has no effect"] },
  { name: "--debug with --log-level warn", components: DAEMONS, flags: { debug: true, "log-level": "warn" }, logLevel: "debug", warnings: ["it wins over --log-level warn"] },
  { name: "--debug with --log-level debug", components: ["sentinel"], flags: { debug: true, "log-level": "debug" }, logLevel: "debug", warnings: ["--debug is deprecated: use --log-level debug"] },
  { name: "*_DEBUG=maybe", components: ALL, env: { "*_DEBUG": "maybe" }, problems: [`_DEBUG: "maybe" is not a boolean`] },
  { name: "no --debug: no warning", components: ALL, logLevel: "info", warnings: [] },
  // --id: the keeper's deprecated --uid.
  { name: "--id", components: ["keeper"], flags: { id: "k1" }, uid: "k1", warnings: ["--id is deprecated: use --uid"] },
  { name: "STKEEPER_ID", components: ["keeper"], env: { STKEEPER_ID: "k1" }, uid: "k1", warnings: ["STKEEPER_ID is deprecated: use STKEEPER_UID"] },
  { name: "--id and --uid the same", components: ["keeper"], flags: { id: "k1", uid: "k1" }, uid: "k1", warnings: ["--id is deprecated: use --uid"] },
  { name: "--id and --uid differ", components: ["keeper"], flags: { id: "k1", uid: "k2" }, problems: [`--uid "k2" and --id "k1" differ: give only --uid`] },
  { name: "STKEEPER_ID and STKEEPER_UID differ", components: ["keeper"], env: { STKEEPER_ID: "k1", STKEEPER_UID: "k2" }, problems: [`STKEEPER_UID "k2" and STKEEPER_ID "k1" differ: give only STKEEPER_UID`] },
  { name: "--uid wins over STKEEPER_ID", components: ["keeper"], flags: { uid: "k2" }, env: { STKEEPER_ID: "k1" }, uid: "k2", warnings: ["STKEEPER_ID is deprecated"] },
  { name: "--id wins over STKEEPER_UID", components: ["keeper"], flags: { id: "k1" }, env: { STKEEPER_UID: "k2" }, uid: "k1", warnings: ["--id is deprecated"] },
  { name: "an invalid --id is named as --id", components: ["keeper"], flags: { id: "K-1" }, problems: [`--id: "K-1" must match`] },
  // --log-color: the daemons take it (and auto from its variable), as stolon's do.
  { name: "--log-color", components: DAEMONS, flags: { "log-color": true }, warnings: [] },
  { name: "*_LOG_COLOR", components: DAEMONS, env: { "*_LOG_COLOR": "false" }, warnings: [] },
  // --store-backend: etcdv3 only; stolon's others say why and how to move.
  { name: "--store-backend etcd", components: ALL, flags: { "store-backend": "etcd" }, problems: [`--store-backend: unsupported backend "etcd": stolon's "etcd" means etcd v2: etcd v2 is not supported, and data written through etcd's v2 API is not visible through the v3 API`] },
  { name: "*_STORE_BACKEND=etcd", components: ALL, flags: { "store-backend": undefined }, env: { "*_STORE_BACKEND": "etcd" }, problems: [`_STORE_BACKEND: unsupported backend "etcd"`] },
  { name: "--store-backend etcdv2", components: ALL, flags: { "store-backend": "etcdv2" }, problems: ["etcdctl migrate"] },
  { name: "--store-backend etcdv2 names initMode existing", components: ["sentinel"], flags: { "store-backend": "etcdv2" }, problems: [`"initMode":"existing"`] },
  { name: "--store-backend consul", components: ALL, flags: { "store-backend": "consul" }, problems: [`unsupported backend "consul": consul is not supported: the cluster data must be in etcd v3 (--store-backend etcdv3); to move, re-create`] },
  { name: "--store-backend kubernetes", components: ALL, flags: { "store-backend": "kubernetes" }, problems: [`unsupported backend "kubernetes": the Kubernetes store (configmaps) is not supported`] },
  { name: "*_STORE_BACKEND=kubernetes", components: ALL, flags: { "store-backend": undefined }, env: { "*_STORE_BACKEND": "kubernetes" }, problems: [`_STORE_BACKEND: unsupported backend "kubernetes": the Kubernetes store`] },
  { name: "--store-backend zookeeper", components: ALL, flags: { "store-backend": "zookeeper" }, problems: [`unsupported backend "zookeeper": the only supported backend is etcdv3`] },
  { name: "--store-backend etcdv3", components: ALL, warnings: [] },
  // --kube-*: refused, once per reason.
  { name: "--kube-resource-kind", components: ALL, flags: { "kube-resource-kind": "configmap" }, problems: ["--kube-resource-kind is not supported: the Kubernetes store (configmaps) is not supported: the cluster data must be in etcd v3"] },
  { name: "--kubeconfig", components: ALL, flags: { kubeconfig: "/k" }, problems: ["--kubeconfig is not supported: the Kubernetes store"] },
  { name: "--kube-context", components: ALL, flags: { "kube-context": "x" }, problems: ["--kube-context is not supported: the Kubernetes store"] },
  { name: "--kube-namespace", components: ALL, flags: { "kube-namespace": "x" }, problems: ["--kube-namespace is not supported: the Kubernetes store"] },
  { name: "*_KUBE_RESOURCE_KIND", components: ALL, env: { "*_KUBE_RESOURCE_KIND": "configmap" }, problems: ["_KUBE_RESOURCE_KIND is not supported: the Kubernetes store"] },
  { name: "*_KUBECONFIG", components: ALL, env: { "*_KUBECONFIG": "/k" }, problems: ["_KUBECONFIG is not supported"] },
  { name: "*_KUBE_CONTEXT and *_KUBE_NAMESPACE", components: ALL, env: { "*_KUBE_CONTEXT": "x", "*_KUBE_NAMESPACE": "y" }, problems: ["_KUBE_CONTEXT, ST"] },
  {
    name: "--store-backend kubernetes with --kube-resource-kind: the reason once",
    components: ALL,
    flags: { "store-backend": "kubernetes", "kube-resource-kind": "configmap", "kube-namespace": "db" },
    problems: [`unsupported backend "kubernetes": the Kubernetes store`, "--kube-resource-kind, --kube-namespace are not supported: see --store-backend"],
  },
];

describe("stolon's flags and their environment variables", () => {
  for (const row of rows)
    for (const c of row.components)
      test(`${c}: ${row.name}`, () => {
        const vars = Object.fromEntries(Object.entries(row.env ?? {}).map(([k, v]) => [k.replace("*", PREFIX[c]), v]));
        const r = resolve(c, row.flags ?? {}, vars);
        if (row.problems) {
          expect(r.problems).toHaveLength(row.problems.length);
          row.problems.forEach((p, i) => expect(r.problems[i]).toContain(p));
          return;
        }
        expect(r.problems).toEqual([]);
        if (row.logLevel !== undefined) expect(r.logLevel).toBe(row.logLevel);
        if (row.uid !== undefined) expect(r.uid).toBe(row.uid);
        if (row.warnings) {
          expect(r.warnings).toHaveLength(row.warnings.length);
          row.warnings.forEach((w, i) => expect(r.warnings[i]).toContain(w));
        }
      });

  test("a warning for an environment variable names the variable to use instead", () => {
    expect(resolve("proxy", {}, { STPROXY_DEBUG: "1" }).warnings).toEqual(["STPROXY_DEBUG is deprecated: use STPROXY_LOG_LEVEL=debug"]);
    expect(resolve("keeper", {}, { STKEEPER_ID: "k9" }).warnings).toEqual(["STKEEPER_ID is deprecated: use STKEEPER_UID"]);
  });
  test("another component's variables are not read", () => {
    expect(resolve("sentinel", {}, { STKEEPER_DEBUG: "true", STPROXY_STORE_BACKEND: "etcd", STKEEPER_KUBECONFIG: "/k" })).toMatchObject({ logLevel: "info", problems: [], warnings: [] });
  });
});

describe("boolean flags take every value Go's ParseBool takes after '=', as stolon's pflag flags do", () => {
  const cases: [string, string][] = [
    ["--can-be-master=0", "--can-be-master=false"],
    ["--can-be-master=f", "--can-be-master=false"],
    ["--can-be-master=F", "--can-be-master=false"],
    ["--can-be-master=FALSE", "--can-be-master=false"],
    ["--can-be-master=False", "--can-be-master=false"],
    ["--can-be-master=false", "--can-be-master=false"],
    ["--debug=1", "--debug=true"],
    ["--debug=t", "--debug=true"],
    ["--debug=T", "--debug=true"],
    ["--debug=TRUE", "--debug=true"],
    ["--debug=True", "--debug=true"],
    // Not a boolean flag, or not a Go boolean, or after "--": left as it is.
    ["--uid=0", "--uid=0"],
    ["--debug=yes", "--debug=yes"],
    ["--debug", "--debug"],
  ];
  test.each(cases)("%s", (arg, want) => {
    expect(normalizeFlags(["--cluster-name", "c1", arg], keeperArgs)).toEqual(["--cluster-name", "c1", want]);
    if (arg !== "--debug=yes") expect(() => checkFlags([arg], keeperArgs)).not.toThrow();
  });
  test("checkFlags still refuses what Go refuses", () => {
    expect(() => checkFlags(["--debug=yes"], keeperArgs)).toThrow("flag --debug=yes: value must be true or false");
    expect(() => checkFlags(["--debug=tRuE"], keeperArgs)).toThrow("value must be true or false");
  });
  test("a short flag with '=' is read as pflag reads it: -y=0 is --yes=false, -f=x is --file=x", () => {
    const defs = { yes: { type: "boolean", alias: "y" }, file: { type: "string", alias: "f" } } as const;
    expect(normalizeFlags(["-y=0", "-f=x", "-y", "-q=1"], defs)).toEqual(["--yes=false", "--file=x", "-y", "-q=1"]);
  });
  test("the value of a value flag is never touched", () => {
    expect(normalizeFlags(["--uid", "--debug=0"], keeperArgs)).toEqual(["--uid", "--debug=0"]);
  });
  test("nothing after -- is touched", () => {
    expect(normalizeFlags(["--", "--debug=0"], keeperArgs)).toEqual(["--", "--debug=0"]);
  });
});
