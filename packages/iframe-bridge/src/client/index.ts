/**
 * @annex/iframe-bridge/client — the extension page's side: connect() to the
 * host that framed this page and call the scoped host API.
 */
export { connect, type AnnexClient, type ConnectOptions, type ThemeListener } from "./connect.js";
export { applyTheme } from "./apply-theme.js";
export { BridgeError, isBridgeError, type BridgeErrorCode } from "../errors.js";
export type { Theme, ThemeMode } from "../theme.js";
export type { ConfigValues, ExtensionContext } from "../context.js";
export type { BridgeFetchInit, BridgeResponse } from "../protocol/fetch.js";
export type { Toast, ToastKind } from "../protocol/toast.js";
