import { describe, expect, it } from "vitest";
import {
  applyTheme,
  assertTokenValue,
  defineAll,
  baseCss,
  darkTheme,
  isUiKitError,
  lightTheme,
  parseTheme,
  themeToCss,
  tokenDefinitions,
  tokenNames,
  UiKitError,
} from "../src/index.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof UiKitError ? error.code : `not a UiKitError: ${String(error)}`;
  }
  return undefined;
}

describe("tokens", () => {
  it("are all --annex-* names, unique, and present in both themes", () => {
    expect(new Set(tokenNames).size).toBe(tokenNames.length);
    for (const name of tokenNames) {
      expect(name).toMatch(/^--annex-[a-z0-9-]+$/);
      expect(lightTheme.tokens[name]).toBeTypeOf("string");
      expect(darkTheme.tokens[name]).toBeTypeOf("string");
    }
    expect(Object.keys(lightTheme.tokens)).toEqual([...tokenNames]);
    expect(lightTheme.mode).toBe("light");
    expect(darkTheme.mode).toBe("dark");
  });

  it("cover colours, spacing, radius, typography, shadows and the focus ring", () => {
    for (const prefix of ["--annex-color-", "--annex-space-", "--annex-radius-", "--annex-font-", "--annex-line-height", "--annex-shadow-", "--annex-focus-ring-"]) {
      expect(tokenNames.some((n) => n.startsWith(prefix)), prefix).toBe(true);
    }
    // Every colour changes between the themes (a dark theme that reuses light surfaces would be broken).
    for (const def of tokenDefinitions.filter((d) => d.kind === "color")) {
      expect(darkTheme.tokens[def.name], def.name).not.toBe(lightTheme.tokens[def.name]);
    }
  });

  it("default values pass their own validation", () => {
    for (const def of tokenDefinitions) {
      expect(() => assertTokenValue(def.name, lightTheme.tokens[def.name])).not.toThrow();
      expect(() => assertTokenValue(def.name, darkTheme.tokens[def.name])).not.toThrow();
    }
  });

  it("are frozen, so a page cannot change the defaults for everyone", () => {
    expect(Object.isFrozen(lightTheme.tokens)).toBe(true);
    expect(() => {
      (lightTheme.tokens as Record<string, string>)["--annex-color-bg"] = "red";
    }).toThrow(TypeError);
  });
});

