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

/** `reason` is the audit log's short line; `detail` the answer's, naming what was seen and what to do. */
export type CrossSiteVerdict = { ok: true } | { ok: false; reason: string; detail: string };

const OWN_PAGES = "State-changing requests must come from the host's own pages";
/** Where the host's public origins are set: the usual cause of a refusal is a proxy or a custom domain left out. */
const LIST_IT =
  `${OWN_PAGES}. If that origin is one of them (the public origin behind a proxy, whose X-Forwarded-* headers and Express's ` +
  `"trust proxy" this check does not read, or a tenant's custom domain), list it in createHost({ gateway: { origins } })`;

/**
 * A refusal whose detail names what the check saw (the caller's own headers,
 * bounded) and the origin the host took the request to be on, the two a
 * reader compares; the audit log keeps the short reason.
 */
function refusal(reason: string, saw: string, url: URL, next: string): CrossSiteVerdict {
  return { ok: false, reason, detail: `this request comes from another site than the host's: ${saw}, and the host's origin for this request is ${url.origin}. ${next}` };
}

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
      const reason = `Origin ${origin.slice(0, 200)} is not one of the host's origins`;
      if (origin === "null") {
        return refusal(reason, 'its Origin is "null" (a sandboxed frame or a privacy context), which is never trusted', url, `${OWN_PAGES}: a framed extension page calls through the bridge (api.fetch)`);
      }
      return refusal(reason, `its Origin is ${JSON.stringify(origin.slice(0, 200))}`, url, LIST_IT);
    }
    const site = request.headers.get("sec-fetch-site");
    if (site === null || site === "same-origin" || site === "none") return { ok: true };
    return refusal(`Sec-Fetch-Site: ${site.slice(0, 40)} without an Origin header`, `it has no Origin header and Sec-Fetch-Site: ${JSON.stringify(site.slice(0, 40))}`, url, OWN_PAGES);
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
