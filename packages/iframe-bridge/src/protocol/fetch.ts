import * as z from "zod/mini";

/**
 * `api.fetch` is a narrow fetch: the host performs it with the user's session
 * against the extension's own API, so the frame never holds a cookie or a
 * token. The extension chooses the method, a few content-negotiation headers
 * and the body; nothing that carries identity (cookie, authorization) or
 * steers routing (host, x-forwarded-*) can be set from the frame, and only a
 * short list of response headers comes back (never set-cookie).
 */
export type BridgeFetchMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface BridgeFetchInit {
  method?: BridgeFetchMethod;
  headers?: Record<string, string>;
  body?: string | ArrayBuffer | Uint8Array | null;
  /** "text" (default) returns the body as a string; "arrayBuffer" as bytes. */
  responseType?: "text" | "arrayBuffer";
}

export interface BridgeResponse {
  status: number;
  statusText: string;
  /** Allowlisted response headers, lower-case names. */
  headers: Record<string, string>;
  body: string | ArrayBuffer;
}

export const REQUEST_HEADER_ALLOWLIST: readonly string[] = Object.freeze([
  "accept",
  "accept-language",
  "content-language",
  "content-type",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-unmodified-since",
  "x-request-id",
]);

export const RESPONSE_HEADER_ALLOWLIST: readonly string[] = Object.freeze([
  "cache-control",
  "content-language",
  "content-length",
  "content-type",
  "etag",
  "expires",
  "last-modified",
  "retry-after",
  "x-request-id",
]);

/** 10 MiB: a request body the host is willing to forward. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

const REQUEST_HEADERS: ReadonlySet<string> = new Set(REQUEST_HEADER_ALLOWLIST);

const headerName = z.string().check(
  z.refine((name) => REQUEST_HEADERS.has(name.toLowerCase()), {
    error: (issue) =>
      `header ${JSON.stringify(String(issue.input).slice(0, 64))} cannot be set from an extension; allowed: ${REQUEST_HEADER_ALLOWLIST.join(", ")}`,
  }),
);

const headerValue = z.string().check(
  z.maxLength(1024, "header values are at most 1024 characters"),
  z.refine((value) => !/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value), "header values must not contain CR, LF or other control characters"),
);

export const fetchInitSchema = z.strictObject({
  method: z.optional(z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], "method must be GET, HEAD, POST, PUT, PATCH or DELETE")),
  headers: z.optional(
    z.record(headerName, headerValue).check(z.refine((headers) => Object.keys(headers).length <= 16, "at most 16 headers")),
  ),
  body: z.optional(z.nullable(z.union([z.string(), z.instanceof(ArrayBuffer), z.instanceof(Uint8Array)], "body must be a string, an ArrayBuffer, a Uint8Array or null"))),
  responseType: z.optional(z.enum(["text", "arrayBuffer"], 'responseType must be "text" or "arrayBuffer"')),
});

/**
 * True when the body's UTF-8 size exceeds `max`, encoding only when the length alone cannot tell. A
 * Uint8Array is measured by the buffer under it: a message copies the whole buffer, so a 16-byte view of
 * 256 MiB would otherwise pass a 10 MiB limit and hold 256 MiB of the host page for the call's duration.
 */
export function bodyExceeds(body: string | ArrayBuffer | Uint8Array, max: number): boolean {
  if (body instanceof Uint8Array) return body.buffer.byteLength > max;
  if (typeof body !== "string") return body.byteLength > max;
  if (body.length > max) return true;
  if (body.length * 3 <= max) return false;
  return new TextEncoder().encode(body).byteLength > max;
}
