import { UiKitError } from "../errors.js";
import type { Theme } from "./tokens.js";
import { parseTheme, type ParseThemeOptions } from "./validate.js";

// A selector is written by the page's developer, not the host, but it still
// lands in a stylesheet: refuse anything that could end the rule or the <style>.
const SAFE_SELECTOR = /^[^{}<>;\\@]+$/;

/**
 * Renders a theme as one CSS rule: `color-scheme` plus a custom property per
 * token. Every value is validated first (see parseTheme), so the output is
 * safe to put in a <style> element even when the theme came from elsewhere.
 */
export function themeToCss(theme: Theme, selector = ":root", options: ParseThemeOptions = {}): string {
  if (typeof selector !== "string" || selector.trim() === "" || !SAFE_SELECTOR.test(selector)) {
    throw new UiKitError(
      "E_UI_INVALID_SELECTOR",
      `selector ${JSON.stringify(selector)} cannot be used: it must be non-empty and contain no { } < > ; \\ or @`,
      { field: "selector" },
    );
  }
  const clean = parseTheme(theme, options);
  const lines = [`  color-scheme: ${clean.mode};`];
  for (const [name, value] of Object.entries(clean.tokens)) lines.push(`  ${name}: ${value};`);
  return `${selector.trim()} {\n${lines.join("\n")}\n}\n`;
}

/**
 * Applies a theme to an element (the document root by default) as inline
 * custom properties, sets `data-annex-theme` and `color-scheme`, and returns
 * a function that removes what it set. Pages connected through
 * `@annex/iframe-bridge/client` do not need this: `connect()` applies the
 * host's theme itself.
 */
export function applyTheme(theme: Theme, target?: HTMLElement, options: ParseThemeOptions = {}): () => void {
  const element = target ?? globalThis.document?.documentElement;
  if (element === undefined) {
    throw new UiKitError("E_UI_NO_DOM", "applyTheme needs a DOM: call it in a browser page or pass the target element");
  }
  const clean = parseTheme(theme, options);
  const names = Object.keys(clean.tokens);
  for (const name of names) element.style.setProperty(name, clean.tokens[name] as string);
  element.style.setProperty("color-scheme", clean.mode);
  element.setAttribute("data-annex-theme", clean.mode);
  return () => {
    for (const name of names) element.style.removeProperty(name);
    element.style.removeProperty("color-scheme");
    element.removeAttribute("data-annex-theme");
  };
}
