import { GatewayError } from "./errors.js";

/**
 * The host's own origins, for the cross-site check of state-changing `api`
 * requests: a list of origins (`https://app.example.com`), or a function that
 * decides per request (tenants on custom domains). The request's own origin
 * is always trusted on top of these.
 */
export type TrustedOrigins = readonly string[] | ((origin: string, request: Request) => boolean | Promise<boolean>);

/** Methods that must not change state: never refused by the cross-site check. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export type CrossSiteVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Whether a state-changing `api` request may run: the session cookie that
 * authenticated it is sent by browsers from any site (SameSite=None is
 * common for embedded apps), so the browser's own account of where the
 * request comes from decides. `Origin` must be one of the host's origins;
 * without it, `Sec-Fetch-Site` must say same-origin (or a user's own
 * navigation); a request carrying neither did not come from a browser, and
 * cross-site request forgery needs a browser.
 */
export class CrossSiteCheck {
  readonly #origins: ReadonlySet<string>;
  readonly #decide: ((origin: string, request: Request) => boolean | Promise<boolean>) | undefined;

  constructor(origins: TrustedOrigins | undefined) {
    if (typeof origins === "function") {
      this.#origins = new Set();
      this.#decide = origins;
      return;
    }
    if (origins !== undefined && !Array.isArray(origins)) {
      throw new GatewayError("E_GATEWAY_OPTIONS", "gateway.origins must be a list of origins such as [\"https://app.example.com\"] or a function (origin, request) → boolean", {
        field: "gateway.origins",
      });
    }
    this.#origins = new Set((origins ?? []).map((origin, index) => canonicalOrigin(origin, `gateway.origins[${index}]`)));
    this.#decide = undefined;
  }

  async check(request: Request, url: URL): Promise<CrossSiteVerdict> {
    if (SAFE_METHODS.has(request.method)) return { ok: true };
    const origin = request.headers.get("origin");
    if (origin !== null) {
      if (origin === url.origin || this.#origins.has(origin)) return { ok: true };
      if (this.#decide !== undefined && origin !== "null" && (await this.#decide(origin, request)) === true) return { ok: true };
      return { ok: false, reason: `Origin ${origin.slice(0, 200)} is not one of the host's origins` };
    }
    const site = request.headers.get("sec-fetch-site");
    if (site === null || site === "same-origin" || site === "none") return { ok: true };
    return { ok: false, reason: `Sec-Fetch-Site: ${site.slice(0, 40)} without an Origin header` };
  }
}

/** `scheme://host[:port]` exactly as browsers send it in `Origin`. */
function canonicalOrigin(value: unknown, field: string): string {
  let url: URL | undefined;
  try {
    url = typeof value === "string" ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "https:" && url.protocol !== "http:") || url.origin !== value) {
    throw new GatewayError("E_GATEWAY_OPTIONS", `${field} must be an origin such as "https://app.example.com" (scheme, host and port only, no path or trailing slash), got ${JSON.stringify(value)}`, {
      field,
    });
  }
  return url.origin;
}
