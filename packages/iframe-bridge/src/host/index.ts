/**
 * @annex/iframe-bridge/host — the host page's side: build an extension
 * page's src, mount it in a sandboxed iframe, and serve the scoped host API.
 */
export { buildExtUiSrc, CONTENT_HASH, type ExtUiSrcOptions } from "./ext-ui-src.js";
export { mountExtensionFrame, type MountOptions, type ExtensionFrame } from "./mount.js";
export { SANDBOX_EXTRAS_ALLOWLIST, type SandboxExtra, type ExtensionOrigin } from "./frame-policy.js";
export type { HostApi } from "./host-api.js";
export type { FrameState, BridgeConnection } from "./session.js";
export { createNonce } from "./nonce.js";
export { BridgeError, isBridgeError, type BridgeErrorCode } from "../errors.js";
export type { Theme, ThemeMode } from "../theme.js";
export type { ConfigValues, ContextUser, ExtensionContext, HostContext } from "../context.js";
export { BRIDGE_CAPABILITIES, type BridgeCapability, type BridgeGrant } from "../grants.js";
export type { Toast, ToastKind } from "../protocol/toast.js";
export { DEFAULT_RATE_LIMITS, type BridgeRateLimits } from "../protocol/rate-limits.js";
