import { BuildError } from "../errors.js";

/**
 * Where a URL written in a page points once the page is served. Pages are
 * served from `/ext-ui/{id}/{hash}/<bundle path>`; resolving against a base of
 * that shape with the WHATWG URL parser (the browser's own rules: `\` as `/`,
 * `%2e%2e` as `..`, tabs and newlines dropped) tells exactly which bundle file
 * the browser would ask for, or that it leaves the bundle.
 */
export type Reference =
  /** Nothing to load: empty, or a fragment of the page itself. */
  | { kind: "none" }
  /** Another origin or scheme (https:, data:, mailto: …). */
  | { kind: "remote"; url: string }
  /** A file of the bundle, by bundle path (decoded, no query or fragment). */
  | { kind: "local"; path: string };

const SERVED_PREFIX = "/ext-ui/extension/hash/";
const SERVED_ORIGIN = "https://bundle.invalid";

export interface ReferenceSite {
  /** The page's bundle path, e.g. "ui/index.html". */
  page: string;
  /** `line:col` in the page, for messages. */
  at: string;
  /** What holds the URL, e.g. `<script src>`. */
  what: string;
}

/**
 * Resolves one URL of a page. Refuses (E_UI_REFERENCE) a path through
 * node_modules, a path that leaves `root` (the manifest's ui.root, including
 * root-relative paths, which would reach the host application), and a path
 * the bundle cannot hold; refuses (E_UI_INLINE) a `javascript:` URL, which
 * the frame's Content-Security-Policy blocks.
 */
export function resolveReference(raw: string, root: string, site: ReferenceSite): Reference {
  const ref = raw.trim();
  if (ref === "" || ref.startsWith("#")) return { kind: "none" };
  const base = new URL(`${SERVED_PREFIX}${site.page}`, SERVED_ORIGIN);
  let url: URL;
  try {
    url = new URL(ref, base);
  } catch {
    throw refusal("E_UI_REFERENCE", site, ref, "is not a valid URL: fix it");
  }
  if (url.protocol === "javascript:") {
    throw refusal("E_UI_INLINE", site, ref, "is a javascript: URL, which the frame's Content-Security-Policy blocks: attach a listener from a module script instead");
  }
  if (url.origin !== base.origin) return { kind: "remote", url: ref };

  const segments = url.pathname.split("/").map((segment) => safeDecode(segment, site, ref));
  if (segments.includes("node_modules")) {
    throw refusal(
      "E_UI_REFERENCE",
      site,
      ref,
      "points into node_modules, which is never packed: import the package from a module script or a stylesheet (@import \"@annex/ui-kit/base.css\"), and the build bundles it",
    );
  }
  const prefix = `${SERVED_PREFIX}${root}/`;
  if (!url.pathname.startsWith(prefix)) {
    const rootRelative = /^[/\\]/.test(ref) && !/^[/\\]{2}/.test(ref);
    throw refusal(
      "E_UI_REFERENCE",
      site,
      ref,
      rootRelative
        ? `is relative to the host's root, not to the bundle: use a path relative to the page, inside ui.root ("${root}/")`
        : `leaves ui.root ("${root}/"), and a page loads only files of its bundle under ui.root: move the file under ${root}/ and refer to it relative to the page`,
    );
  }
  // Decoded, "%2F" becomes a separator: check the path the server would look up, not the one the parser saw.
  const path = segments.slice(1).join("/").slice(SERVED_PREFIX.length - 1);
  if (path.split("/").some((segment) => segment === "" || segment === "." || segment === "..") || /[\\\u0000-\u001f\u007f]/.test(path)) {
    throw refusal("E_UI_REFERENCE", site, ref, "is not a plain path to a file of the bundle (empty, \".\" or \"..\" segments after decoding, backslashes or control characters): write the file's path relative to the page");
  }
  return { kind: "local", path };
}

function safeDecode(segment: string, site: ReferenceSite, ref: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw refusal("E_UI_REFERENCE", site, ref, "has a malformed %-escape: fix the URL");
  }
}

function refusal(code: "E_UI_REFERENCE" | "E_UI_INLINE", site: ReferenceSite, ref: string, why: string): BuildError {
  const shown = ref.length > 120 ? `${ref.slice(0, 117)}…` : ref;
  return new BuildError(code, `${site.page}:${site.at}: ${site.what} ${JSON.stringify(shown)} ${why}.`, { page: site.page, reference: ref });
}

/** The URLs of a `srcset` attribute (the HTML spec's candidate parsing, without the descriptors). */
export function srcsetUrls(value: string): string[] {
  const urls: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (i < value.length && /[\s,]/.test(value[i]!)) i++;
    const start = i;
    while (i < value.length && !/\s/.test(value[i]!)) i++;
    let url = value.slice(start, i);
    if (url === "") break;
    if (url.endsWith(",")) {
      url = url.replace(/,+$/, "");
    } else {
      let depth = 0;
      while (i < value.length && (value[i] !== "," || depth > 0)) {
        if (value[i] === "(") depth++;
        else if (value[i] === ")") depth = Math.max(0, depth - 1);
        i++;
      }
    }
    if (url !== "") urls.push(url);
  }
  return urls;
}

/** The path from the page's folder to a bundle path, as written in the page's HTML ("main.js", "../main.js"). */
export function relativeUrl(page: string, target: string): string {
  const from = page.split("/").slice(0, -1);
  const to = target.split("/");
  let common = 0;
  while (common < from.length && common < to.length - 1 && from[common] === to[common]) common++;
  const up = from.slice(common).map(() => "..");
  return [...up, ...to.slice(common)].map((segment) => (segment === ".." ? segment : encodeURIComponent(segment).replace(/%40/g, "@"))).join("/");
}
