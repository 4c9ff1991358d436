/** `sha256:` and 64 lowercase hex digits, as in bundle content hashes. */
export const CONTENT_HASH = /^sha256:[0-9a-f]{64}$/;

const MAX_PATH_LENGTH = 1024;

export type AssetPath = { ok: true; contentHash: string; path: string } | { ok: false; reason: string };

/**
 * The content hash and bundle path of an `/ext-ui/{id}/{hash}/{path}` request,
 * from the raw (still percent-encoded) URL parts. Anything that could name a
 * file other than the one spelled out is refused rather than normalised:
 * encoded or literal `.`/`..` segments (with path parameters too: `..;x`),
 * backslashes (raw or encoded), encoded
 * slashes, empty segments (`//`), NUL and other control characters, hidden
 * files. Bundle paths are NFC, so the result is too.
 */
export function parseAssetPath(rawHash: string, rawFile: string): AssetPath {
  const contentHash = safeDecode(rawHash);
  if (contentHash === null || !CONTENT_HASH.test(contentHash)) return { ok: false, reason: "not a content hash" };
  if (rawFile === "") return { ok: false, reason: "no file named" };
  if (rawFile.length > MAX_PATH_LENGTH) return { ok: false, reason: "path too long" };
  if (/\\|%5c/i.test(rawFile)) return { ok: false, reason: "backslash" };
  const segments: string[] = [];
  for (const raw of rawFile.split("/")) {
    if (raw === "") return { ok: false, reason: "empty segment" };
    const segment = safeDecode(raw);
    if (segment === null) return { ok: false, reason: "bad percent-encoding" };
    if (segment.includes("/") || segment.includes("\\")) return { ok: false, reason: "encoded separator" };
    if (/[\u0000-\u001f\u007f]/.test(segment)) return { ok: false, reason: "control character" };
    if (isDotSegment(segment)) return { ok: false, reason: "dot segment" };
    if (segment.startsWith(".")) return { ok: false, reason: "hidden file" };
    segments.push(segment.normalize("NFC"));
  }
  return { ok: true, contentHash, path: segments.join("/") };
}

/**
 * A decoded path segment that is `.` or `..`, or becomes one once a `;…`
 * suffix is removed: Tomcat, Spring and the proxies built on them strip such
 * path parameters before they normalise, so `..;` and `.;jsessionid=x` are
 * `..` and `.` to a proxy in front of the host, which would then send the
 * request somewhere else than the host resolved it to.
 */
export function isDotSegment(segment: string): boolean {
  const semicolon = segment.indexOf(";");
  const bare = semicolon === -1 ? segment : segment.slice(0, semicolon);
  return bare === "." || bare === "..";
}

function safeDecode(raw: string): string | null {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}
