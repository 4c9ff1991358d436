// UI asset serving is reached through the gateway (`/ext-ui/…`); these are its options and constants.
export type { AssetCspOptions } from "./csp.js";
export { IMMUTABLE } from "./serve-asset.js";
export { CONTENT_HASH } from "./asset-path.js";
