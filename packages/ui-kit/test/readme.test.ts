import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as kit from "../src/index.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const errorsSource = readFileSync(new URL("../src/errors.ts", import.meta.url), "utf8");

// The README is the reference: keep it from drifting away from the code.
describe("README", () => {
  it("lists every token with its light and dark values", () => {
    for (const def of kit.tokenDefinitions) {
      const row = readme.split("\n").find((line) => line.startsWith(`| \`${def.name}\` |`));
      expect(row, def.name).toBeDefined();
      expect(row).toContain(`\`${def.light.replace(/\|/g, "\\|")}\``);
      if (def.dark) expect(row).toContain(`\`${def.dark}\``);
    }
  });

  it("documents every error code", () => {
    const codes = [...errorsSource.matchAll(/"(E_UI_[A-Z_]+)"/g)].map((m) => m[1] as string);
    expect(codes.length).toBeGreaterThanOrEqual(8);
    for (const code of new Set(codes)) expect(readme, code).toContain(`\`${code}\``);
  });

  it("mentions every public export and every component tag", () => {
    for (const name of Object.keys(kit)) expect(readme, name).toContain(name);
    for (const tag of kit.componentTags) expect(readme, tag).toContain(`<${tag}`);
  });
});
