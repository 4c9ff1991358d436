/** What `collect` accepts, checked field by field: the body comes from anyone on the internet. */
export interface PageView {
  path: string;
  referrer: string | null;
  session: string;
}

export class PageViewError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = "PageViewError";
  }
}

const MAX_PATH = 300;
const SESSION = /^[0-9a-f]{16,64}$/;
// A host name (and port): letters, digits, dots, hyphens; IPv6 in brackets.
const HOST = /^(?:[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*|\[[0-9a-f:.]{2,45}\])(?::\d{1,5})?$/;

/** Crawlers and previewers, by the words their user agents carry. */
export const BOT = /bot|crawl|spider|slurp|headless|lighthouse|preview|facebookexternalhit|monitor|curl|wget|python-requests/i;

/** Reads a page view from the body sendBeacon (text) or fetch (JSON) sent. */
export function readPageView(body: unknown): PageView {
  let value = body;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      throw new PageViewError("body", "the body must be JSON: { path, referrer, session }");
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new PageViewError("body", "the body must be a JSON object: { path, referrer, session }");
  const { path, referrer, session } = value as Record<string, unknown>;
  if (typeof path !== "string" || !path.startsWith("/") || path.length > MAX_PATH) {
    throw new PageViewError("path", `path must be a string starting with "/", at most ${MAX_PATH} characters`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f?#]/.test(path)) throw new PageViewError("path", "path must be a path only: no control characters, query or fragment");
  if (referrer !== null && referrer !== undefined && (typeof referrer !== "string" || !HOST.test(referrer.toLowerCase()) || referrer.length > 260)) {
    throw new PageViewError("referrer", "referrer must be null or a host name (e.g. news.example.com)");
  }
  if (typeof session !== "string" || !SESSION.test(session)) throw new PageViewError("session", "session must be 16 to 64 lowercase hex digits");
  return { path, referrer: typeof referrer === "string" ? referrer.toLowerCase() : null, session };
}
