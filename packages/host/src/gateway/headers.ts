import { GatewayError } from "./errors.js";

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
 * user's credentials, and what only proxies and the host may set.
 */
const NEVER_TO_SANDBOX = new Set([
  "cookie",
  "authorization",
  "proxy-authorization",
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "forwarded",
  "x-real-ip",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
]);

/**
 * Never taken from a sandbox's response: cookies (an extension must not set
 * the host's cookies), hop-by-hop headers, and everything by which a response
 * decides what browsers allow (CORS, CSP, framing, HSTS): the host decides those.
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
  "content-security-policy",
  "content-security-policy-report-only",
  "strict-transport-security",
  "x-frame-options",
  "x-content-type-options",
  "permissions-policy",
  "clear-site-data",
  "refresh",
  "link",
  "alt-svc",
  "service-worker-allowed",
  "www-authenticate",
]);
const NEVER_FROM_SANDBOX_PREFIXES = ["access-control-", "cross-origin-", "x-annex-"];

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
  readonly #internalPrefixes: string[] = ["x-annex-"];

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

  /** What of a sandbox's response headers reaches the caller. */
  fromSandbox(headers: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [rawName, value] of Object.entries(headers)) {
      const name = rawName.toLowerCase();
      if (!this.#response.has(name) || neverFromSandbox(name) || this.isInternal(name)) continue;
      if (/[\r\n\0]/.test(value)) continue;
      // A redirect may only stay on this site: an absolute or protocol-relative URL would make the host an open redirector.
      if (name === "location" && !/^\/(?![/\\])/.test(value)) continue;
      out[name] = value;
    }
    return out;
  }
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
