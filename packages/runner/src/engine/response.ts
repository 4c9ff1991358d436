import type { ExecuteError, SandboxResponse } from "../envelope.js";

const RESPONSE_KEYS = new Set(["status", "headers", "body"]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * The most headers a response may carry. Checked where the handler ran: 300,000 empty headers fit in the body
 * limit and cost the host's thread ~200 ms a response to walk. (Their bytes are the gateway's to bound: a few
 * long headers cost it nothing to refuse, and it answers them as the clients' limit, E_BAD_RESPONSE_HEADER.)
 */
export const MAX_RESPONSE_HEADERS = 100;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/**
 * A handler returns either a response object — a plain object whose keys are
 * only `status`, `headers` and `body`, with `status` (if present) a number —
 * or any other JSON-like value, sent as the body of a 200. So
 * `{ status: 201, body: {...} }` is a response while `{ status: "ok" }` is a
 * body, and a response whose status is no integer from 100 to 599 is an error
 * (a typo in a status is not sent as a 200).
 */
export function normaliseResponse(value: unknown): { ok: true; response: SandboxResponse } | { ok: false; error: ExecuteError } {
  if (isRecord(value)) {
    const keys = Object.keys(value);
    const status = value["status"];
    const looksLikeResponse =
      keys.length > 0 &&
      keys.every((key) => RESPONSE_KEYS.has(key)) &&
      (status === undefined || typeof status === "number") &&
      ("status" in value || "body" in value || "headers" in value);
    if (looksLikeResponse) {
      if (status !== undefined && !(Number.isInteger(status) && (status as number) >= 100 && (status as number) <= 599)) {
        return invalid(`response.status must be an integer from 100 to 599, got ${String(status)}`);
      }
      const headers: Record<string, string> = {};
      const rawHeaders = value["headers"] ?? {};
      if (!isRecord(rawHeaders)) return invalid("response.headers must be an object of header names to string values");
      const names = Object.keys(rawHeaders);
      if (names.length > MAX_RESPONSE_HEADERS) return invalid(`response.headers has ${names.length} headers; at most ${MAX_RESPONSE_HEADERS}`);
      for (const [name, header] of Object.entries(rawHeaders)) {
        if (!HEADER_NAME.test(name)) return invalid(`response.headers: ${JSON.stringify(name.slice(0, 64))} is not a valid header name`);
        if (typeof header !== "string" && typeof header !== "number" && typeof header !== "boolean") {
          return invalid(`response.headers[${JSON.stringify(name)}] must be a string`);
        }
        const text = String(header);
        if (/[\r\n\0]/.test(text)) return invalid(`response.headers[${JSON.stringify(name)}] contains a line break`);
        headers[name.toLowerCase()] = text;
      }
      return { ok: true, response: { status: (status as number | undefined) ?? 200, headers, body: value["body"] ?? null } };
    }
  }
  return { ok: true, response: { status: 200, headers: {}, body: value ?? null } };
}

function invalid(message: string): { ok: false; error: ExecuteError } {
  return { ok: false, error: { code: "E_HANDLER_ERROR", message: `the handler returned an invalid response: ${message}` } };
}
