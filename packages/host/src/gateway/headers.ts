import { HOST_HEADER_PREFIX, NEVER_FORWARDED_REQUEST_HEADERS } from "@annex/manifest";
import { GatewayError } from "./errors.js";
import { problem } from "./problem.js";
import { hasDotSegment } from "./paths.js";

/** Request headers an extension sees by default. Everything else is dropped. */
export const DEFAULT_REQUEST_HEADERS: readonly string[] = Object.freeze([
  "accept",
  "accept-language",
  "content-type",
  "content-language",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
  "origin",
  "user-agent",
]);

/** Response headers an extension may set by default. Everything else is dropped. */
export const DEFAULT_RESPONSE_HEADERS: readonly string[] = Object.freeze([
  "cache-control",
  "content-disposition",
  "content-language",
  "content-type",
  "etag",
  "expires",
  "last-modified",
  "location",
  "retry-after",
  "vary",
]);

/**
 * Never sent to a sandbox, whatever the policy or the manifest says: the
 * user's credentials, hop-by-hop headers, and what only proxies and the host
 * may set. Defined by @annex/manifest, which refuses a webhook that asks for
 * one of them, so what a manifest may name and what reaches it agree.
 */
const NEVER_TO_SANDBOX = new Set(NEVER_FORWARDED_REQUEST_HEADERS);

/**
 * Never taken from a sandbox's response, whatever the policy says: cookies
 * (an extension must not set the host's cookies), hop-by-hop headers, and
 * everything by which a response decides what browsers allow or remember for
 * the host's whole origin (CORS, CSP, framing, HSTS, referrer policy,
 * reporting and error logging endpoints, client hints, login status, cache
 * freshness): the host decides those.
 */
const NEVER_FROM_SANDBOX = new Set([
  "set-cookie",
  "set-cookie2",
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "content-encoding",
  "content-location",
  "content-security-policy",
  "content-security-policy-report-only",
  "strict-transport-security",
  "x-frame-options",
  "x-content-type-options",
  "x-xss-protection",
  "x-dns-prefetch-control",
  "x-download-options",
  "x-permitted-cross-domain-policies",
  "x-request-id",
  "permissions-policy",
  "feature-policy",
  "document-policy",
  "require-document-policy",
  "document-isolation-policy",
  "origin-agent-cluster",
  "referrer-policy",
  "timing-allow-origin",
  "clear-site-data",
  "refresh",
  "link",
  "alt-svc",
  "service-worker-allowed",
  "www-authenticate",
  "nel",
  "report-to",
  "reporting-endpoints",
  "accept-ch",
  "accept-ch-lifetime",
  "critical-ch",
  "set-login",
  "activate-storage-access",
  "observe-browsing-topics",
  "supports-loading-mode",
  "speculation-rules",
  "no-vary-search",
  "expect-ct",
  "public-key-pins",
  "public-key-pins-report-only",
  "age",
  "date",
]);
const NEVER_FROM_SANDBOX_PREFIXES = ["access-control-", "cross-origin-", "x-annex-", "sec-", "proxy-"];

/**
 * Caching decided by the gateway: on `api` and `webhook` responses (a signed-in
 * user's data, a sender's delivery) the gateway's `Cache-Control: no-store`
 * always holds and these are dropped; `public` endpoints may set them.
 */
const CACHING = new Set([
  "cache-control",
  "expires",
  // What CDNs and proxies read before Cache-Control (RFC 9213 and vendors'): on api answers they would put a user's data in a shared cache.
  "cdn-cache-control",
  "surrogate-control",
  "cloudflare-cdn-cache-control",
  "vercel-cdn-cache-control",
  "fastly-surrogate-control",
  "edge-control",
  "x-accel-expires",
]);

/** What a header value may hold on the wire (RFC 9110 field-value: visible ASCII, space, tab, obs-text). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Whitespace and controls a browser drops or skips in a Location (so `/\t/evil.example` would go off-site). */
const LOCATION_UNSAFE = /[\u0000-\u0020\u007f-\u009f\s]/u;

/** How a sandbox's response headers are taken for one request. */
export interface FromSandboxOptions {
  /** The request's URL: a Location must resolve against it to the same origin. */
  requestUrl: URL;
  /** Whether the extension may decide caching (`public` endpoints only). */
  cacheable: boolean;
  /**
   * The answer's status and the request's method: a redirect that makes the
   * browser send the request again, method and body included, may only point
   * inside `ownPaths`. Without them, every status is taken as such a redirect.
   */
  status?: number | undefined;
  method?: string | undefined;
  /** The extension's own path prefixes, each ending in "/" (the gateway gives `/api/ext/acme.x/` and `/ext/acme.x/`). */
  ownPaths?: readonly string[] | undefined;
}

