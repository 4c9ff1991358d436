import { themeToCss } from "./theme/css.js";
import { darkTheme, lightTheme, tokenDefinitions, type Theme } from "./theme/tokens.js";
import { v } from "./theme/vars.js";

/**
 * The base stylesheet shipped as dist/base.css: both themes' tokens, then
 * element defaults that use nothing but the tokens.
 *
 * Light is the default; `data-annex-theme="dark"` on any element switches its
 * subtree; a page with no explicit theme follows the OS preference. Tokens the
 * iframe bridge sets inline on :root override all of these.
 */
// Dark blocks carry only what differs, so theme-independent tokens (and the
// reduced-motion override of --annex-duration) are not reset by a dark subtree.
const darkOnly: Theme = {
  mode: "dark",
  tokens: Object.fromEntries(tokenDefinitions.filter((d) => d.dark !== undefined).map((d) => [d.name, darkTheme.tokens[d.name] as string])),
};

const tokens = [
  themeToCss(lightTheme, ':root,\n[data-annex-theme="light"]'),
  themeToCss(darkOnly, '[data-annex-theme="dark"]'),
  `@media (prefers-color-scheme: dark) {\n${themeToCss(darkOnly, ":root:not([data-annex-theme])")
    .split("\n")
    .map((line) => (line === "" ? line : `  ${line}`))
    .join("\n")}}\n`,
].join("\n");

const elements = `
*,
*::before,
*::after {
  box-sizing: border-box;
}

[data-annex-theme],
:root {
  background-color: ${v("color-bg")};
  color: ${v("color-text")};
}

body {
  margin: 0;
  font-family: ${v("font-family")};
  font-size: ${v("font-size-md")};
  font-weight: ${v("font-weight-normal")};
  line-height: ${v("line-height")};
  background-color: ${v("color-bg")};
  color: ${v("color-text")};
  -webkit-font-smoothing: antialiased;
}

h1, h2, h3, h4, h5, h6 {
  margin: 0 0 ${v("space-3")};
  font-weight: ${v("font-weight-bold")};
  line-height: ${v("line-height-tight")};
}
h1 { font-size: ${v("font-size-xl")}; }
h2 { font-size: ${v("font-size-lg")}; }
h3, h4, h5, h6 { font-size: ${v("font-size-md")}; }

p { margin: 0 0 ${v("space-3")}; }
small { font-size: ${v("font-size-sm")}; }

a {
  color: ${v("color-primary")};
  text-underline-offset: 0.15em;
}
a:hover { text-decoration-thickness: 2px; }

code, kbd, pre, samp {
  font-family: ${v("font-family-mono")};
  font-size: 0.9em;
}
code {
  padding: 0.1em 0.3em;
  border-radius: ${v("radius-sm")};
  background: ${v("color-surface-muted")};
}
pre {
  padding: ${v("space-3")};
  overflow: auto;
  border-radius: ${v("radius-md")};
  background: ${v("color-surface-muted")};
}

hr {
  border: 0;
  border-top: 1px solid ${v("color-border")};
  margin: ${v("space-5")} 0;
}

table {
  border-collapse: collapse;
  font-size: ${v("font-size-sm")};
}
th, td {
  padding: ${v("space-2")} ${v("space-3")};
  border-bottom: 1px solid ${v("color-border")};
  text-align: left;
}

:focus-visible {
  outline: ${v("focus-ring-width")} solid ${v("color-focus-ring")};
  outline-offset: ${v("focus-ring-offset")};
}

::selection {
  background: ${v("color-primary")};
  color: ${v("color-on-primary")};
}

.annex-visually-hidden {
  position: absolute !important;
  width: 1px;
  height: 1px;
  margin: -1px;
  padding: 0;
  overflow: hidden;
  clip: rect(0 0 0 0);
  white-space: nowrap;
  border: 0;
}

/* Custom elements are inline until defined; keep undefined ones from flashing raw content. */
:is(annex-dialog, annex-tab-panel):not(:defined) { display: none; }

@media (prefers-reduced-motion: reduce) {
  :root { --annex-duration: 0s; }
}
`;

/** The full base stylesheet (what dist/base.css contains). */
export const baseCss: string = `/* @annex/ui-kit base stylesheet: tokens, then element defaults. Generated from src/base-css.ts. */\n${tokens}${elements}`;
