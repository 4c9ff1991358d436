/**
 * What the browser loads an answer as (`Sec-Fetch-Dest`) when that would run
 * it as code or style of the page that asked.
 */
const CODE_DESTINATIONS: ReadonlySet<string> = new Set(["script", "style", "worker", "sharedworker", "serviceworker", "audioworklet", "paintworklet", "xslt"]);

/**
 * Whether a request is one of the host's own pages loading extension content
 * as code: a script, a stylesheet, a worker (Fetch Metadata: `Sec-Fetch-Dest`
 * one of those, `Sec-Fetch-Site` same-origin or same-site).
 *
 * Extension answers and UI files are served from the host's origin, so a
 * host page's `script-src 'self'` (the usual CSP) lets them run as the
 * signed-in user: any HTML injection in the host's pages would become script
 * execution with code any tenant's extension serves, and a page that
 * includes an extension's script runs whatever its next release sends, with
 * no consent. Extension UIs load their files from sandboxed frames, whose
 * opaque origin makes their requests `cross-site`; other sites embedding a
 * public endpoint are `cross-site` too. Browsers without Fetch Metadata send
 * neither header and are not refused: this is a second line behind the
 * host's CSP, not a replacement for it.
 *
 * Returns the refusal's reason, or null.
 */
export function hostPageLoad(request: Request): string | null {
  const destination = request.headers.get("sec-fetch-dest");
  if (destination === null || !CODE_DESTINATIONS.has(destination)) return null;
  const site = request.headers.get("sec-fetch-site");
  if (site !== "same-origin" && site !== "same-site") return null;
  return `Sec-Fetch-Dest: ${destination} from a ${site} page`;
}

const FETCH_METADATA_VARY = "Sec-Fetch-Dest, Sec-Fetch-Site";

/**
 * Adds the Fetch Metadata headers to an answer's `Vary`. Without it, a UI
 * file (cached a year, immutable) or a cacheable public answer that a host
 * page first loaded as an image or with fetch() (allowed) would come from the
 * browser's cache when the page then loads it as a script or stylesheet, and
 * the gateway would never see the request it refuses.
 */
export function varyOnFetchMetadata(headers: Headers): void {
  const vary = headers.get("vary");
  if (vary === null || vary.trim() === "") headers.set("vary", FETCH_METADATA_VARY);
  else if (vary.trim() !== "*") headers.set("vary", `${vary}, ${FETCH_METADATA_VARY}`);
}
