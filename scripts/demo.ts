/**
 * `npm run demo`: a local cluster (etcd, three keepers, two sentinels, a proxy) on 127.0.0.1.
 * Not available yet: the keeper, sentinel and proxy are still to be built (issues #3 to #6).
 */
console.log("npm run demo: not yet available.");
console.log("The keeper, sentinel and proxy are still being built; today stolonctl works against etcd:");
console.log("  etcd --data-dir /tmp/etcd-demo &");
console.log("  bun run stolonctl -- --cluster-name demo --store-backend etcdv3 init -y");
console.log("  bun run stolonctl -- --cluster-name demo --store-backend etcdv3 status");
