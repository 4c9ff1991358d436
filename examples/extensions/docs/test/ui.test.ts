import { existsSync, readFileSync } from "node:fs";
import { parseManifest } from "@annex/manifest";
import { describe, expect, it } from "vitest";

const root = new URL("../", import.meta.url);
const manifest = parseManifest(JSON.parse(readFileSync(new URL("annex.json", root), "utf8")));
const pages = manifest.ui?.pages ?? [];

/** The URLs a page loads: src and href attributes. */
function references(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)].map((match) => match[1]!);
}

describe("UI pages", () => {
  it("declares at least one page", () => {
    expect(pages.length).toBeGreaterThan(0);
  });

  for (const page of pages) {
    describe(page.entry, () => {
      const file = new URL(page.entry, root);
      const html = readFileSync(file, "utf8");

      it("loads only files that ship in the bundle (no remote URLs)", () => {
        for (const ref of references(html)) {
          if (ref.startsWith("#")) continue;
          expect(ref, `${page.entry} refers to ${ref}`).not.toMatch(/^[a-z][a-z0-9+.-]*:|^\/\//i);
          expect(existsSync(new URL(ref.split(/[?#]/)[0]!, file)), `${page.entry} refers to missing ${ref}`).toBe(true);
        }
      });

      it("has no inline script (the host's CSP refuses it)", () => {
        expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
        expect(html).not.toMatch(/<[^>]*\son[a-z]+\s*=/i);
      });
    });
  }
});
