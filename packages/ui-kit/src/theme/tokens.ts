/**
 * The design tokens: the single source of every `--annex-*` custom property.
 * The host sends these names through the iframe bridge, the base stylesheet is
 * generated from them, and every component reads them (with the light value as
 * a fallback, so a page that forgot base.css still renders legibly).
 */

/** How a token's value is checked before it reaches a stylesheet. */
export type TokenKind = "color" | "length" | "font-family" | "font-weight" | "number" | "shadow" | "time";

export interface TokenDefinition {
  readonly name: `--annex-${string}`;
  readonly kind: TokenKind;
  readonly description: string;
  readonly light: string;
  /** Omitted when the value does not change with the theme. */
  readonly dark?: string;
}

const definitions = [
  // Surfaces and text
  { name: "--annex-color-bg", kind: "color", description: "Page background", light: "#f6f8fa", dark: "#0d1117" },
  { name: "--annex-color-surface", kind: "color", description: "Cards, inputs, dialogs, tables", light: "#ffffff", dark: "#161b22" },
  { name: "--annex-color-surface-muted", kind: "color", description: "Table headers, hovered rows, neutral badges", light: "#eef1f4", dark: "#21262d" },
  { name: "--annex-color-text", kind: "color", description: "Body text", light: "#1f2328", dark: "#e6edf3" },
  { name: "--annex-color-text-muted", kind: "color", description: "Hints, descriptions, placeholders, axis labels", light: "#59636e", dark: "#9ea8b3" },
  { name: "--annex-color-border", kind: "color", description: "Decorative borders and dividers", light: "#d1d9e0", dark: "#30363d" },
  { name: "--annex-color-border-strong", kind: "color", description: "Boundaries of controls (inputs, selects, secondary buttons)", light: "#818b98", dark: "#7d8793" },
  // Actions
  { name: "--annex-color-primary", kind: "color", description: "Primary buttons, links, selected tabs, checked boxes", light: "#0a5cc7", dark: "#4c9bf8" },
  { name: "--annex-color-primary-hover", kind: "color", description: "Primary button while hovered", light: "#084a9e", dark: "#74b2fa" },
  { name: "--annex-color-on-primary", kind: "color", description: "Text on primary", light: "#ffffff", dark: "#0d1117" },
  { name: "--annex-color-danger", kind: "color", description: "Danger buttons, invalid control borders", light: "#c7232f", dark: "#f5615a" },
  { name: "--annex-color-danger-hover", kind: "color", description: "Danger button while hovered", light: "#a01b25", dark: "#f88a84" },
  { name: "--annex-color-on-danger", kind: "color", description: "Text on danger", light: "#ffffff", dark: "#0d1117" },
  // Status (alerts, badges, field errors)
  { name: "--annex-color-info-bg", kind: "color", description: "Info alert and badge background", light: "#ddf4ff", dark: "#0d2a52" },
  { name: "--annex-color-info-text", kind: "color", description: "Text on info background", light: "#0a3069", dark: "#a8d4ff" },
  { name: "--annex-color-info-border", kind: "color", description: "Info accent border", light: "#54aeff", dark: "#1f6feb" },
  { name: "--annex-color-success-bg", kind: "color", description: "Success alert and badge background", light: "#dafbe1", dark: "#0f2e1b" },
  { name: "--annex-color-success-text", kind: "color", description: "Text on success background", light: "#10582a", dark: "#85e89d" },
  { name: "--annex-color-success-border", kind: "color", description: "Success accent border", light: "#4ac26b", dark: "#2ea043" },
  { name: "--annex-color-warning-bg", kind: "color", description: "Warning alert and badge background", light: "#fff4c2", dark: "#33280a" },
  { name: "--annex-color-warning-text", kind: "color", description: "Text on warning background", light: "#6b4200", dark: "#f2cc60" },
  { name: "--annex-color-warning-border", kind: "color", description: "Warning accent border", light: "#d4a72c", dark: "#bb8009" },
  { name: "--annex-color-danger-bg", kind: "color", description: "Error alert and danger badge background", light: "#ffebe9", dark: "#3d1317" },
  { name: "--annex-color-danger-text", kind: "color", description: "Text on danger background; field error messages", light: "#a0111f", dark: "#ffa8a2" },
  { name: "--annex-color-danger-border", kind: "color", description: "Error accent border", light: "#ff8182", dark: "#da3633" },
  // Focus, overlay, charts
  { name: "--annex-color-focus-ring", kind: "color", description: "Focus ring", light: "#0a5cc7", dark: "#6cb0ff" },
  { name: "--annex-color-backdrop", kind: "color", description: "Dialog backdrop", light: "rgba(31, 35, 40, 0.5)", dark: "rgba(1, 4, 9, 0.7)" },
  { name: "--annex-color-chart-1", kind: "color", description: "First chart series (bars, line)", light: "#0a5cc7", dark: "#4c9bf8" },
  { name: "--annex-color-chart-2", kind: "color", description: "Second chart series", light: "#b3287a", dark: "#f27ec0" },
  { name: "--annex-color-chart-grid", kind: "color", description: "Chart grid lines", light: "#d1d9e0", dark: "#30363d" },
  // Spacing
  { name: "--annex-space-1", kind: "length", description: "Spacing step 1", light: "0.25rem" },
  { name: "--annex-space-2", kind: "length", description: "Spacing step 2", light: "0.5rem" },
  { name: "--annex-space-3", kind: "length", description: "Spacing step 3", light: "0.75rem" },
  { name: "--annex-space-4", kind: "length", description: "Spacing step 4", light: "1rem" },
  { name: "--annex-space-5", kind: "length", description: "Spacing step 5", light: "1.5rem" },
  { name: "--annex-space-6", kind: "length", description: "Spacing step 6", light: "2rem" },
  // Radius
  { name: "--annex-radius-sm", kind: "length", description: "Badges, checkboxes", light: "4px" },
  { name: "--annex-radius-md", kind: "length", description: "Buttons, inputs", light: "6px" },
  { name: "--annex-radius-lg", kind: "length", description: "Cards, dialogs", light: "10px" },
  { name: "--annex-radius-full", kind: "length", description: "Pills", light: "999px" },
  // Typography
  { name: "--annex-font-family", kind: "font-family", description: "Text font stack", light: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif' },
  { name: "--annex-font-family-mono", kind: "font-family", description: "Code font stack", light: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace' },
  { name: "--annex-font-size-xs", kind: "length", description: "Badges", light: "0.75rem" },
  { name: "--annex-font-size-sm", kind: "length", description: "Hints, table cells, small buttons", light: "0.875rem" },
  { name: "--annex-font-size-md", kind: "length", description: "Body text", light: "1rem" },
  { name: "--annex-font-size-lg", kind: "length", description: "Card and dialog headings", light: "1.25rem" },
  { name: "--annex-font-size-xl", kind: "length", description: "Page headings", light: "1.5rem" },
  { name: "--annex-font-weight-normal", kind: "font-weight", description: "Body text", light: "400" },
  { name: "--annex-font-weight-medium", kind: "font-weight", description: "Buttons, labels", light: "500" },
  { name: "--annex-font-weight-bold", kind: "font-weight", description: "Headings", light: "600" },
  { name: "--annex-line-height", kind: "number", description: "Body line height", light: "1.5" },
  { name: "--annex-line-height-tight", kind: "number", description: "Headings and controls", light: "1.25" },
  // Controls, shadows, focus, motion
  { name: "--annex-control-height", kind: "length", description: "Height of buttons, inputs and selects", light: "2.25rem" },
  { name: "--annex-control-height-sm", kind: "length", description: "Height of small buttons", light: "1.75rem" },
  { name: "--annex-shadow-sm", kind: "shadow", description: "Cards", light: "0 1px 2px rgba(31, 35, 40, 0.08)", dark: "0 1px 2px rgba(1, 4, 9, 0.6)" },
  { name: "--annex-shadow-md", kind: "shadow", description: "Raised surfaces", light: "0 3px 8px rgba(31, 35, 40, 0.12)", dark: "0 3px 8px rgba(1, 4, 9, 0.7)" },
  { name: "--annex-shadow-lg", kind: "shadow", description: "Dialogs", light: "0 12px 32px rgba(31, 35, 40, 0.2)", dark: "0 12px 32px rgba(1, 4, 9, 0.85)" },
  { name: "--annex-focus-ring-width", kind: "length", description: "Focus ring thickness", light: "2px" },
  { name: "--annex-focus-ring-offset", kind: "length", description: "Gap between a control and its focus ring", light: "2px" },
  { name: "--annex-duration", kind: "time", description: "Transitions (reduced to 0s under prefers-reduced-motion)", light: "150ms" },
] as const satisfies readonly TokenDefinition[];

/** Every token name, as the host passes it through the bridge. */
export type TokenName = (typeof definitions)[number]["name"];

/** A theme as the iframe bridge carries it: a mode and token values by name. */
export interface Theme {
  mode: "light" | "dark";
  tokens: Record<string, string>;
}

export const tokenDefinitions: readonly TokenDefinition[] = Object.freeze(definitions.map((d) => Object.freeze({ ...d })));

export const tokenNames: readonly TokenName[] = Object.freeze(definitions.map((d) => d.name));

const knownNames: ReadonlySet<string> = new Set(tokenNames);

export function isTokenName(name: string): name is TokenName {
  return knownNames.has(name);
}

function buildTheme(mode: Theme["mode"]): Readonly<Theme> {
  const tokens: Record<string, string> = {};
  for (const d of tokenDefinitions) tokens[d.name] = mode === "dark" ? (d.dark ?? d.light) : d.light;
  return Object.freeze({ mode, tokens: Object.freeze(tokens) as Record<string, string> });
}

/** The default light theme: every token, with its light value. */
export const lightTheme: Readonly<Theme> = buildTheme("light");
/** The default dark theme: every token, with its dark value. */
export const darkTheme: Readonly<Theme> = buildTheme("dark");

/** The token's value in the default light theme (components use it as their `var()` fallback). */
export function defaultTokenValue(name: TokenName): string {
  return lightTheme.tokens[name] as string;
}
