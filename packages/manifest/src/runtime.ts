/**
 * `@annex/manifest/runtime`: what code that runs extensions needs of the
 * manifest package at run time, without its schema. The main entry builds
 * every zod schema when it is imported (~150 ms); a runner's worker thread
 * imports this instead, so a pool's worker (and every replacement after a
 * watchdog kill) starts without it. Every export here is also exported by the
 * main entry, as the same value: a bundle from the main entry's
 * `verifyBundle` passes this entry's `isVerifiedBundle`.
 */
export { AnnexError, isAnnexError } from "./errors.js";
export { EVENT_TYPE_PATTERN, EVENT_TYPE_PATTERN_PATTERN } from "./manifest/event-types.js";
export { eventTypeCovers, hostCovers } from "./manifest/coverage.js";
export { DEFAULT_UI_ROOT, isUiPath, uiRootOf } from "./manifest/ui-root.js";
export { isVerifiedBundle } from "./signing/verified-brand.js";
