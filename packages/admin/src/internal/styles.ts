import { defaultTokenValue, type TokenName } from "@annex/ui-kit";

type ShortName = TokenName extends `--annex-${infer S}` ? S : never;

/** `var(--annex-<name>, <light default>)`: the ui-kit's tokens, so the console follows the host's theme. */
export function v(name: ShortName): string {
  const full = `--annex-${name}` as TokenName;
  return `var(${full}, ${defaultTokenValue(full)})`;
}

/** Shared by every admin component. */
export const baseStyles = `
:host { display: block; box-sizing: border-box; color: ${v("color-text")}; font-family: ${v("font-family")}; font-size: ${v("font-size-md")}; line-height: ${v("line-height")}; }
:host([hidden]) { display: none !important; }
*, *::before, *::after { box-sizing: inherit; }
.visually-hidden { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
.muted { color: ${v("color-text-muted")}; }
.mono { font-family: ${v("font-family-mono")}; font-size: ${v("font-size-sm")}; }
h2, h3, h4 { margin: 0; line-height: ${v("line-height-tight")}; font-weight: ${v("font-weight-bold")}; }
h2 { font-size: ${v("font-size-lg")}; }
h3 { font-size: ${v("font-size-md")}; }
.row { display: flex; flex-wrap: wrap; align-items: center; gap: ${v("space-2")}; }
.stack { display: flex; flex-direction: column; gap: ${v("space-3")}; }
:focus-visible { outline: ${v("focus-ring-width")} solid ${v("color-focus-ring")}; outline-offset: ${v("focus-ring-offset")}; }
table { width: 100%; border-collapse: collapse; font-size: ${v("font-size-sm")}; background: ${v("color-surface")}; }
caption { text-align: start; padding: 0 0 ${v("space-2")}; font-weight: ${v("font-weight-bold")}; font-size: ${v("font-size-md")}; }
th, td { text-align: start; vertical-align: top; padding: ${v("space-2")} ${v("space-3")}; border-bottom: 1px solid ${v("color-border")}; }
th { background: ${v("color-surface-muted")}; font-weight: ${v("font-weight-medium")}; }
td.num, th.num { text-align: end; font-variant-numeric: tabular-nums; }
ul.plain { list-style: none; margin: 0; padding: 0; }
code { font-family: ${v("font-family-mono")}; font-size: 0.9em; background: ${v("color-surface-muted")}; padding: 0 ${v("space-1")}; border-radius: ${v("radius-sm")}; }
`;
