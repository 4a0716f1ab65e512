/** Store and Election behind small interfaces; etcd v3 and in-memory backends. */
export * from "./kv.ts";
export * from "./store.ts";
export * from "./election.ts";
export { EtcdBackend, type EtcdOptions } from "./etcd.ts";
export { MemoryBackend } from "./memory.ts";
export { openStore, type OpenedStore } from "./open.ts";
