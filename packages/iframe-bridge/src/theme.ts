import * as z from "zod/mini";
import { parseOrThrow } from "./validate.js";

/**
 * A theme is a light/dark mode and a set of `--annex-*` CSS custom
 * properties. The host sends it; the extension applies it on `:root`. Both
 * sides validate it: a token value lands in the extension's stylesheet, so it
 * must not smuggle declarations (`;{}`), markup (`<>`), escapes (`\`) or
 * anything that loads a URL (`url(`, `image-set(`, `@import` …).
 */
export type ThemeMode = "light" | "dark";

export interface Theme {
  mode: ThemeMode;
  tokens: Record<string, string>;
}

export const THEME_TOKEN_NAME = /^--annex-[a-z0-9-]+$/;
export const MAX_THEME_TOKENS = 256;

const FORBIDDEN_VALUE_CHARS = /[;{}<>\\\u0000-\u001f\u007f-\u009f]/;
const URL_LOADERS = /(?:url|image-set|image|cross-fade|src|expression|element)\s*\(|@import/i;

/** Why a token value is unsafe, or null when it is fine. */
export function themeValueProblem(value: string): string | null {
  if (value.length === 0) return "is empty";
  if (value.length > 256) return "is longer than 256 characters";
  if (FORBIDDEN_VALUE_CHARS.test(value)) return "contains one of ; { } < > \\ or a control character";
  if (URL_LOADERS.test(value)) return "loads a resource (url(), image-set(), @import …); themes carry colours, sizes and font names only";
  return null;
}

const tokenName = z.string().check(
  z.maxLength(64, "token names are at most 64 characters"),
  z.regex(THEME_TOKEN_NAME, "token names match --annex-[a-z0-9-]+, e.g. --annex-color-bg"),
);

const tokenValue = z.string().check(
  z.refine((value) => themeValueProblem(value) === null, {
    error: (issue) => `token value ${themeValueProblem(String(issue.input)) ?? "is invalid"}`,
  }),
);

export const themeSchema = z.strictObject({
  mode: z.enum(["light", "dark"], 'mode must be "light" or "dark"'),
  tokens: z.record(tokenName, tokenValue).check(
    z.refine((tokens) => Object.keys(tokens).length <= MAX_THEME_TOKENS, `at most ${MAX_THEME_TOKENS} tokens`),
  ),
});

/** Validates a theme; throws E_BRIDGE_ARGS naming the bad token. */
export function parseTheme(value: unknown, field = "theme"): Theme {
  const theme = parseOrThrow(themeSchema, value, field);
  return { mode: theme.mode, tokens: { ...theme.tokens } };
}