/**
 * Whether a browser follows a redirect of `status` to `method` by sending the
 * same method and body again (Fetch, HTTP-redirect fetch): 307 and 308
 * always; 301 and 302 for every method but GET, HEAD and POST (POST becomes
 * GET there, as for 303). A same-origin redirect keeps the request's
 * headers too: the host SPA's Authorization or CSRF header would reach a
 * route of the extension's choosing.
 */
function resendsRequest(status: number | undefined, method: string | undefined): boolean {
  if (status === undefined || method === undefined) return true;
  if (status === 307 || status === 308) return true;
  if (status === 301 || status === 302) return !["GET", "HEAD", "POST"].includes(method.toUpperCase());
  return false;
}

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

export interface HeaderPolicyOptions {
  /** Request headers to forward in addition to DEFAULT_REQUEST_HEADERS (never credentials or hop-by-hop headers). */
  requestHeaders?: readonly string[] | undefined;
  /** Response headers to accept in addition to DEFAULT_RESPONSE_HEADERS (never cookies, CORS, CSP …). */
  responseHeaders?: readonly string[] | undefined;
  /**
   * The host's own headers (exact names, or prefixes ending in "-" or "*", e.g. "x-internal-"): never
   * forwarded to a sandbox, never accepted from one. `x-annex-` is always internal.
   */
  internalHeaders?: readonly string[] | undefined;
}

/** The allowlists of one gateway, checked once at creation. */
export class HeaderPolicy {
  readonly #request: Set<string>;
  readonly #response: Set<string>;
  readonly #internalNames = new Set<string>();
  readonly #internalPrefixes: string[] = [HOST_HEADER_PREFIX];

  constructor(options: HeaderPolicyOptions = {}) {
    for (const entry of options.internalHeaders ?? []) {
      const name = checkName(entry.replace(/\*$/, ""), "internalHeaders");
      if (entry.endsWith("*") || entry.endsWith("-")) this.#internalPrefixes.push(name);
      else this.#internalNames.add(name);
    }
    this.#request = new Set(DEFAULT_REQUEST_HEADERS);
    for (const entry of options.requestHeaders ?? []) {
      const name = checkName(entry, "requestHeaders");
      if (NEVER_TO_SANDBOX.has(name) || this.isInternal(name)) {
        throw new GatewayError("E_GATEWAY_OPTIONS", `policy.requestHeaders: ${name} is never forwarded to extensions (credentials, hop-by-hop or internal); remove it`, {
          header: name,
        });
      }
      this.#request.add(name);
    }
    this.#response = new Set(DEFAULT_RESPONSE_HEADERS);
    for (const entry of options.responseHeaders ?? []) {
      const name = checkName(entry, "responseHeaders");
      if (neverFromSandbox(name) || this.isInternal(name)) {
        throw new GatewayError("E_GATEWAY_OPTIONS", `policy.responseHeaders: ${name} is decided by the host, never by an extension; remove it`, { header: name });
      }
      this.#response.add(name);
    }
  }

  isInternal(name: string): boolean {
    return this.#internalNames.has(name) || this.#internalPrefixes.some((prefix) => name.startsWith(prefix));
  }

  /** Whether a request header reaches sandboxes (what a CORS preflight may allow). */
  forwards(name: string): boolean {
    return this.#request.has(name) && !NEVER_TO_SANDBOX.has(name) && !this.isInternal(name);
  }

