import type { EndpointClass, HttpMethod } from "./endpoints.js";
import { normaliseRoutePath } from "./primitives.js";
import type { Manifest, UiSlot } from "./schema.js";

/**
 * Exposure: who can reach an install, as its manifest declares it. It is part
 * of what an admin consents to, beside the capabilities: a release with the
 * same capabilities that lets anonymous callers reach what only signed-in
 * users could is a wider release.
 *
 * Who reaches what, narrowest first (`EXPOSURE_AUDIENCES`):
 * - `internal`: `health` endpoints, never routed from outside.
 * - `admins`: pages in the `admin` and `settings` slots, which hosts show to
 *   their admins only.
 * - `members`: any signed-in user of the tenant: `api` endpoints (the gateway
 *   requires a principal) and pages in the `app` and `dashboard.widget` slots.
 *   Manifest v2 declares no roles: an `api` endpoint is open to every
 *   signed-in user of the tenant, so there are no roles to loosen.
 * - `signed`: anyone holding a valid signature: `webhook` endpoints.
 * - `anyone`: anonymous callers: `public` endpoints and `public`-slot pages.
 *
 * An endpoint is the same route across versions when its method and
 * normalised path are (`normaliseRoutePath`: case, trailing slash and
 * parameter names ignored), whatever its handler. A page is traced to the
 * installed version two ways, each alone, since the author names both: by its
 * `entry` file (in any slot, at any path) and by its normalised path (in any
 * slot).
 *
 * What widens (each needs consent, as a new capability does):
 * - a `public` or `webhook` endpoint on a route that had none of that class or
 *   a wider one (a new route, or one moved from `api`/`health`);
 * - an `api` endpoint on a route that was only a `health` endpoint;
 * - a `webhook` that the core verified (`verify: "annex"`) and the extension
 *   now verifies itself (`"extension"`): the handler runs for any caller;
 * - a `public` endpoint whose CORS origins now let more sites read its answers
 *   from a browser (a new origin, or `"*"`);
 * - a page in the `app`, `dashboard.widget` or `public` slot whose entry file
 *   was shown before only in slots of a narrower audience, whatever its path
 *   and whatever else was at that path (e.g. the admin page's file now served
 *   at an existing app or public page's path);
 * - such a page whose normalised path was shown before only in slots of a
 *   narrower audience, whatever its entry file (e.g. an admin page moved to
 *   `app` at the same path with its file renamed): `"slot"`, or `"added"`
 *   when the narrower page is still at that path in its slot;
 * - a `public`-slot page whose entry file and path were both unknown before
 *   (a new public page): `"added"`.
 * A page is not widened when each of its entry file and its path that the
 * installed version showed was shown there to its audience or wider; pages in
 * the `admin`/`settings` slots never widen.
 *
 * Anything else is not a widening: a new `api` endpoint, or a new `app` or
 * `dashboard.widget` page whose file and path are both new (the same
 * signed-in audience as an `api` endpoint), a new file at a path already
 * shown to that audience or wider, removed routes and pages, a move to a
 * narrower class or slot, fewer CORS origins, a rate limit changed. A page
 * whose path and file were both renamed is a new page: exposure compares
 * declarations, not the files' content.
 */

export const EXPOSURE_AUDIENCES = ["internal", "admins", "members", "signed", "anyone"] as const;
export type ExposureAudience = (typeof EXPOSURE_AUDIENCES)[number];

const ENDPOINT_AUDIENCE: Record<EndpointClass, ExposureAudience> = { health: "internal", api: "members", webhook: "signed", public: "anyone" };
const SLOT_AUDIENCE: Record<UiSlot, ExposureAudience> = { admin: "admins", settings: "admins", app: "members", "dashboard.widget": "members", public: "anyone" };

const AUDIENCE_TEXT: Record<ExposureAudience, string> = {
  internal: "internal only",
  admins: "the host's admins",
  members: "any signed-in user",
  signed: "anyone with a valid signature",
  anyone: "anyone, without signing in",
};

const rank = (audience: ExposureAudience): number => EXPOSURE_AUDIENCES.indexOf(audience);

/** An endpoint as exposure sees it. */
export interface ExposedEndpoint {
  class: EndpointClass;
  method: HttpMethod;
  path: string;
  audience: ExposureAudience;
  /** Webhooks: who checks the signature, the core (`annex`) or the handler (`extension`). */
  verify?: "annex" | "extension";
  /** Public endpoints: origins whose pages may read the answers from a browser (`["*"]`: any). */
  corsOrigins?: string[];
}

