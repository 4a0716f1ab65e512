import { FakeClock } from "../../../src/lib/clock.ts";
import { MemoryBackend } from "../../../src/store/index.ts";
import { storeContract } from "../../contract/store-contract.ts";

const clock = new FakeClock();
storeContract({
  name: "in-memory backend on a fake clock",
  clock,
  make: async () => new MemoryBackend(clock),
  pass: (ms) => clock.advance(ms),
  eventually: async (what, fn) => {
    for (let i = 0; i < 50; i++) {
      if (await fn()) return;
      await clock.advance(10);
    }
    throw new Error(`never happened: ${what}`);
  },
});
