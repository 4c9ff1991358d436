import { defaultTokenValue, type TokenName } from "./tokens.js";

type ShortName = TokenName extends `--annex-${infer S}` ? S : never;

/**
 * `var(--annex-<name>, <light default>)` for component stylesheets. The short
 * name is typed, so a misspelt token fails the build instead of silently
 * rendering nothing.
 */
export function v(name: ShortName): string {
  const full = `--annex-${name}` as TokenName;
  return `var(${full}, ${defaultTokenValue(full)})`;
}
