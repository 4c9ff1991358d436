import { UiKitError } from "../errors.js";
import { darkTheme, lightTheme, type Theme, type TokenName } from "./tokens.js";

/** An sRGB colour with channels 0–255 and alpha 0–1. */
export interface Rgba {
  r: number;
  g: number;
  b: number;
  a: number;
}

const HEX = /^#([0-9a-f]{3,8})$/i;
const RGB = /^rgba?\(\s*([^)]*)\)$/i;

/**
 * Parses the colour notations the tokens use: #rgb, #rgba, #rrggbb,
 * #rrggbbaa, rgb() and rgba() (comma or space separated, optional `/ alpha`).
 * Throws `E_UI_INVALID_COLOR` for anything else.
 */
export function parseColor(value: string): Rgba {
  const text = value.trim();
  const hex = HEX.exec(text);
  if (hex) {
    const digits = hex[1] as string;
    if (digits.length === 3 || digits.length === 4) {
      const [r, g, b, a = "f"] = digits.split("") as [string, string, string, string?];
      return { r: parseInt(r + r, 16), g: parseInt(g + g, 16), b: parseInt(b + b, 16), a: parseInt(a + a, 16) / 255 };
    }
    if (digits.length === 6 || digits.length === 8) {
      const channel = (i: number) => parseInt(digits.slice(i, i + 2), 16);
      return { r: channel(0), g: channel(2), b: channel(4), a: digits.length === 8 ? channel(6) / 255 : 1 };
    }
  }
  const rgb = RGB.exec(text);
  if (rgb) {
    const parts = (rgb[1] as string).split(/[\s,/]+/).filter((p) => p !== "");
    if (parts.length === 3 || parts.length === 4) {
      const channel = (p: string) => (p.endsWith("%") ? (parseFloat(p) / 100) * 255 : parseFloat(p));
      const alpha = parts[3] === undefined ? 1 : parts[3].endsWith("%") ? parseFloat(parts[3]) / 100 : parseFloat(parts[3]);
      const color = { r: channel(parts[0] as string), g: channel(parts[1] as string), b: channel(parts[2] as string), a: alpha };
      if ([color.r, color.g, color.b, color.a].every(Number.isFinite)) return color;
    }
  }
  throw new UiKitError("E_UI_INVALID_COLOR", `cannot read colour ${JSON.stringify(value)}: use #rrggbb, #rgb or rgb()/rgba()`, {
    value,
  });
}