/** A UI page as exposure sees it. */
export interface ExposedPage {
  slot: UiSlot;
  path: string;
  entry: string;
  title: string;
  audience: ExposureAudience;
}

/** Who can reach an install of a manifest without being one of the tenant's signed-in users. */
export interface Exposure {
  /** `public` endpoints: anonymous callers, anywhere. */
  public: ExposedEndpoint[];
  /** `webhook` endpoints: anonymous callers holding a valid signature. */
  webhooks: ExposedEndpoint[];
  /** Pages in the `public` slot: anonymous visitors. */
  publicPages: ExposedPage[];
  /** True when anything above is declared. */
  anonymous: boolean;
}

/** One change of exposure between two manifests. */
export interface ExposureChange {
  kind: "endpoint" | "page";
  /**
   * `added`: a route or page that was not reachable this way before (for
   * `narrowed`: `removed`, no longer reachable this way); `class` / `slot`:
   * the same route or page, moved between classes or slots (`from` → `to`);
   * `verify`: a webhook's signature check moved (`from` → `to`); `cors`: the
   * origins that may (or no longer may) read a public endpoint from a browser.
   */
  change: "added" | "removed" | "class" | "slot" | "verify" | "cors";
  /** Endpoints. */
  method?: HttpMethod;
  /** The route or page path as the manifest declares it. */
  path: string;
  /** Endpoints: the class on the wider side (widened: in the newer manifest; narrowed: in the older). */
  class?: EndpointClass;
  /** Pages: the slot on the wider side (widened: in the newer manifest; narrowed: in the older). */
  slot?: UiSlot;
  /** Pages: the entry file. */
  entry?: string;
  /** `class`, `slot`, `verify`: the value before and after. */
  from?: string;
  to?: string;
  /** `cors`: the origins that were added (widened) or dropped (narrowed). */
  origins?: string[];
  /** Who can reach it on the wider side: after the change (widened), before it (narrowed). */
  audience: ExposureAudience;
  /** One line for people, e.g. "GET /greet/:name: api → public endpoint (anyone, without signing in)". */
  text: string;
}

export interface ExposureDiff {
  /** What `to` exposes more than `from`: each needs an admin's consent. */
  widened: ExposureChange[];
  /** What `from` exposed that `to` no longer does (or to fewer callers): never needs consent. */
  narrowed: ExposureChange[];
  /** True when `widened` is not empty. */
  requiresConsent: boolean;
}

/** What exposure reads of a manifest: tolerant of a partial one (an admin API's answer may lack endpoints or ui). */
type ManifestLike = Pick<Manifest, "endpoints" | "ui"> | { endpoints?: unknown; ui?: unknown };

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

function endpointsOf(manifest: ManifestLike): ExposedEndpoint[] {
  const list = (manifest as { endpoints?: unknown }).endpoints;
  if (!Array.isArray(list)) return [];
  return list.filter(isRecord).flatMap((endpoint): ExposedEndpoint[] => {
    const cls = endpoint["class"];
    if (typeof cls !== "string" || !Object.hasOwn(ENDPOINT_AUDIENCE, cls) || typeof endpoint["method"] !== "string" || typeof endpoint["path"] !== "string") return [];
    const out: ExposedEndpoint = { class: cls as EndpointClass, method: endpoint["method"] as HttpMethod, path: endpoint["path"], audience: ENDPOINT_AUDIENCE[cls as EndpointClass] };
    // An unknown or missing verify is treated as the loosest: the extension checks (or not).
    if (cls === "webhook") out.verify = endpoint["verify"] === "annex" ? "annex" : "extension";
    if (cls === "public") {
      const cors = endpoint["cors"];
      const origins = isRecord(cors) && Array.isArray(cors["origins"]) ? cors["origins"].filter((o): o is string => typeof o === "string") : [];
      out.corsOrigins = origins;
    }
    return [out];
  });
}

function pagesOf(manifest: ManifestLike): ExposedPage[] {
  const ui = (manifest as { ui?: unknown }).ui;
  const list = isRecord(ui) ? ui["pages"] : undefined;
  if (!Array.isArray(list)) return [];
  return list.filter(isRecord).flatMap((page): ExposedPage[] => {
    const slot = page["slot"];
    if (typeof slot !== "string" || !Object.hasOwn(SLOT_AUDIENCE, slot) || typeof page["path"] !== "string") return [];
    return [
      {
        slot: slot as UiSlot,
        path: page["path"],
        entry: typeof page["entry"] === "string" ? page["entry"] : "",
        title: typeof page["title"] === "string" ? page["title"] : "",
        audience: SLOT_AUDIENCE[slot as UiSlot],
      },
    ];
  });
}

