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

/** Where one bundle's page may load from, as CSP sources (origin and path, each ending in "/"). */
export interface AssetSources {
  /** Where this bundle's UI files are served, on each origin, e.g. "https://app.example.com/ext-ui/acme.x/sha256:…/". */
  bundle: readonly string[];
  /** The extension's own public endpoints, e.g. "https://app.example.com/ext/acme.x/public/": images, fonts and media only. */
  publicEndpoints: readonly string[];
}

export interface AssetCsp {
  /**
   * The header for one bundle, given the manifest's declared inline-script
   * hashes. With `sources`, scripts and styles come only from the bundle's
   * own path, not from anything else the host's origin serves; without, from
   * `'self'`.
   */
  header(scriptHashes: readonly string[], sources?: AssetSources): string;
}

/** An origin the gateway can put in a CSP as it is: scheme, a plain host name or address, a port. */
const PLAIN_ORIGIN = /^https?:\/\/(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

/**
 * The sources of one bundle's page on each origin browsers may reach the host
 * at: the request's own, and those the host names as its own (a proxy in
 * front may rewrite the request's Host). An origin not plain enough to write
 * into a header is left out (the request's is its Host); with none left,
 * none, and the page loads from `'self'`.
 */
export function assetSources(origins: readonly string[], uiPrefix: string, extPrefix: string, extensionId: string, contentHash: string): AssetSources | undefined {
  const plain = [...new Set(origins.filter((origin) => PLAIN_ORIGIN.test(origin)))];
  if (plain.length === 0) return undefined;
  return {
    bundle: plain.map((origin) => `${origin}${uiPrefix}/${extensionId}/${contentHash}/`),
    publicEndpoints: plain.map((origin) => `${origin}${extPrefix}/${extensionId}/public/`),
  };
}

/**
 * The Content-Security-Policy of extension UI files: nothing by default,
 * scripts and styles only from the bundle's own path (plus inline scripts the manifest
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
  const rest = [
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
    header(scriptHashes, sources) {
      const hashes = scriptHashes.map((hash) => ` '${hash}'`).join("");
      // 'self' is every route of the host's origin: another extension's public endpoint, any other bundle's
      // files. A page's code is its own bundle's, which the admin consented to.
      const own = sources === undefined ? "'self'" : sources.bundle.join(" ");
      const media = sources === undefined ? "'self'" : [...sources.bundle, ...sources.publicEndpoints].join(" ");
      return [
        "default-src 'none'",
        `script-src ${own}${hashes}`,
        `style-src ${own}`,
        `img-src ${media} data: blob:`,
        `font-src ${media}`,
        `media-src ${media}`,
        rest,
      ].join("; ");
    },
  };
}
