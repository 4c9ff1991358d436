import { checkContrast, lightTheme, parseTheme, themeToCss, type Theme } from "@annex/ui-kit";

/**
 * The product's brand as ui-kit theme tokens: its own pages and the admin
 * components use them, and every extension frame receives them over the
 * bridge, so an extension looks like part of the product.
 */
export const hostTheme: Theme = parseTheme({
  mode: "light",
  tokens: {
    ...lightTheme.tokens,
    "--annex-color-primary": "#5b2a9e",
    "--annex-color-primary-hover": "#46207a",
    "--annex-color-on-primary": "#ffffff",
  },
});

const failing = checkContrast(hostTheme).filter((r) => !r.passes);
if (failing.length > 0) throw new Error(`host theme fails contrast: ${failing.map((r) => `${r.foreground} on ${r.background}`).join(", ")}`);

export const hostThemeCss = themeToCss(hostTheme);
