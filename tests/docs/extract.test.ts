import { describe, expect, it } from "vitest";
import { DocsCodeError, extractBlocks, groupBlocks, moduleText } from "./extract.js";

const fence = "```";

function codeOf(error: unknown): string | undefined {
  return error instanceof DocsCodeError ? error.code : undefined;
}

describe("docs code extraction", () => {
  it("runs a plain ts block, with its hidden setup before and teardown after, lines mapped to the file", () => {
    const md = [
      "# Title",
      "<!-- docs-test:setup",
      "const a = 1;",
      "-->",
      `${fence}ts`,
      "console.log(a);",
      fence,
      "<!-- docs-test:teardown await close(); -->",
    ].join("\n");
    const [group] = groupBlocks("x.md", extractBlocks("x.md", md));
    expect(group).toMatchObject({ file: "x.md", line: 5, language: "ts", mode: "run" });
    expect(group!.lines.map((l) => [l.line, l.text.trim()]).filter(([, t]) => t !== "")).toEqual([
      [3, "const a = 1;"],
      [6, "console.log(a);"],
      [8, "await close();"],
    ]);
    expect(moduleText(group!)).toContain("export {};");
  });

  it("refuses a fence without a language: code must not hide in a bare fence", () => {
    expect(() => extractBlocks("x.md", `${fence}\nnpx something\n${fence}\n`)).toThrow(/x\.md:1: a code fence without a language/);
  });

  it("refuses an unknown mode instead of silently skipping the block", () => {
    let caught: unknown;
    try {
      extractBlocks("x.md", `${fence}ts no-run\nconst a = 1;\n${fence}\n`);
    } catch (error) {
      caught = error;
    }
    expect(codeOf(caught)).toBe("E_DOCS_FENCE_MODE");
  });

  it("skips fragments and other languages, typechecks `check` blocks without running them", () => {
    const md = [`${fence}sh`, "pnpm build", fence, `${fence}ts fragment`, "gateway: {}", fence, `${fence}ts check`, "document.title;", fence].join("\n");
    const groups = groupBlocks("x.md", extractBlocks("x.md", md));
    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({ mode: "check", line: 7 });
  });

  it("joins a `continued` block to the previous group, teardowns last", () => {
    const md = [
      `${fence}ts`,
      "const host = 1;",
      fence,
      "<!-- docs-test:teardown",
      "close(host);",
      "-->",
      "text",
      `${fence}ts continued`,
      "use(host);",
      fence,
    ].join("\n");
    const groups = groupBlocks("x.md", extractBlocks("x.md", md));
    expect(groups).toHaveLength(1);
    expect(groups[0]!.lines.map((l) => l.text.trim()).filter(Boolean)).toEqual(["const host = 1;", "use(host);", "close(host);"]);
  });

  it("refuses a `continued` block with nothing to continue, and an unclosed fence", () => {
    expect(() => groupBlocks("x.md", extractBlocks("x.md", `${fence}ts continued\nuse(1);\n${fence}\n`))).toThrow(DocsCodeError);
    expect(() => extractBlocks("x.md", `${fence}ts\nconst a = 1;\n`)).toThrow(/never closed/);
  });

  it("reads fences indented in list items and longer fences holding shorter ones", () => {
    const md = ["- step", "  ```ts", "  const a = 1;", "  ```", "````md", "```ts", "not code of this file", "```", "````"].join("\n");
    const blocks = extractBlocks("x.md", md);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]!.code[0]!.text).toBe("const a = 1;");
  });
});
