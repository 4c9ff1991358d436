import { BridgeError } from "./errors.js";

/**
 * One strict reader for every path an extension or a host hands the bridge
 * (a page inside a bundle, an API path, a navigation target). It accepts a
 * plain relative path with an optional query and refuses, rather than
 * normalises, anything that could be read two ways: dot segments, empty
 * segments, backslashes, percent-encoded dots, slashes, backslashes or
 * percent signs (double encoding), control characters, schemes, fragments,
 * non-ASCII text. Refusing is safer than normalising because the server,
 * a proxy in front of it and the browser may each normalise differently.
 */
export interface SafeRelativePath {
  /** The path part, e.g. "reports/daily.html"; "" only when allowEmpty is set. */
  path: string;
  /** The query including "?", or "". */
  query: string;
}

export interface SafePathOptions {
  /** Names the argument in error messages, e.g. "path" or "api.fetch path". */
  field: string;
  allowEmpty?: boolean;
  allowQuery?: boolean;
  maxLength?: number;
}

/** RFC 3986 pchar minus ":" (a first segment with ":" reads as a scheme). */
const SEGMENT = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=@]|%[0-9A-Fa-f]{2})+$/;
const QUERY = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Encoded ".", "/", "\" and "%": each turns into a traversal after one more decode somewhere. */
const DANGEROUS_ESCAPE = /%(?:2e|2f|5c|25|00)/i;

function refuse(field: string, input: string, why: string, hint: string): never {
  throw new BridgeError("E_BRIDGE_PATH", `${field} ${JSON.stringify(input.slice(0, 200))} ${why}: ${hint}`, {
    field,
    path: input.slice(0, 200),
    reason: why,
  });
}

export function parseSafeRelativePath(input: unknown, options: SafePathOptions): SafeRelativePath {
  const { field } = options;
  const hint = `use a relative path of plain segments such as "reports/daily"`;
  if (typeof input !== "string") {
    throw new BridgeError("E_BRIDGE_ARGS", `${field} must be a string, got ${input === null ? "null" : typeof input}`, { field });
  }
  const maxLength = options.maxLength ?? 2048;
  if (input.length > maxLength) refuse(field, input, `is longer than ${maxLength} characters`, "shorten it");
  if (CONTROL.test(input)) refuse(field, input, "contains a control character", hint);
  if (input.includes("\\")) refuse(field, input, "contains a backslash", `use "/" between segments`);
  if (input.includes("#")) refuse(field, input, "contains a fragment (#)", "the bridge reserves the fragment; drop it");
  if (/[^\u0000-\u007f]/.test(input)) refuse(field, input, "contains non-ASCII characters", "percent-encode them (encodeURIComponent) per segment");

  const q = input.indexOf("?");
  const path = q === -1 ? input : input.slice(0, q);
  const query = q === -1 ? "" : input.slice(q);
  if (query !== "" && !options.allowQuery) refuse(field, input, "has a query string", "drop the query");
  if (query !== "" && !QUERY.test(query.slice(1))) refuse(field, input, "has a malformed query", "percent-encode query values (encodeURIComponent)");

  if (path === "") {
    if (options.allowEmpty) return { path, query };
    refuse(field, input, "is empty", hint);
  }
  if (path.startsWith("/")) refuse(field, input, "is absolute", hint);
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(path)) refuse(field, input, "is an absolute URL", hint);

  const segments = path.split("/");
  // A single trailing slash names a directory index; "a//b" and "/" alone do not.
  if (segments.length > 1 && segments[segments.length - 1] === "") segments.pop();
  for (const segment of segments) {
    if (segment === "") refuse(field, input, "has an empty segment (//)", hint);
    if (segment === "." || segment === "..") refuse(field, input, `has a "${segment}" segment`, "paths cannot leave their scope");
    if (DANGEROUS_ESCAPE.test(segment)) refuse(field, input, "percent-encodes a dot, slash, backslash, percent sign or NUL", "send those characters unencoded, or not at all");
    if (!SEGMENT.test(segment)) refuse(field, input, `has a segment with characters outside [A-Za-z0-9-._~!$&'()*+,;=@] ("${segment.slice(0, 40)}")`, "percent-encode other characters per segment");
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      refuse(field, input, "has a percent escape that is not valid UTF-8", "encode segments with encodeURIComponent");
    }
    if (CONTROL.test(decoded)) refuse(field, input, "percent-encodes a control character", hint);
  }
  return { path, query };
}