/** Who can reach an install of `manifest` from outside the tenant's signed-in users: public endpoints, webhooks, public pages. */
export function describeExposure(manifest: ManifestLike): Exposure {
  const endpoints = endpointsOf(manifest);
  const exposure: Exposure = {
    public: endpoints.filter((endpoint) => endpoint.class === "public"),
    webhooks: endpoints.filter((endpoint) => endpoint.class === "webhook"),
    publicPages: pagesOf(manifest).filter((page) => page.slot === "public"),
    anonymous: false,
  };
  exposure.anonymous = exposure.public.length + exposure.webhooks.length + exposure.publicPages.length > 0;
  return exposure;
}

/** One line for people describing an endpoint or page of the exposure. */
export function describeExposedEndpoint(endpoint: ExposedEndpoint): string {
  const extra =
    endpoint.class === "webhook"
      ? `, signature checked by ${endpoint.verify === "annex" ? "Annex" : "the extension"}`
      : endpoint.class === "public" && endpoint.corsOrigins !== undefined && endpoint.corsOrigins.length > 0
        ? `, readable from ${endpoint.corsOrigins.includes("*") ? "any website" : endpoint.corsOrigins.join(", ")}`
        : "";
  return `${endpoint.class} endpoint ${endpoint.method} ${endpoint.path} (${AUDIENCE_TEXT[endpoint.audience]}${extra})`;
}

export function describeExposedPage(page: ExposedPage): string {
  // The audience before the title, and the title escaped: a title cannot close its quotes and name another audience.
  return `${page.slot} page ${page.path} (${AUDIENCE_TEXT[page.audience]})${page.title === "" ? "" : `, titled ${JSON.stringify(page.title)}`}`;
}

const routeKey = (endpoint: ExposedEndpoint) => `${endpoint.method} ${normaliseRoutePath(endpoint.path)}`;

type Direction = "widened" | "narrowed";

