import { afterAll, beforeAll } from "bun:test";
import { systemClock } from "../../src/lib/clock.ts";
import { EtcdBackend } from "../../src/store/index.ts";
import { storeContract } from "../contract/store-contract.ts";
import { waitFor } from "../harness/util.ts";
import { EtcdProcess } from "./harness/etcd.ts";

let etcd: EtcdProcess;
beforeAll(async () => {
  etcd = await EtcdProcess.start();
});
afterAll(async () => {
  await etcd?.stop();
});

storeContract({
  name: "real etcd",
  clock: systemClock,
  make: async () => new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000 }),
  pass: (ms) => Bun.sleep(ms),
  eventually: async (what, fn) => {
    await waitFor(what, fn, 8000);
  },
});
