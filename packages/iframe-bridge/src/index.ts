/**
 * @annex/iframe-bridge — what both sides of the bridge share: the protocol
 * version, the typed error, and the shapes that cross (theme, context,
 * fetch, toast). The host side lives in "@annex/iframe-bridge/host", the
 * extension side in "@annex/iframe-bridge/client".
 */
export { BridgeError, isBridgeError, isBridgeErrorCode, BRIDGE_ERROR_CODES, type BridgeErrorCode, type BridgeErrorData } from "./errors.js";
export { BRIDGE_VERSION, MIN_BRIDGE_VERSION, SUPPORTED_VERSIONS, negotiateVersion, type VersionRange } from "./version.js";
export { parseTheme, themeSchema, themeValueProblem, THEME_TOKEN_NAME, MAX_THEME_TOKENS, type Theme, type ThemeMode } from "./theme.js";
export { parseExtensionContext, parseHostContext, EXTENSION_ID, MAX_CONFIG_VALUES, type ConfigValues, type ContextUser, type ExtensionContext, type HostContext } from "./context.js";
export { BRIDGE_CAPABILITIES, parseBridgeGrants, type BridgeCapability, type BridgeGrant } from "./grants.js";
export {
  REQUEST_HEADER_ALLOWLIST,
  RESPONSE_HEADER_ALLOWLIST,
  DEFAULT_MAX_BODY_BYTES,
  type BridgeFetchInit,
  type BridgeFetchMethod,
  type BridgeResponse,
} from "./protocol/fetch.js";
export { DEFAULT_RATE_LIMITS, type BridgeRateLimits } from "./protocol/rate-limits.js";
export type { Toast, ToastKind } from "./protocol/toast.js";
export { HELLO, WELCOME, REJECT, NONCE_PARAM, type HelloMessage, type WelcomeMessage, type RejectMessage } from "./protocol/messages.js";
export type { WireHostApi, WireResult } from "./protocol/wire.js";
