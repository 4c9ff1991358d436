import { describe, expect, it } from "vitest";
import {
  checkContrast,
  compositeColor,
  contrastPairs,
  contrastRatio,
  darkTheme,
  isUiKitError,
  lightTheme,
  parseColor,
  relativeLuminance,
  tokenDefinitions,
  type Theme,
} from "../src/index.js";

describe("colour maths", () => {
  it("parses every notation the tokens use", () => {
    expect(parseColor("#0a5cc7")).toEqual({ r: 10, g: 92, b: 199, a: 1 });
    expect(parseColor("#fff")).toEqual({ r: 255, g: 255, b: 255, a: 1 });
    expect(parseColor("#00000080").a).toBeCloseTo(128 / 255);
    expect(parseColor("rgba(31, 35, 40, 0.5)")).toEqual({ r: 31, g: 35, b: 40, a: 0.5 });
    expect(parseColor("rgb(10 20 30 / 50%)")).toEqual({ r: 10, g: 20, b: 30, a: 0.5 });
  });

  it("rejects colours it cannot read with a typed error", () => {
    for (const bad of ["blue", "#12", "hsl(10 20% 30%)", "rgb(1,2)", "rgb(a,b,c)"]) {
      expect(() => parseColor(bad)).toThrow(expect.objectContaining({ code: "E_UI_INVALID_COLOR" }));
    }
  });

  it("matches the WCAG reference points", () => {
    expect(relativeLuminance("#000000")).toBe(0);
    expect(relativeLuminance("#ffffff")).toBeCloseTo(1, 10);
    expect(contrastRatio("#000", "#fff")).toBeCloseTo(21, 10);
    expect(contrastRatio("#fff", "#fff")).toBeCloseTo(1, 10);
    // Published values (WebAIM contrast checker): #777 on white is 4.48:1, #767676 on white 4.54:1.
    expect(contrastRatio("#777777", "#ffffff")).toBeCloseTo(4.48, 2);
    expect(contrastRatio("#767676", "#ffffff")).toBeCloseTo(4.54, 2);
    // Symmetric in its arguments.
    expect(contrastRatio("#0a5cc7", "#f6f8fa")).toBeCloseTo(contrastRatio("#f6f8fa", "#0a5cc7"), 12);
  });

  it("composites a translucent foreground before measuring", () => {
    const half = compositeColor({ r: 0, g: 0, b: 0, a: 0.5 }, { r: 255, g: 255, b: 255, a: 1 });
    expect(half).toEqual({ r: 127.5, g: 127.5, b: 127.5, a: 1 });
    expect(contrastRatio("rgba(0, 0, 0, 0.5)", "#ffffff")).toBeCloseTo(contrastRatio(half, "#ffffff"), 12);
    expect(() => contrastRatio("#000", "rgba(255, 255, 255, 0.5)")).toThrow(expect.objectContaining({ code: "E_UI_INVALID_COLOR" }));
  });
});

describe("theme contrast (WCAG AA)", () => {
  const themes: [string, Theme][] = [
    ["light", lightTheme],
    ["dark", darkTheme],
  ];

  it("declares only pairs of real colour tokens", () => {
    const colours = new Set(tokenDefinitions.filter((d) => d.kind === "color").map((d) => d.name));
    for (const pair of contrastPairs) {
      expect(colours.has(pair.foreground), pair.foreground).toBe(true);
      expect(colours.has(pair.background), pair.background).toBe(true);
    }
    // Text on every status background, and a focus ring on every surface, must be covered.
    for (const status of ["info", "success", "warning", "danger"]) {
      expect(contrastPairs.some((p) => p.foreground === `--annex-color-${status}-text` && p.background === `--annex-color-${status}-bg`)).toBe(true);
    }
    for (const surface of ["bg", "surface", "surface-muted"]) {
      expect(contrastPairs.some((p) => p.foreground === "--annex-color-focus-ring" && p.background === `--annex-color-${surface}`)).toBe(true);
    }
  });

  for (const [mode, theme] of themes) {
    it.each(contrastPairs.map((p) => [p.foreground, p.background, p.min, p.usage] as const))(
      `${mode}: %s on %s is at least %s:1 (%s)`,
      (foreground, background, min) => {
        const ratio = contrastRatio(theme.tokens[foreground] as string, theme.tokens[background] as string);
        expect(ratio).toBeGreaterThanOrEqual(min);
      },
    );
  }

  it("checkContrast reports the same ratios and flags a failing custom theme", () => {
    const results = checkContrast(darkTheme);
    expect(results).toHaveLength(contrastPairs.length);
    for (const result of results) {
      expect(result.ratio).toBeCloseTo(
        contrastRatio(darkTheme.tokens[result.foreground] as string, darkTheme.tokens[result.background] as string),
        12,
      );
      expect(result.passes).toBe(true);
    }
    // A host theme that makes muted text too light is caught; tokens it omits come from the defaults.
    const washedOut: Theme = { mode: "light", tokens: { "--annex-color-text-muted": "#b0b0b0" } };
    const failing = checkContrast(washedOut).filter((r) => !r.passes);
    expect(failing.length).toBeGreaterThan(0);
    expect(failing.every((r) => r.foreground === "--annex-color-text-muted")).toBe(true);
  });

  it("reads token colours it cannot parse as a typed error, not a pass", () => {
    try {
      checkContrast({ mode: "light", tokens: { "--annex-color-text": "oklch(0.2 0 0)" } });
      expect.unreachable();
    } catch (error) {
      expect(isUiKitError(error, "E_UI_INVALID_COLOR")).toBe(true);
    }
  });
});
