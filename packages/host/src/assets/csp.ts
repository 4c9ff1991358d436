import { GatewayError } from "../gateway/errors.js";

/** Sandbox flags an extension page may get through its CSP; never allow-same-origin (it would run with the host's origin). */
const SANDBOX_TOKENS = new Set(["allow-scripts", "allow-forms", "allow-popups", "allow-modals", "allow-downloads"]);
const ORIGIN = /^https?:\/\/[a-z0-9.-]+(?::\d{1,5})?$/;

export interface AssetCspOptions {
  /**
   * Origins allowed to frame extension pages (`frame-ancestors`): the host
   * app's origin(s), e.g. "https://app.example.com". Default `'self'`.
   */
  frameAncestors?: readonly string[] | undefined;
  /** CSP `sandbox` flags. Default ["allow-scripts"]. */
  sandbox?: readonly string[] | undefined;
}

export interface AssetCsp {
  /** The header for one bundle, given the manifest's declared inline-script hashes. */
  header(scriptHashes: readonly string[]): string;
}

/**
 * The Content-Security-Policy of extension UI files: nothing by default,
 * scripts and styles only from the bundle (plus inline scripts the manifest
 * declares by hash), no network access at all (`connect-src 'none'`: data
 * comes through the bridge), no forms, no plugins, framed only by the host,
 * and sandboxed even when opened directly.
 */
export function createAssetCsp(options: AssetCspOptions = {}): AssetCsp {
  const ancestors = (options.frameAncestors ?? ["'self'"]).map((origin) => {
    if (origin === "'self'" || (typeof origin === "string" && ORIGIN.test(origin))) return origin;
    throw new GatewayError("E_GATEWAY_OPTIONS", `assets.frameAncestors: ${JSON.stringify(origin)} must be "'self'" or an origin like https://app.example.com (lowercase, no path)`, {
      field: "assets.frameAncestors",
    });
  });
  if (ancestors.length === 0) {
    throw new GatewayError("E_GATEWAY_OPTIONS", "assets.frameAncestors must list at least one origin (the host app's), or be left out for 'self'", {
      field: "assets.frameAncestors",
    });
  }
  const sandbox = options.sandbox ?? ["allow-scripts"];
  for (const token of sandbox) {
    if (!SANDBOX_TOKENS.has(token)) {
      throw new GatewayError("E_GATEWAY_OPTIONS", `assets.sandbox: ${JSON.stringify(token)} is not allowed; use any of ${[...SANDBOX_TOKENS].join(", ")}`, {
        field: "assets.sandbox",
      });
    }
  }
  const tail = [
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "media-src 'self'",
    "connect-src 'none'",
    "object-src 'none'",
    "frame-src 'none'",
    "worker-src 'none'",
    "manifest-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${ancestors.join(" ")}`,
    `sandbox ${sandbox.join(" ")}`.trim(),
  ].join("; ");
  return {
    header(scriptHashes) {
      const hashes = scriptHashes.map((hash) => ` '${hash}'`).join("");
      return `default-src 'none'; script-src 'self'${hashes}; ${tail}`;
    },
  };
}
