import { BridgeError } from "../errors.js";
import { EXTENSION_ID } from "../context.js";
import { parseSafeRelativePath } from "../paths.js";
import { withNonce } from "./nonce.js";

export interface ExtUiSrcOptions {
  /** Where the host serves extension assets: an http(s) URL, optionally with a path prefix, e.g. "https://app.example.com/". */
  base: string;
  /** "<publisher>.<name>", e.g. "acme.analytics". */
  extensionId: string;
  /** The bundle's content hash, "sha256:" and 64 lowercase hex digits. */
  contentHash: string;
  /** A page inside the bundle, e.g. "ui/index.html", optionally with a query. */
  path: string;
  /** Adds "#annex-nonce=<nonce>". Leave it out when the src goes to mountExtensionFrame, which mints its own. */
  nonce?: string;
}

export const CONTENT_HASH = /^sha256:[0-9a-f]{64}$/;

function parseBase(base: unknown): URL {
  if (typeof base !== "string") throw new BridgeError("E_BRIDGE_ARGS", "base must be a string URL such as https://app.example.com/", { field: "base" });
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new BridgeError("E_BRIDGE_ARGS", `base ${JSON.stringify(base.slice(0, 200))} is not an absolute URL; pass e.g. https://app.example.com/`, { field: "base" });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new BridgeError("E_BRIDGE_ARGS", `base must use http: or https:, not ${url.protocol}`, { field: "base" });
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new BridgeError("E_BRIDGE_ARGS", "base must not carry credentials, a query or a fragment", { field: "base" });
  }
  return url;
}

/**
 * Builds `{base}/ext-ui/{extensionId}/{contentHash}/{path}`. Every part is
 * checked rather than escaped: an id or hash of the wrong shape, or a path
 * that could step outside the bundle's directory, is refused with a typed
 * error, and the result is parsed back to prove it stayed under its prefix.
 */
export function buildExtUiSrc(options: ExtUiSrcOptions): string {
  const base = parseBase(options.base);
  const { extensionId, contentHash } = options;
  if (typeof extensionId !== "string" || extensionId.length > 57 || !EXTENSION_ID.test(extensionId)) {
    throw new BridgeError("E_BRIDGE_ARGS", `extensionId ${JSON.stringify(String(extensionId).slice(0, 80))} must be "<publisher>.<name>" in lowercase letters, digits and single hyphens, e.g. acme.analytics`, { field: "extensionId" });
  }
  if (typeof contentHash !== "string" || !CONTENT_HASH.test(contentHash)) {
    throw new BridgeError("E_BRIDGE_ARGS", `contentHash ${JSON.stringify(String(contentHash).slice(0, 80))} must be "sha256:" followed by 64 lowercase hex digits`, { field: "contentHash" });
  }
  const { path, query } = parseSafeRelativePath(options.path, { field: "path", allowQuery: true });

  const basePath = base.pathname.endsWith("/") ? base.pathname : `${base.pathname}/`;
  const prefix = `${basePath}ext-ui/${extensionId}/${contentHash}/`;
  const url = new URL(`${prefix}${path}${query}`, base.origin);
  // Defence in depth: the URL parser must not have moved the path anywhere.
  if (url.origin !== base.origin || !url.pathname.startsWith(prefix) || url.pathname !== `${prefix}${path}`) {
    throw new BridgeError("E_BRIDGE_PATH", `path ${JSON.stringify(options.path)} does not stay under ${prefix}`, { field: "path" });
  }
  return options.nonce === undefined ? url.href : withNonce(url.href, options.nonce);
}
