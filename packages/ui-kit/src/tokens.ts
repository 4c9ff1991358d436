// The DOM-free part of the kit, for hosts and build scripts: `@annex/ui-kit/tokens`.
export { UiKitError, isUiKitError, type UiKitErrorCode } from "./errors.js";
export {
  tokenDefinitions,
  tokenNames,
  lightTheme,
  darkTheme,
  isTokenName,
  defaultTokenValue,
  type Theme,
  type TokenDefinition,
  type TokenKind,
  type TokenName,
} from "./theme/tokens.js";
export { parseTheme, assertTokenValue, type ParseThemeOptions } from "./theme/validate.js";
export { themeToCss, applyTheme } from "./theme/css.js";
export {
  parseColor,
  relativeLuminance,
  compositeColor,
  contrastRatio,
  contrastPairs,
  checkContrast,
  type Rgba,
  type ContrastPair,
  type ContrastResult,
} from "./theme/contrast.js";
export { baseCss } from "./base-css.js";