  /**
   * The headers a sandbox sees: the allowlist, plus `extra` (a webhook's
   * declared provider headers), minus credentials and internal headers.
   */
  toSandbox(headers: Headers, extra: readonly string[] = []): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of headers) {
      if (NEVER_TO_SANDBOX.has(name) || this.isInternal(name)) continue;
      if (this.#request.has(name) || extra.includes(name)) out[name] = value;
    }
    return out;
  }

  /**
   * What of a sandbox's response headers reaches the caller. Headers outside
   * the allowlist are dropped; an allowed header whose value cannot be sent
   * (not a string, characters outside Latin-1, controls) is the extension's
   * bug: 502 E_BAD_RESPONSE_HEADER naming it.
   */
  fromSandbox(headers: Record<string, unknown>, options: FromSandboxOptions): Record<string, string> {
    const out: Record<string, string> = {};
    let size = 0;
    for (const [rawName, value] of Object.entries(headers)) {
      const name = rawName.toLowerCase();
      if (!this.#response.has(name) || neverFromSandbox(name) || this.isInternal(name)) continue;
      if (!options.cacheable && CACHING.has(name)) continue;
      if (name === "location") {
        // A redirect may only stay on this site: anything else would make the host an open redirector.
        const location = typeof value === "string" ? sameOriginLocation(value, options.requestUrl) : null;
        if (location === null) continue;
        // One the browser follows by sending the request again stays inside the extension: the host's own routes would take it as the user's.
        if (resendsRequest(options.status, options.method) && !insideOwnPaths(location, options.ownPaths ?? [])) continue;
        out[name] = location;
        continue;
      }
      if (typeof value !== "string" || !FIELD_VALUE.test(value)) {
        throw problem(502, "E_BAD_RESPONSE_HEADER", `the extension answered with a ${name} header that cannot be sent`, {
          reason: `response header ${name}: ${typeof value !== "string" ? `a ${typeof value}, not a string` : "characters outside Latin-1 or control characters"}`,
          extra: { header: name },
        });
      }
      // Clients refuse a response whose head passes 16 KiB (Node's and undici's default): the extension's share is half.
      size += name.length + value.length + 4;
      if (size > MAX_SANDBOX_HEADER_BYTES) {
        throw problem(502, "E_BAD_RESPONSE_HEADER", `the extension answered with more than ${MAX_SANDBOX_HEADER_BYTES} bytes of headers`, {
          reason: `response headers over ${MAX_SANDBOX_HEADER_BYTES} bytes at ${name}`,
          extra: { header: name },
        });
      }
      out[name] = value;
    }
    return out;
  }
}

/**
 * The most bytes (names, values and their separators) of the headers a sandbox's response may carry: clients
 * refuse a response head over 16 KiB (Node's and undici's default), of which the gateway's own headers take a
 * part. A longer one (a 4 MB ETag) broke the response for every client.
 */
export const MAX_SANDBOX_HEADER_BYTES = 8192;

/**
 * The Location to send for `value`, or null when it leaves the request's
 * origin. Resolved as a browser resolves it (WHATWG URL against the request),
 * after refusing whitespace and controls a browser would silently drop;
 * sent as the resolved path, which no browser can read as another host.
 */
export function sameOriginLocation(value: string, requestUrl: URL): string | null {
  if (value === "" || value.length > 8192 || LOCATION_UNSAFE.test(value)) return null;
  let resolved: URL;
  try {
    resolved = new URL(value, requestUrl);
  } catch {
    return null;
  }
  if (resolved.origin !== requestUrl.origin || resolved.origin === "null") return null;
  const path = `${resolved.pathname}${resolved.search}${resolved.hash}`;
  return path.startsWith("/") && !path.startsWith("//") ? path : null;
}

/**
 * Whether a path `sameOriginLocation` made lies under one of `prefixes` (each
 * ending in "/"), by its path alone. A segment that a proxy stripping `;…`
 * path parameters reads as `.` or `..` (`..;`, `%2e%2e;x`) would take the
 * resent request out of the prefix there: such a path is outside, as the
 * gateway refuses it inbound (hasDotSegment).
 */
function insideOwnPaths(location: string, prefixes: readonly string[]): boolean {
  const end = location.search(/[?#]/);
  const path = end === -1 ? location : location.slice(0, end);
  return prefixes.some((prefix) => path.startsWith(prefix) && !hasDotSegment(path.slice(prefix.length)));
}

function neverFromSandbox(name: string): boolean {
  return NEVER_FROM_SANDBOX.has(name) || NEVER_FROM_SANDBOX_PREFIXES.some((prefix) => name.startsWith(prefix));
}

function checkName(entry: unknown, field: string): string {
  if (typeof entry !== "string" || !HEADER_NAME.test(entry.toLowerCase()) || entry.length > 128) {
    throw new GatewayError("E_GATEWAY_OPTIONS", `policy.${field}: ${JSON.stringify(entry)} is not a header name; use lowercase names like "x-tenant-plan"`, {
      field: `policy.${field}`,
    });
  }
  return entry.toLowerCase();
}
