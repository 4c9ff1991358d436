import type { HeaderPolicy } from "./headers.js";
import type { RoutableEndpoint } from "./routes.js";

/** Response headers browsers may read cross-origin, beyond the CORS-safelisted ones. */
const EXPOSED = "content-disposition, etag, last-modified, location, retry-after";

function allows(endpoint: RoutableEndpoint, origin: string): "*" | string | null {
  if (endpoint.class !== "public" || endpoint.cors === undefined) return null;
  const { origins } = endpoint.cors;
  if (origins.includes("*")) return "*";
  return origins.includes(origin.toLowerCase()) ? origin : null;
}

/**
 * CORS headers for an actual request to a public endpoint that declares
 * `cors`, when the caller's Origin is one it lists; none otherwise. Never
 * with credentials: public endpoints are anonymous.
 */
export function corsHeaders(endpoint: RoutableEndpoint, origin: string | null): Record<string, string> {
  if (endpoint.class !== "public" || endpoint.cors === undefined) return {};
  const allowed = origin === null ? null : allows(endpoint, origin);
  const vary = { vary: "origin" };
  if (allowed === null) return vary;
  return { ...vary, "access-control-allow-origin": allowed, "access-control-expose-headers": EXPOSED };
}

export type PreflightResult = { ok: true; headers: Record<string, string> } | { ok: false; reason: string };

/**
 * Answers a preflight for the public endpoints at one path: allowed when one
 * of them has the requested method and lists the Origin. Requested headers
 * are allowed only when the gateway would forward them to the sandbox.
 */
export function preflight(endpoints: RoutableEndpoint[], request: Request, headers: HeaderPolicy): PreflightResult {
  const origin = request.headers.get("origin");
  const method = request.headers.get("access-control-request-method");
  if (origin === null || method === null) return { ok: false, reason: "not a CORS preflight (Origin and Access-Control-Request-Method required)" };
  const wanted = method.toUpperCase() === "HEAD" ? "GET" : method.toUpperCase();
  const endpoint = endpoints.find((candidate) => candidate.method === wanted && allows(candidate, origin) !== null);
  if (endpoint === undefined) return { ok: false, reason: `origin ${origin.slice(0, 200)} may not call ${wanted} here` };
  const requested = (request.headers.get("access-control-request-headers") ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
  const refused = requested.filter((name) => !headers.forwards(name));
  if (refused.length > 0) return { ok: false, reason: `request headers not forwarded to extensions: ${refused.join(", ").slice(0, 200)}` };
  return {
    ok: true,
    headers: {
      vary: "origin, access-control-request-method, access-control-request-headers",
      "access-control-allow-origin": allows(endpoint, origin)!,
      "access-control-allow-methods": method.toUpperCase() === "HEAD" ? "GET, HEAD" : wanted,
      ...(requested.length === 0 ? {} : { "access-control-allow-headers": requested.join(", ") }),
      "access-control-max-age": "600",
    },
  };
}
