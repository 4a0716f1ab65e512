import { describe, expect, test } from "bun:test";
import { assignmentsOf, commandsOf, shellBlocks, shellWords } from "../integration/harness/doc-commands.ts";

const md = (...lines: string[]) => lines.join("\n");

describe("shellBlocks", () => {
  const cases: { name: string; text: string; want: { line: number; text: string }[] }[] = [
    { name: "an sh block", text: md("# t", "```sh", "a", "b", "```"), want: [{ line: 2, text: "a\nb" }] },
    { name: "bash and console count, json and untagged do not", text: md("```bash", "a", "```", "```json", "{}", "```", "```", "out", "```", "```console", "c", "```"), want: [{ line: 1, text: "a" }, { line: 10, text: "c" }] },
    { name: "an indented block in a list loses its indent", text: md("1. item", "", "   ```sh", "   export X=1", "     two", "   ```"), want: [{ line: 3, text: "export X=1\n  two" }] },
    { name: "a fence inside another block does not open one", text: md("````md", "```sh", "x", "```", "````"), want: [] },
  ];
  for (const c of cases) test(c.name, () => expect(shellBlocks(c.text, "f.md").map((b) => ({ line: b.line, text: b.text }))).toEqual(c.want));
});

describe("commandsOf", () => {
  const cases: { name: string; text: string; want: { line: number; text: string }[] }[] = [
    { name: "one per line, blank lines and comments dropped", text: md("a x   # note", "", "# only a comment", "b"), want: [{ line: 2, text: "a x" }, { line: 5, text: "b" }] },
    { name: "a backslash continues the line", text: md("a --x 1 \\", "  --y 2", "b"), want: [{ line: 2, text: "a --x 1   --y 2" }, { line: 4, text: "b" }] },
    { name: "# inside quotes or a word is not a comment", text: md(`a "x # y" 'z # w' u#v # c`), want: [{ line: 2, text: `a "x # y" 'z # w' u#v` }] },
    { name: "an open quote continues the line", text: md(`a 'x`, `y' b`), want: [{ line: 2, text: `a 'x\ny' b` }] },
    { name: "an escaped quote does not open one", text: md(`echo \\'a`, "b"), want: [{ line: 2, text: `echo \\'a` }, { line: 3, text: "b" }] },
  ];
  for (const c of cases)
    test(c.name, () => expect(commandsOf({ file: "f.md", line: 1, text: c.text }).map((x) => ({ line: x.line, text: x.text }))).toEqual(c.want));
});

describe("shellWords", () => {
  const cases: { name: string; text: string; vars?: Record<string, string>; want: string[] }[] = [
    { name: "blanks split, quotes join", text: `a "b c" 'd e'f`, want: ["a", "b c", "d ef"] },
    { name: "unquoted expansion splits", text: "x $F y", vars: { F: "--a 1 --b" }, want: ["x", "--a", "1", "--b", "y"] },
    { name: "quoted expansion does not", text: `x "$F" '$F'`, vars: { F: "1 2" }, want: ["x", "1 2", "$F"] },
    { name: "braces and unknown names", text: "${F}z $NOPE", vars: { F: "a" }, want: ["az"] },
    { name: "a backslash escapes", text: `a\\ b "c\\"d"`, want: ["a b", 'c"d'] },
  ];
  for (const c of cases) test(c.name, () => expect(shellWords(c.text, c.vars)).toEqual(c.want));
});

describe("assignmentsOf", () => {
  test("a quoted assignment with blanks", () => expect(assignmentsOf(`F="--a 1 --b 2"`)).toEqual({ F: "--a 1 --b 2" }));
  test("two assignments", () => expect(assignmentsOf("A=1 B=$A", { A: "0" })).toEqual({ A: "1", B: "0" }));
  test("a command with an env prefix is not only assignments", () => expect(assignmentsOf("A=1 cmd")).toBeNull());
});
