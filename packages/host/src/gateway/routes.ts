import type { Endpoint, Manifest } from "@annex/manifest";
import type { EndpointFamily } from "./paths.js";

/** An endpoint of the manifest that the gateway can route to (health endpoints never are). */
export type RoutableEndpoint = Extract<Endpoint, { class: EndpointFamily }>;

interface CompiledRoute {
  endpoint: RoutableEndpoint;
  /** Position in manifest.endpoints, for audit lines and rate-limit keys. */
  index: number;
  /** Lowercased literal, or `{ param }`. */
  segments: Array<string | { param: string }>;
  /** Literal segments, for specificity: `/items/new` wins over `/items/:id`. */
  literals: number;
}

export type RouteMatch =
  | { kind: "match"; endpoint: RoutableEndpoint; index: number; params: Record<string, string> }
  /** The path exists for other methods only. `allow` is the Allow header's list. */
  | { kind: "method"; allow: string[] }
  | { kind: "none" }
  /** A segment is not valid percent-encoding. */
  | { kind: "malformed" };

/**
 * The routes of one manifest by endpoint class. Matching follows the
 * manifest's own collision rule: literal segments compare case-insensitively
 * and a trailing slash is optional. Compiled once per content hash.
 */
export class RouteTable {
  readonly #byClass = new Map<EndpointFamily, CompiledRoute[]>();

  constructor(manifest: Manifest) {
    manifest.endpoints.forEach((endpoint, index) => {
      if (endpoint.class === "health") return;
      const segments = split(endpoint.path).map((segment) => (segment.startsWith(":") ? { param: segment.slice(1) } : segment.toLowerCase()));
      const route: CompiledRoute = { endpoint, index, segments, literals: segments.filter((s) => typeof s === "string").length };
      const list = this.#byClass.get(endpoint.class) ?? [];
      list.push(route);
      this.#byClass.set(endpoint.class, list);
    });
    for (const list of this.#byClass.values()) list.sort(bySpecificity);
  }

  /** Endpoints of a class, e.g. to answer a CORS preflight. */
  endpoints(family: EndpointFamily): RoutableEndpoint[] {
    return (this.#byClass.get(family) ?? []).map((route) => route.endpoint);
  }

  match(family: EndpointFamily, method: string, rawPath: string): RouteMatch {
    const routes = this.#byClass.get(family);
    if (routes === undefined) return { kind: "none" };
    const raw = split(rawPath);
    const wanted = method === "HEAD" ? "GET" : method;
    const allow = new Set<string>();
    let malformed = false;
    for (const route of routes) {
      const params = matchPath(route, raw);
      if (params === "malformed") malformed = true;
      if (params === null || params === "malformed") continue;
      if (route.endpoint.method === wanted) return { kind: "match", endpoint: route.endpoint, index: route.index, params };
      allow.add(route.endpoint.method);
    }
    if (allow.size === 0) return malformed ? { kind: "malformed" } : { kind: "none" };
    if (allow.has("GET")) allow.add("HEAD");
    return { kind: "method", allow: [...allow].sort() };
  }

  /** Every endpoint of a class served at a path, whatever its method (for CORS preflights). */
  at(family: EndpointFamily, rawPath: string): RoutableEndpoint[] {
    const raw = split(rawPath);
    return (this.#byClass.get(family) ?? [])
      .filter((route) => {
        const params = matchPath(route, raw);
        return params !== null && params !== "malformed";
      })
      .map((route) => route.endpoint);
  }
}

/** The route's params when `raw` matches it, null when not, "malformed" when a parameter is not valid percent-encoding. */
function matchPath(route: CompiledRoute, raw: string[]): Record<string, string> | null | "malformed" {
  if (route.segments.length !== raw.length) return null;
  const params = new Map<string, string>();
  for (let i = 0; i < raw.length; i++) {
    const segment = route.segments[i]!;
    const given = raw[i]!;
    if (typeof segment === "string") {
      if (segment !== given.toLowerCase()) return null;
      continue;
    }
    if (given === "") return null;
    const value = decodeSegment(given);
    if (value === null) return "malformed";
    params.set(segment.param, value);
  }
  return Object.fromEntries(params);
}

/** Segments of a path; "" and "/" have none, and one trailing slash is ignored. */
function split(path: string): string[] {
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(1, -1) : path.slice(1);
  return trimmed === "" ? [] : trimmed.split("/");
}

function decodeSegment(raw: string): string | null {
  try {
    const value = decodeURIComponent(raw);
    // A parameter is one path segment: control characters never belong in one.
    return /[\u0000-\u001f\u007f]/.test(value) ? null : value;
  } catch {
    return null;
  }
}

function bySpecificity(a: CompiledRoute, b: CompiledRoute): number {
  const length = Math.min(a.segments.length, b.segments.length);
  for (let i = 0; i < length; i++) {
    const aLiteral = typeof a.segments[i] === "string";
    const bLiteral = typeof b.segments[i] === "string";
    if (aLiteral !== bLiteral) return aLiteral ? -1 : 1;
  }
  return b.literals - a.literals;
}
