/**
 * Finds the code blocks of a Markdown document and groups them into the modules the docs-code test
 * compiles and runs. The convention (also in the root README's "Docs code" section):
 *
 * - every fence names its language (```text for plain output), so that no code hides in a bare fence;
 * - a ```ts (or typescript, js, javascript) block is a module that is typechecked against the workspace
 *   packages and run; its info string may add ONE mode:
 *     `check`     typechecked, not run (browser-only code: it needs a page, a frame, a user);
 *     `fragment`  neither (an excerpt: an interface sketch, an options literal); keep these rare;
 *     `continued` appended to the file's previous runnable or check block: the two are one module;
 * - an HTML comment right before a block, `<!-- docs-test:setup … -->`, is code put before it (hidden
 *   declarations, fakes of the app's own services); `<!-- docs-test:teardown … -->` right after a block is
 *   code run after the group (closing what the visible code opened).
 */

export const CODE_LANGUAGES = new Set(["ts", "typescript", "js", "javascript"]);
export const MODES = ["run", "check", "fragment", "continued"] as const;
export type Mode = (typeof MODES)[number];

export interface CodeLine {
  /** 1-based line in the Markdown file. */
  line: number;
  text: string;
}

export interface CodeBlock {
  /** Line of the opening fence. */
  line: number;
  language: string;
  mode: Mode;
  setup: CodeLine[];
  code: CodeLine[];
  teardown: CodeLine[];
}

/** One module: a block and the blocks continuing it. */
export interface CodeGroup {
  file: string;
  line: number;
  language: "ts" | "js";
  mode: "run" | "check";
  lines: CodeLine[];
}

export class DocsCodeError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "DocsCodeError";
    this.code = code;
  }
}

const FENCE = /^(\s*)(`{3,}|~{3,})(.*)$/;
const SETUP = "<!-- docs-test:setup";
const TEARDOWN = "<!-- docs-test:teardown";

interface Fence {
  line: number;
  indent: number;
  marker: string;
  info: string;
  body: CodeLine[];
  endLine: number;
}

function findFences(file: string, lines: string[]): Fence[] {
  const fences: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (open === null) continue;
    const indent = open[1]!.length;
    const marker = open[2]!;
    const info = open[3]!.trim();
    const body: CodeLine[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = FENCE.exec(lines[j]!);
      if (close !== null && close[2]![0] === marker[0] && close[2]!.length >= marker.length && close[3]!.trim() === "") break;
      const raw = lines[j]!;
      // Fences inside list items are indented; their content carries the same indent.
      const strip = Math.min(indent, raw.length - raw.trimStart().length);
      body.push({ line: j + 1, text: raw.slice(strip) });
    }
    if (j >= lines.length) throw new DocsCodeError("E_DOCS_FENCE", `${file}:${i + 1}: a code fence is never closed.`);
    fences.push({ line: i + 1, indent, marker, info, body, endLine: j + 1 });
    i = j;
  }
  return fences;
}

/** The HTML comment `<!-- docs-test:<kind> … -->` ending just before `before` (searching up) or starting just after `after`. */
function comment(lines: string[], kind: string, from: number, direction: -1 | 1): CodeLine[] {
  let i = from;
  while (i >= 0 && i < lines.length && lines[i]!.trim() === "") i += direction;
  if (i < 0 || i >= lines.length) return [];
  let start: number;
  let end: number;
  if (direction === -1) {
    if (!lines[i]!.trim().endsWith("-->")) return [];
    end = i;
    start = i;
    while (start >= 0 && !lines[start]!.includes("<!--")) start--;
    if (start < 0 || !lines[start]!.trim().startsWith(kind)) return [];
  } else {
    if (!lines[i]!.trim().startsWith(kind)) return [];
    start = i;
    end = i;
    while (end < lines.length && !lines[end]!.includes("-->")) end++;
  }
  const out: CodeLine[] = [];
  for (let k = start; k <= end; k++) {
    let text = lines[k]!;
    if (k === start) text = text.slice(text.indexOf(kind) + kind.length);
    if (k === end) text = text.slice(0, text.lastIndexOf("-->"));
    out.push({ line: k + 1, text });
  }
  return out;
}

export function extractBlocks(file: string, markdown: string): CodeBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  for (const fence of findFences(file, lines)) {
    const [language = "", ...words] = fence.info.split(/\s+/).filter(Boolean);
    if (language === "") {
      throw new DocsCodeError(
        "E_DOCS_FENCE_LANGUAGE",
        `${file}:${fence.line}: a code fence without a language. Name it (\`\`\`ts, \`\`\`sh, \`\`\`json, \`\`\`text …) so that the docs-code test knows whether to run it.`,
      );
    }
    if (!CODE_LANGUAGES.has(language.toLowerCase())) continue;
    if (words.length > 1 || (words.length === 1 && !(MODES as readonly string[]).includes(words[0]!))) {
      throw new DocsCodeError(
        "E_DOCS_FENCE_MODE",
        `${file}:${fence.line}: \`\`\`${fence.info}: after the language a code block may name one mode of ${MODES.filter((m) => m !== "run").join(", ")} (or none: run it).`,
      );
    }
    blocks.push({
      line: fence.line,
      language: language.toLowerCase(),
      mode: (words[0] as Mode | undefined) ?? "run",
      setup: comment(lines, SETUP, fence.line - 2, -1),
      code: fence.body,
      teardown: comment(lines, TEARDOWN, fence.endLine, 1),
    });
  }
  return blocks;
}

export function groupBlocks(file: string, blocks: CodeBlock[]): CodeGroup[] {
  const groups: { group: CodeGroup; teardown: CodeLine[] }[] = [];
  for (const block of blocks) {
    if (block.mode === "fragment") continue;
    const language = block.language.startsWith("t") ? "ts" : "js";
    if (block.mode === "continued") {
      const last = groups.at(-1);
      if (last === undefined) {
        throw new DocsCodeError("E_DOCS_CONTINUED", `${file}:${block.line}: a \`continued\` block with no runnable block before it in this file.`);
      }
      if (last.group.language !== language) {
        throw new DocsCodeError("E_DOCS_CONTINUED", `${file}:${block.line}: a \`continued\` ${block.language} block continues a ${last.group.language} one.`);
      }
      last.group.lines.push(...block.setup, ...block.code);
      last.teardown.push(...block.teardown);
      continue;
    }
    groups.push({
      group: { file, line: block.line, language, mode: block.mode === "check" ? "check" : "run", lines: [...block.setup, ...block.code] },
      teardown: [...block.teardown],
    });
  }
  return groups.map(({ group, teardown }) => ({ ...group, lines: [...group.lines, ...teardown] }));
}

/** The module text of a group, one source line per line, so that positions map back with `lines[i].line`. */
export function moduleText(group: CodeGroup): string {
  return `${group.lines.map((l) => l.text).join("\n")}\nexport {};\n`;
}
