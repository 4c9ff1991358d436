import { isDotSegment } from "../assets/asset-path.js";
import { GatewayError } from "./errors.js";

/**
 * Where the gateway mounts its path families:
 * `{api}/{id}/…` (api endpoints), `{ext}/{id}/public/…` (public endpoints),
 * `{ext}/{id}/hooks/…` (webhooks) and `{ui}/{id}/{contentHash}/…` (UI assets).
 */
export interface GatewayPrefixes {
  /** Default "/api/ext". */
  api: string;
  /** Default "/ext". */
  ext: string;
  /** Default "/ext-ui". */
  ui: string;
}

export const DEFAULT_PREFIXES: Readonly<GatewayPrefixes> = Object.freeze({ api: "/api/ext", ext: "/ext", ui: "/ext-ui" });

const PREFIX = /^(?:\/[A-Za-z0-9._~-]+)+$/;
const EXTENSION_ID = /^[a-z][a-z0-9-]{0,63}\.[a-z][a-z0-9-]{0,63}$/;

export function resolvePrefixes(given: Partial<GatewayPrefixes> | undefined): GatewayPrefixes {
  const prefixes = { ...DEFAULT_PREFIXES, ...given };
  for (const key of ["api", "ext", "ui"] as const) {
    const value = prefixes[key];
    if (typeof value !== "string" || !PREFIX.test(value) || value.split("/").some((segment) => segment === "." || segment === "..")) {
      throw new GatewayError("E_GATEWAY_OPTIONS", `prefixes.${key} must be an absolute path without a trailing slash, e.g. "${DEFAULT_PREFIXES[key]}"`, {
        field: `prefixes.${key}`,
      });
    }
  }
  const values = [prefixes.api, prefixes.ext, prefixes.ui];
  for (const a of values) {
    for (const b of values) {
      if (a !== b && (b === a || b.startsWith(`${a}/`))) {
        throw new GatewayError("E_GATEWAY_OPTIONS", `prefixes must not nest: "${b}" is inside "${a}"; give each family its own path`, { prefixes });
      }
    }
  }
  if (new Set(values).size !== values.length) {
    throw new GatewayError("E_GATEWAY_OPTIONS", "prefixes.api, prefixes.ext and prefixes.ui must differ", { prefixes });
  }
  return prefixes;
}

export type EndpointFamily = "api" | "public" | "webhook";

export type GatewayPath =
  /** An endpoint family; `route` is the raw (still percent-encoded) path after the family's prefix, starting with "/". */
  | { kind: EndpointFamily; extensionId: string; route: string }
  /** A UI asset; `hash` is the raw segment, `file` the raw rest after it. */
  | { kind: "ui"; extensionId: string; hash: string; file: string }
  /** Under a gateway prefix but not a path any family serves. */
  | { kind: "unknown"; extensionId: string | null };

/** Which family a pathname belongs to, or null when it is not the gateway's at all. */
export function parseGatewayPath(pathname: string, prefixes: GatewayPrefixes): GatewayPath | null {
  const api = under(pathname, prefixes.api);
  if (api !== null) {
    const [id, rest] = splitFirst(api);
    return validId(id) ? { kind: "api", extensionId: id, route: rest === null ? "/" : `/${rest}` } : { kind: "unknown", extensionId: null };
  }
  const ui = under(pathname, prefixes.ui);
  if (ui !== null) {
    const [id, afterId] = splitFirst(ui);
    if (!validId(id) || afterId === null) return { kind: "unknown", extensionId: validId(id) ? id : null };
    const [hash, file] = splitFirst(afterId);
    return { kind: "ui", extensionId: id, hash, file: file ?? "" };
  }
  const ext = under(pathname, prefixes.ext);
  if (ext !== null) {
    const [id, afterId] = splitFirst(ext);
    if (!validId(id) || afterId === null) return { kind: "unknown", extensionId: validId(id) ? id : null };
    const [family, rest] = splitFirst(afterId);
    const kind = family === "public" ? "public" : family === "hooks" ? "webhook" : null;
    if (kind === null) return { kind: "unknown", extensionId: id };
    return { kind, extensionId: id, route: rest === null ? "/" : `/${rest}` };
  }
  return null;
}

/** The part of `pathname` after `prefix/`, or null when it is not under it. */
function under(pathname: string, prefix: string): string | null {
  if (pathname === prefix) return "";
  return pathname.startsWith(`${prefix}/`) ? pathname.slice(prefix.length + 1) : null;
}

function splitFirst(path: string): [string, string | null] {
  const slash = path.indexOf("/");
  return slash === -1 ? [path, null] : [path.slice(0, slash), path.slice(slash + 1)];
}

function validId(id: string): boolean {
  return EXTENSION_ID.test(id);
}

export function isExtensionId(id: string): boolean {
  return EXTENSION_ID.test(id);
}

/**
 * Whether a raw endpoint route (still percent-encoded) has a segment that is
 * `.` or `..` to a server that strips `;…` path parameters (`..;`,
 * `%2e%2e;x`, `.;jsessionid=1`). The URL parser resolves plain `..` and
 * `%2e%2e` before the gateway sees the path, but not these: a proxy in front
 * that does would route the request elsewhere than the gateway, so they are
 * refused as the asset paths refuse them. Only `%2e` and `%3b` are decoded,
 * so a segment that is not valid percent-encoding otherwise is still looked at.
 */
export function hasDotSegment(route: string): boolean {
  return route.split("/").some((raw) => isDotSegment(raw.replace(/%2e/gi, ".").replace(/%3b/gi, ";")));
}
