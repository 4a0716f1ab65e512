/**
 * bench/prom-text.ts: the Prometheus text format read into samples (labels with escapes, commas
 * and braces inside values, timestamps, special values), and the sums and rates over two scrapes.
 */
import { describe, expect, test } from "bun:test";
import { bucketDeltas, histogramQuantile, parsePromText, rate, type Sample, sumBy, sumOf } from "../../bench/prom-text.ts";

describe("parsePromText", () => {
  const cases: { name: string; text: string; want: Sample[] }[] = [
    { name: "comments and blank lines are skipped", text: "# HELP a help\n# TYPE a counter\n\na 1\n", want: [{ name: "a", labels: {}, value: 1 }] },
    {
      name: "labels, in any order",
      text: 'grpc_server_handled_total{grpc_code="OK",grpc_method="Range"} 151',
      want: [{ name: "grpc_server_handled_total", labels: { grpc_code: "OK", grpc_method: "Range" }, value: 151 }],
    },
    { name: "a trailing comma and blanks between labels", text: 'a{x="1", y="2",} 3', want: [{ name: "a", labels: { x: "1", y: "2" }, value: 3 }] },
    { name: "escapes, commas and braces inside a value", text: 'a{x="q\\"u,o}te\\\\n\\n"} 1', want: [{ name: "a", labels: { x: 'q"u,o}te\\n\n' }, value: 1 }] },
    { name: "an empty label set", text: "a{} 2", want: [{ name: "a", labels: {}, value: 2 }] },
    { name: "exponent notation and a timestamp", text: "etcd_server_quota_backend_bytes 2.147483648e+09 1700000000000", want: [{ name: "etcd_server_quota_backend_bytes", labels: {}, value: 2147483648 }] },
    {
      name: "+Inf, -Inf and NaN",
      text: 'h_bucket{le="+Inf"} +Inf\nb -Inf\nc NaN\nd Nan\ne +inf',
      want: [
        { name: "h_bucket", labels: { le: "+Inf" }, value: Infinity },
        { name: "b", labels: {}, value: -Infinity },
        { name: "c", labels: {}, value: NaN },
        { name: "d", labels: {}, value: NaN },
        { name: "e", labels: {}, value: Infinity },
      ],
    },
    { name: "colons in a name, blanks around the line", text: "  job:rate5m 0.5  ", want: [{ name: "job:rate5m", labels: {}, value: 0.5 }] },
  ];
  for (const c of cases) test(c.name, () => expect(parsePromText(c.text)).toEqual(c.want));

  const bad: { name: string; text: string; error: string }[] = [
    { name: "no value", text: "# c\na", error: "metrics line 2: bad value" },
    { name: "a value that is no number", text: "a one", error: 'bad value "one"' },
    { name: "an unclosed label value", text: 'a{x="1} 2', error: "label x: no closing quote" },
    { name: "a label without quotes", text: "a{x=1} 2", error: "bad label" },
    { name: "no name", text: "{x=\"1\"} 2", error: "no metric name" },
    { name: "more than a value and a timestamp", text: "a 1 2 3", error: "bad value" },
  ];
  for (const c of bad) test(`throws on ${c.name}`, () => expect(() => parsePromText(c.text)).toThrow(c.error));
});

describe("sums", () => {
  const samples = parsePromText(
    [
      'h{m="Range",code="OK",s="kv"} 10',
      'h{m="Range",code="Unavailable",s="kv"} 2',
      'h{m="Put",code="OK",s="kv"} 5',
      'h{m="Watch",code="OK",s="health"} 7',
      "other 1",
    ].join("\n"),
  );
  const cases: { name: string; got: () => unknown; want: unknown }[] = [
    { name: "sumOf: every series of a name", got: () => sumOf(samples, "h"), want: 24 },
    { name: "sumOf: by label value", got: () => sumOf(samples, "h", { m: "Range" }), want: 12 },
    { name: "sumOf: by a test of a label", got: () => sumOf(samples, "h", { code: (c) => c !== "OK" }), want: 2 },
    { name: "sumOf: a label the series lacks does not match", got: () => sumOf(samples, "other", { m: "Range" }), want: null },
    { name: "sumOf: an absent name is null, not 0", got: () => sumOf(samples, "nope"), want: null },
    { name: "sumBy: by method, over codes", got: () => sumBy(samples, "h", "m", { s: "kv" }), want: new Map([["Range", 12], ["Put", 5]]) },
  ];
  for (const c of cases) test(c.name, () => expect(c.got()).toEqual(c.want));
});

