/**
 * The shell commands of a Markdown document: every fenced block tagged sh, shell, bash or console
 * (indented ones in lists too), split into commands as a shell reads them (a trailing backslash
 * or an open quote continues the line), comments dropped. Pure: the docs test decides what to do
 * with each.
 */

export interface DocBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  text: string;
}

export interface DocCommand {
  file: string;
  /** 1-based line where the command starts. */
  line: number;
  /** The command as a shell gets it, continuation lines joined, the comment dropped. */
  text: string;
  /** The block it comes from. */
  block: DocBlock;
}

const SHELL_TAGS = new Set(["sh", "shell", "bash", "console"]);

/** The shell blocks of a Markdown text. */
export function shellBlocks(markdown: string, file: string): DocBlock[] {
  const lines = markdown.split("\n");
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(```+|~~~+)\s*([\w-]*)/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, tag] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !lines[j]!.trimStart().startsWith(fence!); j++) body.push(lines[j]!.startsWith(indent!) ? lines[j]!.slice(indent!.length) : lines[j]!.trimStart());
    if (SHELL_TAGS.has(tag!)) blocks.push({ file, line: i + 1, text: body.join("\n") });
    i = j;
  }
  return blocks;
}

/**
 * Scans one line: where an unquoted comment starts (-1: none) and the quote still open at its end.
 * `open` is the quote open from the previous line.
 */
function scan(line: string, open: string | null): { comment: number; open: string | null } {
  let q = open;
  for (let k = 0; k < line.length; k++) {
    const c = line[k]!;
    if (q === "'") {
      if (c === "'") q = null;
    } else if (q === '"') {
      if (c === "\\") k++;
      else if (c === '"') q = null;
    } else if (c === "\\") k++;
    else if (c === "'" || c === '"') q = c;
    else if (c === "#" && (k === 0 || /\s/.test(line[k - 1]!))) return { comment: k, open: q };
  }
  return { comment: -1, open: q };
}

/** The commands of a block, in order. */
export function commandsOf(block: DocBlock): DocCommand[] {
  const out: DocCommand[] = [];
  let cur: string | null = null;
  let start = 0;
  let open: string | null = null;
  block.text.split("\n").forEach((raw, i) => {
    const wasOpen = open !== null;
    const s = scan(raw, open);
    let line = s.comment >= 0 ? raw.slice(0, s.comment) : raw;
    open = s.open;
    if (cur === null) {
      if (line.trim() === "") return;
      start = i;
    }
    // A backslash-newline disappears; a newline inside quotes stays.
    const backslash = open === null && /\\$/.test(line);
    if (backslash) line = line.slice(0, -1);
    cur = cur === null ? line : cur + (wasOpen ? "\n" : "") + line;
    if (open === null && !backslash) {
      out.push({ file: block.file, line: block.line + 1 + start, text: cur.trimEnd(), block });
      cur = null;
    }
  });
  if (cur !== null) out.push({ file: block.file, line: block.line + 1 + start, text: cur, block });
  return out;
}

/**
 * The words of a command as the shell splits them, quotes removed; `$NAME` and `${NAME}` outside
 * single quotes are expanded from `vars` (unknown ones to ""), unquoted expansions split on blanks.
 */
export function shellWords(text: string, vars: Record<string, string> = {}): string[] {
  const words: string[] = [];
  let w: string | null = null;
  const push = (s: string) => (w = (w ?? "") + s);
  for (let k = 0; k < text.length; k++) {
    const c = text[k]!;
    if (c === "'") {
      const end = text.indexOf("'", k + 1);
      push(text.slice(k + 1, end < 0 ? text.length : end));
      k = end < 0 ? text.length : end;
    } else if (c === '"') {
      let s = "";
      for (k++; k < text.length && text[k] !== '"'; k++) {
        if (text[k] === "\\" && k + 1 < text.length) s += text[++k];
        else if (text[k] === "$") {
          const m = /^\$(?:\{(\w+)\}|(\w+))/.exec(text.slice(k));
          if (m) {
            s += vars[m[1] ?? m[2]!] ?? "";
            k += m[0].length - 1;
          } else s += "$";
        } else s += text[k];
      }
      push(s);
    } else if (c === "\\" && k + 1 < text.length) push(text[++k]!);
    else if (c === "$" && /^\$(\{\w+\}|\w+)/.test(text.slice(k))) {
      const m = /^\$(?:\{(\w+)\}|(\w+))/.exec(text.slice(k))!;
      const parts = (vars[m[1] ?? m[2]!] ?? "").split(/\s+/).filter(Boolean);
      k += m[0].length - 1;
      parts.forEach((p, i) => {
        if (i > 0 && w !== null) {
          words.push(w);
          w = null;
        }
        push(p);
      });
    } else if (/\s/.test(c)) {
      if (w !== null) words.push(w);
      w = null;
    } else push(c);
  }
  if (w !== null) words.push(w);
  return words;
}

/** `NAME=value` assignments of a command that is only assignments (`F="--a b"`), else null. */
export function assignmentsOf(text: string, vars: Record<string, string> = {}): Record<string, string> | null {
  const words = shellWords(text, vars);
  if (words.length === 0 || !words.every((w) => /^[A-Za-z_]\w*=/.test(w))) return null;
  return Object.fromEntries(words.map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]));
}
