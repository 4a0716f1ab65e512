/**
 * stolon v0.17's flags that this implementation renamed, does not need or cannot honour, so that
 * an old manifest or unit file either works, works with a warning that names the replacement, or
 * stops with a sentence that says why and what to use. The same rules apply to each flag's
 * environment variable (ST<COMPONENT>_<FLAG>, STOLONCTL_<FLAG>), as stolon reads them through
 * its flags.
 *
 * stolon's lists: cmd/common.go (every component), cmd/keeper/cmd/keeper.go (--id, --debug),
 * cmd/sentinel/cmd/sentinel.go and cmd/proxy/cmd/proxy.go (--debug),
 * cmd/stolonctl/cmd/register.go (the `register` subcommand and its flags).
 */

/** Why the Kubernetes store cannot be used, said once for --store-backend and every --kube-* flag. */
const KUBERNETES =
  "the Kubernetes store (configmaps) is not supported: the cluster data must be in etcd v3 (--store-backend etcdv3). " +
  "To move, run etcd v3, point every component at it and re-create the cluster with " +
  `stolonctl init '{"initMode":"existing","existingConfig":{"keeperUID":"<the master's keeper>"}}'`;

/** What "re-create the cluster on etcd v3 from the running master" means, for every backend we refuse. */
const RECREATE = `re-create the cluster on etcd v3 from the running master with stolonctl init '{"initMode":"existing","existingConfig":{"keeperUID":"<the master's keeper>"}}'`;

const ETCD_V2 =
  "etcd v2 is not supported, and data written through etcd's v2 API is not visible through the v3 API that this stolon uses, " +
  "so it would find an empty cluster. Move the v2 data with `etcdctl migrate` (etcd 3.4 and older, with the etcd members stopped) " +
  `and then use --store-backend etcdv3, or ${RECREATE}`;

/**
 * The --store-backend values stolon accepts and this implementation refuses, each with why and how
 * to move. stolon's "etcd" is its old name for etcdv2 (cmd/common.go CheckCommonConfig).
 */
export const REFUSED_STORE_BACKENDS: Readonly<Record<string, string>> = {
  etcd: `stolon's "etcd" means etcd v2: ${ETCD_V2}`,
  etcdv2: ETCD_V2,
  consul: `consul is not supported: the cluster data must be in etcd v3 (--store-backend etcdv3); to move, ${RECREATE}`,
  kubernetes: KUBERNETES,
};

/** The one store backend this implementation supports. */
export const SUPPORTED_STORE_BACKEND = "etcdv3";

/** stolon flags refused on every component, with why and what to use. */
export const REFUSED_FLAGS: Readonly<Record<string, string>> = {
  "kube-resource-kind": KUBERNETES,
  kubeconfig: KUBERNETES,
  "kube-context": KUBERNETES,
  "kube-namespace": KUBERNETES,
};

/**
 * stolon flags accepted with a warning, and what replaces them. --id exists on the keeper only
 * (keeperArgs adds it); --debug on every component.
 */
export const DEPRECATED_FLAGS = {
  debug: "--log-level debug",
  id: "--uid",
} as const;

/** stolonctl's subcommands that stolon has and this implementation refuses, with why. */
export const REFUSED_SUBCOMMANDS: Readonly<Record<string, string>> = {
  register:
    "stolonctl register (service registration in consul) is not supported: the proxies are the clients' entry point; " +
    "register the proxies' address in your service discovery once, or read the master from `stolonctl status -f json` " +
    "(.cluster.masterKeeper) or from the keepers' /master and /replica endpoints on their --metrics-listen-address",
};

/** citty definitions of the flags above that every component accepts (so they are not "unknown"). */
export const stolonCompatArgs = {
  debug: { type: "boolean", description: `deprecated (stolon): use ${DEPRECATED_FLAGS.debug}` },
  "kube-resource-kind": { type: "string", description: "refused (stolon): the Kubernetes store is not supported; use etcdv3" },
  kubeconfig: { type: "string", description: "refused (stolon): the Kubernetes store is not supported; use etcdv3" },
  "kube-context": { type: "string", description: "refused (stolon): the Kubernetes store is not supported; use etcdv3" },
  "kube-namespace": { type: "string", description: "refused (stolon): the Kubernetes store is not supported; use etcdv3" },
} as const;