describe("rate", () => {
  const cases: { name: string; args: [number | null, number | null, number]; want: ReturnType<typeof rate> }[] = [
    { name: "growth over the seconds", args: [10, 40, 20], want: { delta: 30, perSecond: 1.5 } },
    { name: "no growth", args: [7, 7, 5], want: { delta: 0, perSecond: 0 } },
    { name: "a counter that went down (a restart)", args: [40, 10, 20], want: null },
    { name: "absent before", args: [null, 10, 20], want: null },
    { name: "absent after", args: [10, null, 20], want: null },
    { name: "no time", args: [1, 2, 0], want: null },
  ];
  for (const c of cases) test(c.name, () => expect(rate(...c.args)).toEqual(c.want));
});

describe("histograms", () => {
  const scrape = (counts: number[], method = "Range") =>
    parsePromText(
      ["0.001", "0.01", "0.1", "+Inf"].map((le, i) => `h_bucket{grpc_method="${method}",le="${le}"} ${counts[i]}`).join("\n") + `\nh_count{grpc_method="${method}"} ${counts[3]}`,
    );
  test("bucketDeltas: the growth of each bucket between two scrapes, summed over series, by bound", () => {
    const before = [...scrape([1, 2, 3, 3]), ...scrape([0, 0, 0, 0], "Put")];
    const after = [...scrape([11, 52, 103, 103]), ...scrape([0, 10, 10, 10], "Put")];
    expect(bucketDeltas(before, after, "h")).toEqual([
      { le: 0.001, count: 10 },
      { le: 0.01, count: 60 },
      { le: 0.1, count: 110 },
      { le: Infinity, count: 110 },
    ]);
    expect(bucketDeltas(before, after, "h", { grpc_method: "Put" }).map((b) => b.count)).toEqual([0, 10, 10, 10]);
    expect(bucketDeltas([], after, "h")).toEqual([]);
  });

  const b = (pairs: [number, number][]) => pairs.map(([le, count]) => ({ le, count }));
  const cases: { name: string; q: number; buckets: ReturnType<typeof b>; want: number | null }[] = [
    { name: "no observation", q: 0.99, buckets: b([[0.1, 0], [Infinity, 0]]), want: null },
    { name: "no +Inf bucket (not a whole histogram)", q: 0.5, buckets: b([[0.1, 4]]), want: null },
    { name: "within the first bucket, from 0", q: 0.5, buckets: b([[0.1, 10], [Infinity, 10]]), want: 0.05 },
    { name: "linear within a later bucket", q: 0.99, buckets: b([[0.001, 50], [0.01, 90], [0.1, 100], [Infinity, 100]]), want: 0.01 + 0.09 * 0.9 },
    { name: "the rank in +Inf: the highest finite bound", q: 0.99, buckets: b([[0.1, 50], [Infinity, 100]]), want: 0.1 },
    { name: "empty buckets below the rank are skipped", q: 0.5, buckets: b([[0.001, 0], [0.01, 0], [0.1, 10], [Infinity, 10]]), want: 0.01 + 0.09 * 0.5 },
  ];
  for (const c of cases) {
    test(`histogramQuantile: ${c.name}`, () => {
      const got = histogramQuantile(c.q, c.buckets);
      if (c.want === null) expect(got).toBeNull();
      else expect(got).toBeCloseTo(c.want, 9);
    });
  }
});