/** What `after` exposes that `before` did not. `direction` only words the result (narrowed: `before` is the newer manifest). */
function widenings(before: ManifestLike, after: ManifestLike, direction: Direction): ExposureChange[] {
  const changes: ExposureChange[] = [];
  const older = endpointsOf(before);
  const widened = direction === "widened";
  const arrow = (from: string, to: string) => (widened ? `${from} → ${to}` : `${to} → ${from}`);

  for (const endpoint of endpointsOf(after)) {
    if (endpoint.class === "health") continue;
    const peers = older.filter((old) => routeKey(old) === routeKey(endpoint));
    const base = { kind: "endpoint" as const, method: endpoint.method, path: endpoint.path, class: endpoint.class, audience: endpoint.audience };
    const same = peers.find((old) => old.class === endpoint.class);
    if (same !== undefined) {
      if (endpoint.class === "webhook" && same.verify === "annex" && endpoint.verify === "extension") {
        changes.push({
          ...base,
          change: "verify",
          from: widened ? "annex" : "extension",
          to: widened ? "extension" : "annex",
          text: widened
            ? `webhook ${endpoint.method} ${endpoint.path}: its signature is now checked by the extension, no longer by Annex (the handler runs for any caller)`
            : `webhook ${endpoint.method} ${endpoint.path}: its signature is now checked by Annex again`,
        });
      }
      if (endpoint.class === "public") {
        const had = same.corsOrigins ?? [];
        const origins = had.includes("*") ? [] : (endpoint.corsOrigins ?? []).filter((origin) => !had.includes(origin));
        if (origins.length > 0) {
          const shown = origins.includes("*") ? "any website" : origins.join(", ");
          changes.push({
            ...base,
            change: "cors",
            origins,
            text: widened ? `public endpoint ${endpoint.method} ${endpoint.path}: now readable from browsers on ${shown}` : `public endpoint ${endpoint.method} ${endpoint.path}: no longer readable from browsers on ${shown}`,
          });
        }
      }
      continue;
    }
    const widest = widestOf(peers);
    if (widest !== undefined && rank(widest.audience) >= rank(endpoint.audience)) continue;
    if (widest !== undefined) {
      changes.push({
        ...base,
        change: "class",
        from: widened ? widest.class : endpoint.class,
        to: widened ? endpoint.class : widest.class,
        text: `${endpoint.method} ${endpoint.path}: ${arrow(widest.class, endpoint.class)} endpoint (${widened ? AUDIENCE_TEXT[endpoint.audience] : `was ${AUDIENCE_TEXT[endpoint.audience]}`})`,
      });
      continue;
    }
    // A new route: widening only where it lets in callers who are not signed in.
    if (endpoint.class === "api") continue;
    changes.push({
      ...base,
      change: widened ? "added" : "removed",
      text: widened ? `new ${describeExposedEndpoint(endpoint)}` : `no more ${describeExposedEndpoint(endpoint)}`,
    });
  }

  const olderPages = pagesOf(before);
  const newerPages = pagesOf(after);
  for (const page of newerPages) {
    // Pages in the admins' slots reach no one new: no page audience is narrower.
    if (rank(page.audience) <= rank("admins")) continue;
    const base = { kind: "page" as const, path: page.path, slot: page.slot, entry: page.entry, audience: page.audience };
    // Where this page's content may come from in the installed version: its entry file, in any slot and at any
    // path, and its normalised path, in any slot. Either may be renamed by the author, so each is checked alone.
    const sameEntry = page.entry === "" ? [] : olderPages.filter((old) => old.entry === page.entry);
    const samePath = olderPages.filter((old) => normaliseRoutePath(old.path) === normaliseRoutePath(page.path));
    const widerBefore = (peers: ExposedPage[]) => peers.some((old) => rank(old.audience) >= rank(page.audience));
    // The file, or the path, was shown before, but only to a narrower audience: the page moved to a wider one.
    const narrower = [sameEntry, samePath].find((peers) => peers.length > 0 && !widerBefore(peers));
    const widest = narrower === undefined ? undefined : widestOf(narrower);
    // A new page at a path whose narrower page is still there, in its slot: an addition beside it, not a move.
    const beside = widest !== undefined && narrower === samePath && newerPages.some((other) => other.slot === widest.slot && normaliseRoutePath(other.path) === normaliseRoutePath(widest.path));
    if (widest !== undefined && beside) {
      const shown = `, at a path shown to ${AUDIENCE_TEXT[widest.audience]} only`;
      changes.push({ ...base, change: widened ? "added" : "removed", text: widened ? `new ${describeExposedPage(page)}${shown}` : `no more ${describeExposedPage(page)}${shown}` });
      continue;
    }
    if (widest !== undefined) {
      const what = narrower === sameEntry ? `page ${page.entry}` : `page ${page.path}`;
      const where = narrower === sameEntry ? (normaliseRoutePath(widest.path) === normaliseRoutePath(page.path) ? "" : ` at ${page.path}`) : page.entry === widest.entry ? "" : ` (now ${page.entry})`;
      changes.push({
        ...base,
        change: "slot",
        from: widened ? widest.slot : page.slot,
        to: widened ? page.slot : widest.slot,
        text: `${what}${where}: ${arrow(`${widest.slot} slot`, `${page.slot} slot`)} (${widened ? AUDIENCE_TEXT[page.audience] : `was ${AUDIENCE_TEXT[page.audience]}`})`,
      });
      continue;
    }
    // Neither its file nor its path was shown before: a new page, a widening only in the public slot (a new
    // members' page reaches the same signed-in users as an api endpoint).
    if (sameEntry.length > 0 || samePath.length > 0 || page.slot !== "public") continue;
    changes.push({ ...base, change: widened ? "added" : "removed", text: widened ? `new ${describeExposedPage(page)}` : `no more ${describeExposedPage(page)}` });
  }
  return changes;
}

/**
 * How exposure changes from `from` (e.g. the installed version's manifest) to
 * `to` (the version an upgrade moves to). The rules are in this file's
 * header; a narrower exposure never requires consent.
 */
export function diffExposure(from: ManifestLike, to: ManifestLike): ExposureDiff {
  const widened = widenings(from, to, "widened");
  const narrowed = widenings(to, from, "narrowed");
  return { widened, narrowed, requiresConsent: widened.length > 0 };
}

/** The item whose audience is widest (the first of equals); undefined for none. */
function widestOf<T extends { audience: ExposureAudience }>(items: readonly T[]): T | undefined {
  return items.reduce<T | undefined>((best, item) => (best === undefined || rank(item.audience) > rank(best.audience) ? item : best), undefined);
}
