/**
 * A small scanner for the function-length check (test/unit/function-length.test.ts): it finds
 * function, method and block-arrow headers line by line and matches the body's braces, skipping
 * strings, template literals and comments. Not a parser: enough for our own style of code.
 */

export interface FunctionSpan {
  name: string;
  /** 1-based line of the header. */
  line: number;
  lines: number;
  /** The comment lines just above the header (JSDoc or //), joined. */
  comment: string;
}

/**
 * Source with strings, template literals and comments blanked out (newlines kept), so that only
 * code braces remain. Regular expression literals are not recognised: a brace in one would count.
 */
export function codeOnly(src: string): string {
  const out = src.split("");
  const blank = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (out[i] !== "\n") out[i] = " ";
  };
  let i = 0;
  // Template literals nest through ${ ... }: the stack holds the brace depth at which each began.
  const templates: number[] = [];
  let depth = 0;
  while (i < src.length) {
    const c = src[i]!;
    const next = src[i + 1];
    if (c === "/" && next === "/") {
      const end = src.indexOf("\n", i);
      const stop = end < 0 ? src.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === "/" && next === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? src.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c && src[j] !== "\n") j += src[j] === "\\" ? 2 : 1;
      blank(i + 1, j);
      i = j + 1;
    } else if (c === "`" || (c === "}" && templates.length > 0 && templates[templates.length - 1] === depth)) {
      // A template's text, from its opening backtick (or the } closing a ${) to its end or next ${.
      if (c === "}") {
        templates.pop();
        blank(i, i + 1);
      }
      let j = i + 1;
      while (j < src.length && src[j] !== "`" && !(src[j] === "$" && src[j + 1] === "{")) j += src[j] === "\\" ? 2 : 1;
      blank(i + 1, j);
      if (src[j] === "$") {
        templates.push(depth);
        i = j + 2;
        blank(j, j + 2);
      } else i = j + 1;
    } else {
      if (c === "{") depth++;
      if (c === "}") depth--;
      i++;
    }
  }
  return out.join("");
}

const KEYWORDS = new Set(["if", "for", "while", "switch", "catch", "return", "function", "new", "typeof", "await", "with", "do", "else", "try", "super"]);
const FUNCTION = /^(?:export\s+)?(?:default\s+)?(?:async\s+)?function\s*\*?\s*(\w+)/;
const METHOD = /^(?:(?:public|private|protected|static|async|readonly|override|get|set)\s+)*\*?\s*#?(\w+)\s*(?:<[^>]*>)?\(/;
const ARROW = /^(?:export\s+)?(?:(?:const|let|var)\s+)?(?:(?:public|private|protected|static|readonly)\s+)*(\w+)\s*(?::[^=]*)?[=:]\s*(?:async\s+)?(?:<[^>]*>)?(?:\(.*\)|\w+)\s*(?::[^=]*)?=>\s*\{$/;

/** Every function, method and block-bodied arrow function in one file's source. */
export function functionSpans(src: string): FunctionSpan[] {
  const raw = src.split("\n");
  const code = codeOnly(src).split("\n");
  // For each line: the header line of the brace that encloses its start, and where each brace closes.
  const enclosing: (number | null)[] = [];
  const closes = new Map<string, number>();
  const stack: { line: number; col: number }[] = [];
  code.forEach((l, n) => {
    enclosing.push(stack.length ? stack[stack.length - 1]!.line : null);
    for (let col = 0; col < l.length; col++) {
      if (l[col] === "{") stack.push({ line: n, col });
      else if (l[col] === "}") {
        const open = stack.pop();
        if (open) closes.set(`${open.line}:${open.col}`, n);
      }
    }
  });
  const classAt = (n: number | null): string | null => (n === null ? null : (/\bclass\s+(\w+)/.exec(code[n]!)?.[1] ?? null));
  const spans: FunctionSpan[] = [];
  code.forEach((l, n) => {
    const t = l.trim();
    const cls = classAt(enclosing[n] ?? null);
    let name = FUNCTION.exec(t)?.[1] ?? ARROW.exec(t)?.[1];
    if (!name && cls) {
      const m = METHOD.exec(t)?.[1];
      if (m && !KEYWORDS.has(m)) name = m;
    }
    if (!name) return;
    // The body's brace: the last { on the first line (from the header) that ends with one.
    let end = n;
    while (end < code.length && end < n + 15 && !code[end]!.trimEnd().endsWith("{")) {
      if (end > n && code[end]!.trimEnd().endsWith(";")) return; // an overload or abstract signature
      end++;
    }
    const bodyLine = code[end];
    if (bodyLine === undefined || !bodyLine.trimEnd().endsWith("{")) return;
    const close = closes.get(`${end}:${bodyLine.lastIndexOf("{")}`);
    if (close === undefined) return;
    let c = n - 1;
    const comment: string[] = [];
    while (c >= 0 && /^\s*(\/\/|\/\*|\*)/.test(raw[c]!)) comment.unshift(raw[c--]!);
    spans.push({ name: cls && !FUNCTION.test(t) ? `${cls}.${name}` : name, line: n + 1, lines: close - n + 1, comment: comment.join("\n") });
  });
  return spans;
}