describe("parseTheme / themeToCss (hostile input)", () => {
  const hostile: [string, string][] = [
    ["--annex-color-bg", "red; } body { display: none"],
    ["--annex-color-bg", "url(https://evil.example/x.png)"],
    ["--annex-color-bg", "url(//evil.example/x)"],
    ["--annex-color-text", "</style><script>alert(1)</script>"],
    ["--annex-color-text", "expression(alert(1))"],
    ["--annex-color-text", "var(--annex-color-bg)"],
    ["--annex-shadow-md", "0 0 2px image-set(url(x) 1x)"],
    ["--annex-shadow-md", "0 0 2px rgba(0,0,0,0.1)) ; color: red"],
    ["--annex-shadow-md", "0 0 2px rgba(0,0,0"],
    ["--annex-font-family", 'Arial; } * { color: red'],
    ["--annex-font-family", '"unbalanced, sans-serif'],
    ["--annex-font-family", "a\\62 c"],
    ["--annex-space-1", "calc(1px + 1px)"],
    ["--annex-space-1", "1px /* comment */"],
    ["--annex-space-1", "10px\n}"],
    ["--annex-duration", "1s; animation: x"],
    ["--annex-font-weight-bold", "bolder; x: y"],
    ["--annex-color-bg", "a".repeat(301)],
  ];

  it.each(hostile)("rejects %s = %j", (name, value) => {
    expect(codeOf(() => parseTheme({ mode: "light", tokens: { [name]: value } }))).toBe("E_UI_INVALID_TOKEN_VALUE");
    expect(codeOf(() => themeToCss({ mode: "light", tokens: { [name]: value } }))).toBe("E_UI_INVALID_TOKEN_VALUE");
  });

  it("names the token and what is expected", () => {
    try {
      parseTheme({ mode: "dark", tokens: { "--annex-space-2": "huge" } });
      expect.unreachable();
    } catch (error) {
      expect(isUiKitError(error, "E_UI_INVALID_TOKEN_VALUE")).toBe(true);
      expect((error as Error).message).toContain('theme.tokens["--annex-space-2"]');
      expect((error as Error).message).toContain("length");
      expect((error as UiKitError).details).toEqual({ token: "--annex-space-2", kind: "length" });
    }
  });

  it("rejects unknown tokens by default and can drop them", () => {
    const theme = { mode: "light", tokens: { "--annex-color-bg": "#fff", "--annex-color-future": "#000", __proto__: "x" } };
    expect(codeOf(() => parseTheme(theme))).toBe("E_UI_UNKNOWN_TOKEN");
    const dropped = parseTheme(JSON.parse('{"mode":"light","tokens":{"--annex-color-bg":"#fff","--annex-x":"1","__proto__":"#000"}}'), {
      unknownTokens: "drop",
    });
    expect(dropped.tokens).toEqual({ "--annex-color-bg": "#fff" });
    expect(Object.getPrototypeOf(dropped.tokens)).toBe(Object.prototype);
  });

  it("rejects malformed themes with the field named", () => {
    expect(codeOf(() => parseTheme(null))).toBe("E_UI_INVALID_THEME");
    expect(codeOf(() => parseTheme({ mode: "sepia", tokens: {} }))).toBe("E_UI_INVALID_THEME");
    expect(codeOf(() => parseTheme({ mode: "light", tokens: [] }))).toBe("E_UI_INVALID_THEME");
    expect(codeOf(() => parseTheme({ mode: "light", tokens: { "--annex-color-bg": 12 } }))).toBe("E_UI_INVALID_TOKEN_VALUE");
  });

  it("accepts the colour and shadow notations a designer would use", () => {
    const theme = parseTheme({
      mode: "dark",
      tokens: {
        "--annex-color-bg": "oklch(0.2 0.01 250)",
        "--annex-color-text": "rgb(230 237 243 / 90%)",
        "--annex-color-primary": "hsl(214, 90%, 63%)",
        "--annex-color-surface": "  #161b22 ",
        "--annex-shadow-lg": "0 12px 32px rgba(1, 4, 9, 0.85), 0 0 0 1px #30363d",
        "--annex-font-family": '"Inter", system-ui, sans-serif',
        "--annex-duration": "0.2s",
      },
    });
    expect(theme.tokens["--annex-color-surface"]).toBe("#161b22");
  });

  it("renders a rule with color-scheme and every token", () => {
    const css = themeToCss(darkTheme, '[data-annex-theme="dark"]');
    expect(css.startsWith('[data-annex-theme="dark"] {\n  color-scheme: dark;\n')).toBe(true);
    for (const name of tokenNames) expect(css).toContain(`  ${name}: ${darkTheme.tokens[name]};\n`);
    expect(css.trimEnd().endsWith("}")).toBe(true);
  });

  it("refuses selectors that could escape the rule", () => {
    for (const selector of ["", "a{}", "x</style>", "@import 'x'", "a;b"]) {
      expect(codeOf(() => themeToCss(lightTheme, selector))).toBe("E_UI_INVALID_SELECTOR");
    }
  });
});

describe("base stylesheet", () => {
  it("defines the light tokens on :root, the dark ones under data-annex-theme and the OS preference", () => {
    expect(baseCss).toContain(themeToCss(lightTheme, ':root,\n[data-annex-theme="light"]'));
    expect(baseCss).toContain('[data-annex-theme="dark"] {\n  color-scheme: dark;');
    expect(baseCss).toContain("@media (prefers-color-scheme: dark)");
    expect(baseCss).toContain(`--annex-color-bg: ${darkTheme.tokens["--annex-color-bg"]};`);
  });

  it("styles elements with tokens only: every colour in the element rules is a var()", () => {
    const elementRules = baseCss.slice(baseCss.indexOf("*,\n*::before"));
    const colourDeclarations = [...elementRules.matchAll(/(?:^|[;{\s])(color|background(?:-color)?|outline|border(?:-top)?):\s*([^;]+);/g)];
    expect(colourDeclarations.length).toBeGreaterThan(10);
    for (const [, property, value] of colourDeclarations) {
      if (property === "border" && value === "0") continue;
      expect(value, `${property}: ${value}`).toMatch(/var\(--annex-/);
    }
    // No literal colours outside var() fallbacks.
    const withoutFallbacks = elementRules.replace(/var\(--annex-[a-z0-9-]+, [^)]*(?:\([^)]*\))?[^)]*\)/g, "var()");
    expect(withoutFallbacks).not.toMatch(/#[0-9a-f]{3,8}\b|rgba?\(/i);
  });
});

describe("outside a browser", () => {
  it("imports without a DOM (hosts use the tokens from Node) and says what is missing when a DOM is needed", () => {
    expect(typeof document).toBe("undefined");
    expect(codeOf(() => defineAll())).toBe("E_UI_NO_DOM");
    expect(codeOf(() => applyTheme(lightTheme))).toBe("E_UI_NO_DOM");
  });
});
