import { expect, test } from "bun:test";
import { findTwoMasters, type ProbeAck } from "../../bench/faults.ts";

const ack = (node: string, timeline: number, start: number, end: number): ProbeAck => ({ node, timeline, start, end });

const cases: { name: string; acks: ProbeAck[]; want: [string, number][] }[] = [
  { name: "one master", acks: [ack("a", 1, 0, 5), ack("a", 1, 10, 15)], want: [] },
  { name: "a failover: writes move to a newer timeline on another node", acks: [ack("a", 1, 0, 5), ack("b", 2, 100, 105), ack("b", 2, 200, 205)], want: [] },
  { name: "a failback on a later timeline", acks: [ack("a", 1, 0, 5), ack("b", 2, 100, 105), ack("a", 3, 300, 305)], want: [] },
  { name: "the old master commits after the new one took a write", acks: [ack("a", 1, 0, 5), ack("b", 2, 100, 105), ack("a", 1, 110, 115)], want: [["a", 1]] },
  { name: "overlapping requests are not definite", acks: [ack("a", 1, 0, 5), ack("b", 2, 100, 105), ack("a", 1, 90, 120)], want: [] },
  { name: "one timeline on two nodes", acks: [ack("a", 2, 0, 5), ack("b", 2, 3, 8)], want: [["b", 2]] },
  { name: "input order does not matter", acks: [ack("a", 1, 110, 115), ack("b", 2, 100, 105), ack("a", 1, 0, 5)], want: [["a", 1]] },
];

for (const c of cases) {
  test(`findTwoMasters: ${c.name}`, () => {
    expect(findTwoMasters(c.acks).map((t) => [t.ack.node, t.ack.timeline])).toEqual(c.want);
  });
}