function linear(channel: number): number {
  const c = channel / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** WCAG 2.x relative luminance of an opaque colour (0 for black, 1 for white). */
export function relativeLuminance(color: string | Rgba): number {
  const { r, g, b } = typeof color === "string" ? parseColor(color) : color;
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/** `top` painted over the opaque `bottom`, by its alpha. */
export function compositeColor(top: Rgba, bottom: Rgba): Rgba {
  const a = top.a;
  return { r: top.r * a + bottom.r * (1 - a), g: top.g * a + bottom.g * (1 - a), b: top.b * a + bottom.b * (1 - a), a: 1 };
}

/**
 * WCAG 2.x contrast ratio (1 to 21) between a foreground and an opaque
 * background. A translucent foreground is composited over the background
 * first, as the browser would paint it.
 */
export function contrastRatio(foreground: string | Rgba, background: string | Rgba): number {
  const bg = typeof background === "string" ? parseColor(background) : background;
  if (bg.a < 1) {
    throw new UiKitError("E_UI_INVALID_COLOR", "the background of a contrast check must be opaque: composite it over what lies beneath first", {
      background,
    });
  }
  const fg0 = typeof foreground === "string" ? parseColor(foreground) : foreground;
  const fg = fg0.a < 1 ? compositeColor(fg0, bg) : fg0;
  const [light, dark] = [relativeLuminance(fg), relativeLuminance(bg)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

/** A foreground/background pair some component paints, and the WCAG AA minimum it needs. */
export interface ContrastPair {
  foreground: TokenName;
  background: TokenName;
  /** 4.5 for normal text, 3 for large text, control boundaries, focus rings and chart marks. */
  min: 4.5 | 3;
  usage: string;
}

const text = (foreground: TokenName, background: TokenName, usage: string): ContrastPair => ({ foreground, background, min: 4.5, usage });
const ui = (foreground: TokenName, background: TokenName, usage: string): ContrastPair => ({ foreground, background, min: 3, usage });

/** Every colour pair the components and the base stylesheet put on screen. */
export const contrastPairs: readonly ContrastPair[] = Object.freeze([
  text("--annex-color-text", "--annex-color-bg", "body text on the page"),
  text("--annex-color-text", "--annex-color-surface", "text in cards, inputs, dialogs, table cells, secondary buttons"),
  text("--annex-color-text", "--annex-color-surface-muted", "table headers, hovered rows and buttons, neutral badges"),
  text("--annex-color-text-muted", "--annex-color-bg", "hints and descriptions on the page"),
  text("--annex-color-text-muted", "--annex-color-surface", "hints, placeholders, empty states, chart axis labels"),
  text("--annex-color-text-muted", "--annex-color-surface-muted", "muted text in table headers"),
  text("--annex-color-primary", "--annex-color-bg", "links and ghost buttons on the page"),
  text("--annex-color-primary", "--annex-color-surface", "links, ghost buttons, selected tab labels in cards"),
  text("--annex-color-primary", "--annex-color-surface-muted", "ghost buttons while hovered"),
  text("--annex-color-on-primary", "--annex-color-primary", "primary button label"),
  text("--annex-color-on-primary", "--annex-color-primary-hover", "primary button label while hovered"),
  text("--annex-color-on-danger", "--annex-color-danger", "danger button label"),
  text("--annex-color-on-danger", "--annex-color-danger-hover", "danger button label while hovered"),
  text("--annex-color-info-text", "--annex-color-info-bg", "info alert and badge"),
  text("--annex-color-success-text", "--annex-color-success-bg", "success alert and badge"),
  text("--annex-color-warning-text", "--annex-color-warning-bg", "warning alert and badge"),
  text("--annex-color-danger-text", "--annex-color-danger-bg", "error alert and danger badge"),
  text("--annex-color-danger-text", "--annex-color-surface", "field error message in a card"),
  text("--annex-color-danger-text", "--annex-color-bg", "field error message on the page"),
  ui("--annex-color-border-strong", "--annex-color-surface", "input, select and secondary button boundaries"),
  ui("--annex-color-border-strong", "--annex-color-bg", "control boundaries on the page"),
  ui("--annex-color-danger", "--annex-color-surface", "invalid control boundary"),
  ui("--annex-color-primary", "--annex-color-surface", "checked checkbox, selected tab indicator, primary button edge"),
  ui("--annex-color-focus-ring", "--annex-color-bg", "focus ring on the page"),
  ui("--annex-color-focus-ring", "--annex-color-surface", "focus ring in a card or dialog"),
  ui("--annex-color-focus-ring", "--annex-color-surface-muted", "focus ring on a table header"),
  ui("--annex-color-chart-1", "--annex-color-surface", "chart bars and line"),
  ui("--annex-color-chart-2", "--annex-color-surface", "second chart series"),
]);

export interface ContrastResult extends ContrastPair {
  ratio: number;
  passes: boolean;
}

/**
 * Computes every pair in `contrastPairs` for a theme. Tokens the theme leaves
 * out fall back to the default theme of the same mode, as they would on a
 * page with base.css. Use it to check a custom theme before handing it to
 * the bridge.
 */
export function checkContrast(theme: Theme): ContrastResult[] {
  const defaults = theme.mode === "dark" ? darkTheme : lightTheme;
  const value = (name: TokenName) => theme.tokens[name] ?? (defaults.tokens[name] as string);
  return contrastPairs.map((pair) => {
    const ratio = contrastRatio(value(pair.foreground), value(pair.background));
    return { ...pair, ratio, passes: ratio >= pair.min };
  });
}
