import { packExtension, type PackedExtension } from "@annex/build";
import { parseManifest } from "@annex/manifest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const root = new URL("../", import.meta.url);
const manifest = parseManifest(JSON.parse(readFileSync(new URL("annex.json", root), "utf8")));
const pages = manifest.ui?.pages ?? [];

/** The URLs a page loads: src and href attributes. */
function references(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)].map((match) => match[1]!);
}

// The pages as `annex pack` builds them: what a host serves.
let packed: PackedExtension;
beforeAll(async () => {
  packed = await packExtension(fileURLToPath(root));
}, 60_000);

describe("UI pages", () => {
  it("declares at least one page", () => {
    expect(pages.length).toBeGreaterThan(0);
  });

  for (const page of pages) {
    describe(page.entry, () => {
      it("loads only files of the bundle (no remote URLs, nothing from node_modules)", () => {
        const html = new TextDecoder().decode(packed.files.get(page.entry));
        for (const ref of references(html)) {
          if (ref.startsWith("#")) continue;
          expect(ref, `${page.entry} refers to ${ref}`).not.toMatch(/^[a-z][a-z0-9+.-]*:|^\/\/|node_modules/i);
          const target = new URL(ref.split(/[?#]/)[0]!, `https://bundle.test/${page.entry}`).pathname.slice(1);
          expect(packed.files.has(target), `${page.entry} refers to ${ref}, which is not packed`).toBe(true);
        }
      });
    });
  }

  it("packs the ui-kit stylesheet into the pages' stylesheet", () => {
    const css = new TextDecoder().decode(packed.files.get("ui/style.css"));
    expect(css).toContain("--annex-color-surface");
    expect(css).not.toContain("@import");
  });
});
