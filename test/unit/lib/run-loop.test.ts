import { describe, expect, test } from "bun:test";
import { createConsola, type LogObject } from "consola";
import { FakeClock } from "../../../src/lib/clock.ts";
import { parseListenAddress } from "../../../src/lib/listen-address.ts";
import { Loop, SayOnce } from "../../../src/lib/run-loop.ts";
import { Trigger } from "../../../src/lib/trigger.ts";

function collectingLog() {
  const lines: { level: string; msg: string }[] = [];
  const log = createConsola({ level: 5, reporters: [{ log: (o: LogObject) => lines.push({ level: o.type, msg: String(o.args[0]) }) }] });
  return { log, lines };
}

const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe("Loop", () => {
  test("ticks every interval on the injected clock, counts ticks and errors, logs a repeated failure once", async () => {
    const clock = new FakeClock();
    const { log, lines } = collectingLog();
    let n = 0;
    const loop = new Loop({
      name: "t",
      intervalMs: () => 1000,
      clock,
      log,
      tick: async () => {
        n++;
        if (n === 2 || n === 3) throw new Error("store down");
      },
    });
    const ac = new AbortController();
    const done = loop.run(ac.signal);
    await flush();
    expect(n).toBe(1);
    await clock.advance(999);
    expect(n).toBe(1);
    await clock.advance(1);
    await flush();
    expect(n).toBe(2);
    await clock.advance(1000);
    await flush();
    expect(n).toBe(3);
    const s = loop.snapshot();
    expect(s).toMatchObject({ ticks: 3, errors: 2, lastError: "store down", running: true });
    expect(lines.filter((l) => l.level === "warn").map((l) => l.msg)).toEqual(["store down"]);
    await clock.advance(1000);
    await flush();
    expect(loop.snapshot()).toMatchObject({ ticks: 4, errors: 2, lastError: "" });
    ac.abort();
    await done;
    expect(loop.snapshot().running).toBe(false);
  });

  test("a tick that returns true runs again at once; a trigger wakes the loop before its interval", async () => {
    const clock = new FakeClock();
    const { log } = collectingLog();
    const trigger = new Trigger(clock);
    let n = 0;
    const loop = new Loop({ name: "t", intervalMs: () => 60_000, clock, log, trigger, tick: async () => ++n < 3 });
    const ac = new AbortController();
    const done = loop.run(ac.signal);
    await flush();
    expect(n).toBe(3);
    trigger.fire();
    await flush();
    expect(n).toBe(4);
    ac.abort();
    await done;
  });

  test("an observer sees every tick's duration and error", async () => {
    const clock = new FakeClock();
    const { log } = collectingLog();
    const seen: [string, number, boolean][] = [];
    const loop = new Loop({
      name: "obs",
      intervalMs: () => 10,
      clock,
      log,
      tick: async () => {
        await clock.sleep(5);
        throw new Error("x");
      },
      observe: (name, ms, err) => seen.push([name, ms, err !== null]),
    });
    const ac = new AbortController();
    const p = loop.once(ac.signal);
    await clock.advance(5);
    await p;
    expect(seen).toEqual([["obs", 5, true]]);
  });
});

describe("SayOnce", () => {
  test("logs a channel's text when it changes, and repeats at debug", () => {
    const { log, lines } = collectingLog();
    const say = new SayOnce(log);
    expect(say.say("notes", "info", ["a"])).toBe(true);
    expect(say.say("notes", "info", ["a"])).toBe(false);
    expect(say.say("other", "warn", ["a"])).toBe(true);
    expect(say.say("notes", "info", ["b"])).toBe(true);
    expect(lines.map((l) => `${l.level}:${l.msg}`)).toEqual(["info:a", "debug:a", "warn:a", "info:b"]);
  });
});

describe("parseListenAddress", () => {
  test.each([
    ["127.0.0.1:8080", { hostname: "127.0.0.1", port: 8080 }],
    [":9459", { hostname: "0.0.0.0", port: 9459 }],
    ["[::1]:80", { hostname: "::1", port: 80 }],
    ["localhost:0", { hostname: "localhost", port: 0 }],
  ])("%s", (s, want) => expect(parseListenAddress(s)).toEqual(want));

  test.each(["8080", "127.0.0.1", "1.2.3.4:65536", "::1:80", "a b:1", "", "host:port"])("%s is refused with a sentence", (s) => {
    const r = parseListenAddress(s);
    expect("error" in r && r.error).toContain("is not a listen address");
  });
});

describe("SayOnce with a summary", () => {
  test("a decision's notes are one json object with a notes field, logged again only when they change", async () => {
    const { createLogger } = await import("../../../src/lib/log.ts");
    const lines: string[] = [];
    const log = createLogger({ level: "info", format: "json", component: "keeper", cluster: "c1", uid: "k1", write: (l) => lines.push(...l.split("\n").filter((s) => s !== "")) });
    const say = new SayOnce(log);
    say.say("notes", "info", ["db d1 is the master", "k2 follows"], "the plan changed:");
    say.say("notes", "info", ["db d1 is the master", "k2 follows"], "the plan changed:");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "info", component: "keeper", uid: "k1", msg: "the plan changed:", notes: ["db d1 is the master", "k2 follows"] });
  });
});
