import { parseTheme, type Theme } from "../theme.js";

const applied = new WeakMap<HTMLElement, Set<string>>();

/**
 * Sets the theme's tokens as custom properties on `root` (default `:root`),
 * removes tokens a previous theme set and this one lacks, and records the
 * mode as `data-annex-theme` and `color-scheme` so native controls follow.
 * The theme is validated first (E_BRIDGE_ARGS): a token value ends up in the
 * page's styles and must not carry anything but a value.
 */
export function applyTheme(theme: Theme, root: HTMLElement = document.documentElement): void {
  const parsed = parseTheme(theme);
  const previous = applied.get(root) ?? new Set<string>();
  const next = new Set(Object.keys(parsed.tokens));
  for (const name of previous) if (!next.has(name)) root.style.removeProperty(name);
  for (const [name, value] of Object.entries(parsed.tokens)) root.style.setProperty(name, value);
  root.style.setProperty("color-scheme", parsed.mode);
  root.setAttribute("data-annex-theme", parsed.mode);
  applied.set(root, next);
}
