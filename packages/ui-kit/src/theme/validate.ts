import { UiKitError } from "../errors.js";
import { isTokenName, tokenDefinitions, type Theme, type TokenKind, type TokenName } from "./tokens.js";

/**
 * Token values arrive from the host through the bridge and end up inside
 * stylesheets, so each is checked against a narrow grammar for its kind. Deny
 * by default: no `url()`, no `;`, braces, angle brackets, backslashes or
 * comments, only a handful of CSS functions; nothing that could close a rule,
 * load a resource or smuggle markup into a <style> element.
 */

const MAX_VALUE_LENGTH = 300;
const COLOR_FUNCTIONS = new Set(["rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch"]);

const NUMBER = String.raw`(?:\d+|\d*\.\d+)`;
const LENGTH = new RegExp(String.raw`^(?:0|-?${NUMBER}(?:px|rem|em|%|ch|ex|vh|vw|vmin|vmax))$`);
const COLOR_HEX = /^#(?:[0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;
const COLOR_KEYWORD = /^[a-z]{3,30}$/i;
const COLOR_FUNCTION = /^([a-z]+)\(([0-9a-z.,%\s/+-]*)\)$/i;
const FONT_FAMILY = /^[A-Za-z0-9 _,"'-]+$/;
const FONT_WEIGHT = /^(?:[1-9]00|normal|bold)$/;
const PLAIN_NUMBER = new RegExp(`^${NUMBER}$`);
const TIME = new RegExp(`^${NUMBER}(?:ms|s)$`);
const SHADOW = /^[#a-z0-9.,%()\s/+-]+$/i;
const FUNCTION_NAME = /([a-z-]+)\(/gi;

function isColor(value: string): boolean {
  if (COLOR_HEX.test(value) || COLOR_KEYWORD.test(value)) return true;
  const match = COLOR_FUNCTION.exec(value);
  return match !== null && COLOR_FUNCTIONS.has((match[1] as string).toLowerCase());
}

function quotesBalanced(value: string): boolean {
  return (value.split('"').length - 1) % 2 === 0 && (value.split("'").length - 1) % 2 === 0;
}

function onlyColorFunctions(value: string): boolean {
  for (const match of value.matchAll(FUNCTION_NAME)) {
    if (!COLOR_FUNCTIONS.has((match[1] as string).toLowerCase())) return false;
  }
  // Parentheses must pair up, or a value could leave a function open.
  let depth = 0;
  for (const ch of value) {
    if (ch === "(") depth++;
    else if (ch === ")" && --depth < 0) return false;
  }
  return depth === 0;
}

const checks: Record<TokenKind, { test: (value: string) => boolean; expected: string }> = {
  color: { test: isColor, expected: "a hex colour (#1f2328), a colour keyword, or rgb()/hsl()/oklch()-style function" },
  length: { test: (v) => LENGTH.test(v), expected: "a length such as 0, 4px, 0.5rem or 50%" },
  "font-family": {
    test: (v) => FONT_FAMILY.test(v) && quotesBalanced(v),
    expected: 'a comma-separated font list such as system-ui, "Segoe UI", sans-serif',
  },
  "font-weight": { test: (v) => FONT_WEIGHT.test(v), expected: "100 … 900, normal or bold" },
  number: { test: (v) => PLAIN_NUMBER.test(v), expected: "a plain number such as 1.5" },
  shadow: {
    test: (v) => v === "none" || (SHADOW.test(v) && onlyColorFunctions(v)),
    expected: "none, or offsets, blur and a colour such as 0 1px 2px rgba(0, 0, 0, 0.1)",
  },
  time: { test: (v) => TIME.test(v), expected: "a duration such as 150ms or 0.2s" },
};

const kindByName: ReadonlyMap<string, TokenKind> = new Map(tokenDefinitions.map((d) => [d.name, d.kind]));

/** Throws `E_UI_UNKNOWN_TOKEN` or `E_UI_INVALID_TOKEN_VALUE` unless `value` is safe and well-formed for `name`. */
export function assertTokenValue(name: string, value: unknown): asserts value is string {
  const kind = kindByName.get(name);
  if (kind === undefined) {
    throw new UiKitError(
      "E_UI_UNKNOWN_TOKEN",
      `theme.tokens["${truncate(name)}"] is not an Annex token; use one of tokenNames (e.g. --annex-color-primary)`,
      { token: name },
    );
  }
  const check = checks[kind];
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_VALUE_LENGTH || !check.test(value.trim())) {
    throw new UiKitError(
      "E_UI_INVALID_TOKEN_VALUE",
      `theme.tokens["${name}"] must be ${check.expected}; got ${typeof value === "string" ? JSON.stringify(truncate(value)) : typeof value}`,
      { token: name, kind },
    );
  }
}

export interface ParseThemeOptions {
  /**
   * What to do with a token name this version of the kit does not know:
   * "reject" (default, deny by default) throws, "drop" leaves it out, for a
   * page that accepts themes from a newer host.
   */
  unknownTokens?: "reject" | "drop";
}

/**
 * Checks a theme from an untrusted source (the host, a stored preference)
 * and returns a clean copy holding only validated tokens. A theme may carry a
 * subset of the tokens: the rest keep their stylesheet values.
 */
export function parseTheme(input: unknown, options: ParseThemeOptions = {}): Theme {
  if (typeof input !== "object" || input === null) {
    throw new UiKitError("E_UI_INVALID_THEME", "theme must be an object { mode, tokens }; pass lightTheme, darkTheme or one like them");
  }
  const { mode, tokens } = input as { mode?: unknown; tokens?: unknown };
  if (mode !== "light" && mode !== "dark") {
    throw new UiKitError("E_UI_INVALID_THEME", `theme.mode must be "light" or "dark"; got ${JSON.stringify(mode) ?? "undefined"}`, {
      field: "mode",
    });
  }
  if (typeof tokens !== "object" || tokens === null || Array.isArray(tokens)) {
    throw new UiKitError("E_UI_INVALID_THEME", "theme.tokens must be an object of --annex-* names to values", { field: "tokens" });
  }
  const clean: Record<string, string> = {};
  for (const [name, value] of Object.entries(tokens)) {
    if (!isTokenName(name) && options.unknownTokens === "drop") continue;
    assertTokenValue(name, value);
    clean[name as TokenName] = value.trim();
  }
  return { mode, tokens: clean };
}

function truncate(value: string): string {
  return value.length > 60 ? `${value.slice(0, 60)}…` : value;
}
