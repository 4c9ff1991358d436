import type { VerifiedBundle } from "@annex/manifest";
import { lookup } from "mrmime";
import { bytesResponse } from "../gateway/body-bytes.js";
import type { AssetCsp, AssetSources } from "./csp.js";

const TEXT_TYPES = /^(?:text\/|application\/(?:json|javascript|xml|manifest\+json)|image\/svg\+xml)/;

export const IMMUTABLE = "public, max-age=31536000, immutable";

export type AssetLookup = { ok: true; bytes: Uint8Array; sha256: string; contentType: string } | { ok: false; reason: string };

/**
 * A UI file of a verified bundle: only files under the manifest's `ui.root`,
 * never the server entry or its source map even when the root would cover
 * them. The bundle's index gives the file's sha256, which is its ETag.
 */
export function findAsset(bundle: VerifiedBundle, path: string): AssetLookup {
  const { manifest } = bundle;
  const root = `${manifest.ui.root}/`;
  if (!path.startsWith(root)) return { ok: false, reason: `outside ui.root (${manifest.ui.root})` };
  const entry = manifest.runtime.entry;
  if (entry !== undefined && (path === entry || path === `${entry}.map`)) return { ok: false, reason: "server code" };
  const bytes = bundle.files.get(path);
  const indexed = bundle.index.files.find((file) => file.path === path);
  if (bytes === undefined || indexed === undefined) return { ok: false, reason: "no such file in the bundle" };
  const type = lookup(path) ?? "application/octet-stream";
  return { ok: true, bytes, sha256: indexed.sha256, contentType: TEXT_TYPES.test(type) ? `${type}; charset=utf-8` : type };
}

/**
 * The response for one asset. Content-addressed, so cacheable forever; the
 * ETag lets a client that lost its cache revalidate cheaply. Files are
 * readable cross-origin (`Access-Control-Allow-Origin: *`, no credentials):
 * a sandboxed frame has an opaque origin, and its module scripts are fetched
 * in CORS mode. They are public UI code, the same for every tenant.
 */
export function assetResponse(
  asset: Extract<AssetLookup, { ok: true }>,
  request: Request,
  csp: AssetCsp,
  scriptHashes: readonly string[],
  sources?: AssetSources,
): Response {
  const etag = `"${asset.sha256}"`;
  const headers = new Headers({
    etag,
    "cache-control": IMMUTABLE,
    "x-content-type-options": "nosniff",
    "content-security-policy": csp.header(scriptHashes, sources),
    "referrer-policy": "no-referrer",
    "access-control-allow-origin": "*",
  });
  // The CSP names the origin the request came to (its Host): a shared cache must keep one copy per Host, or one
  // request with a made-up Host would leave a year-long copy whose policy refuses the page's own scripts.
  if (sources !== undefined) headers.set("vary", "Host");
  if (matchesEtag(request.headers.get("if-none-match"), etag)) return new Response(null, { status: 304, headers });
  headers.set("content-type", asset.contentType);
  headers.set("content-length", String(asset.bytes.byteLength));
  return request.method === "HEAD" ? new Response(null, { status: 200, headers }) : bytesResponse(asset.bytes, { status: 200, headers });
}

/** RFC 9110 weak comparison: `*`, or any listed tag equal to ours with or without `W/`. */
function matchesEtag(header: string | null, etag: string): boolean {
  if (header === null) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}
