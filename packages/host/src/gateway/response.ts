import { serializedBody, type ExecuteError, type SandboxResponse } from "@annex/runner";
import { RawAnswer } from "./answer.js";
import type { HeaderPolicy } from "./headers.js";
import { BASE_SECURITY_HEADERS, problem, type GatewayProblem, type GatewayProblemCode } from "./problem.js";


/** Status and public code of each runner failure. */
const FAILURES: Record<string, { status: number; code: GatewayProblemCode; detail: string }> = {
  E_TIMEOUT: { status: 504, code: "E_TIMEOUT", detail: "the extension did not answer in time" },
  E_RUNNER_UNAVAILABLE: { status: 503, code: "E_RUNNER_UNAVAILABLE", detail: "extensions cannot run right now; retry later" },
  E_BUNDLE_NOT_LOADED: { status: 503, code: "E_RUNNER_UNAVAILABLE", detail: "extensions cannot run right now; retry later" },
  E_SANDBOX_CRASHED: { status: 502, code: "E_SANDBOX_CRASHED", detail: "the extension's sandbox crashed" },
  E_MEMORY: { status: 502, code: "E_MEMORY", detail: "the extension ran out of memory" },
  E_STACK: { status: 502, code: "E_STACK", detail: "the extension overflowed its stack" },
  E_PAYLOAD_TOO_LARGE: { status: 502, code: "E_BAD_RESPONSE", detail: "the extension's response or a host call result exceeded its size limit" },
  E_HOST_CALL_LIMIT: { status: 500, code: "E_HOST_CALL_LIMIT", detail: "the extension made too many host calls" },
  E_CAPABILITY_DENIED: { status: 500, code: "E_CAPABILITY_DENIED", detail: "the extension used a capability it was not granted" },
  E_EGRESS_DENIED: { status: 500, code: "E_EGRESS_DENIED", detail: "the extension called a host it may not reach" },
  E_HANDLER_NOT_FOUND: { status: 500, code: "E_HANDLER_NOT_FOUND", detail: "the extension does not export this endpoint's handler" },
  E_HANDLER_ERROR: { status: 500, code: "E_HANDLER_ERROR", detail: "the extension failed while handling the request" },
  E_BUNDLE_INVALID: { status: 502, code: "E_BUNDLE_INVALID", detail: "the extension's server code cannot be loaded; its publisher must fix it and publish a new version" },
};

/** Failures of the machinery rather than of the extension: their messages describe the host's own setup. */
const INFRASTRUCTURE: ReadonlySet<string> = new Set(["E_RUNNER_UNAVAILABLE", "E_BUNDLE_NOT_LOADED", "E_SANDBOX_CRASHED"]);

/**
 * A failed execution as a problem. Anonymous callers learn the code and a
 * fixed sentence; authenticated callers also get the runner's message when
 * it is about the extension (not for the runner's own failures); the
 * guest's stack only when the host opted in (`exposeErrors`, for
 * development), and never to anonymous callers.
 */
export function failureProblem(error: ExecuteError, options: { authenticated: boolean; exposeErrors: boolean }): GatewayProblem {
  // The runner sizes the whole serialised request (headers, query, body); it says so with details.size.
  const requestTooLarge = error.code === "E_PAYLOAD_TOO_LARGE" && typeof error.details?.["size"] === "number";
  const known = requestTooLarge
    ? { status: 413, code: "E_PAYLOAD_TOO_LARGE" as const, detail: "the request is larger than this extension accepts; send less" }
    : (FAILURES[error.code] ?? { status: 500, code: "E_INTERNAL" as const, detail: "the gateway could not run the extension" });
  // What the extension did is its caller's business; how the host runs it is not: a runner's message names its
  // address and network errors ("the runner at http://10.0.0.7:8787 is unreachable"), for the audit line only.
  const aboutTheGuest = known.code !== "E_INTERNAL" && !INFRASTRUCTURE.has(error.code);
  const detail = options.authenticated && aboutTheGuest ? `${known.detail}: ${error.message.slice(0, 1000)}` : known.detail;
  const extra: Record<string, unknown> = {};
  if (options.exposeErrors && options.authenticated && error.stack !== undefined) extra["stack"] = error.stack.slice(0, 8000);
  return problem(known.status, known.code, detail, {
    extra,
    ...(known.status === 503 ? { headers: { "retry-after": "1" } } : {}),
    reason: `${error.code}: ${error.message.slice(0, 500)}`,
  });
}

/**
 * What a sandbox returned, as an answer: status kept (1xx refused), headers
 * through the response allowlist, the body serialised by type. Security
 * headers of the gateway always win; caching is the gateway's (`no-store`)
 * except on `public` endpoints (`cacheable`).
 */
export function sandboxResponse(
  result: SandboxResponse,
  headers: HeaderPolicy,
  options: { head: boolean; requestUrl: URL; cacheable: boolean; method?: string; ownPaths?: readonly string[]; extraHeaders?: Record<string, string> },
): RawAnswer {
  if (!Number.isInteger(result.status) || result.status < 200 || result.status > 599) {
    throw problem(502, "E_BAD_RESPONSE", "the extension answered with a status the gateway does not forward", { reason: `status ${String(result.status)}` });
  }
  const out = new Headers(
    headers.fromSandbox(result.headers ?? {}, {
      requestUrl: options.requestUrl,
      cacheable: options.cacheable,
      status: result.status,
      method: options.method,
      ownPaths: options.ownPaths,
    }),
  );
  let body: Uint8Array | string | null;
  // Serialised already where it ran (a pool worker), off this thread: written as it is, never parsed here.
  const text = serializedBody(result);
  const value = text === undefined ? result.body : undefined;
  if (text !== undefined) {
    body = text;
    if (!out.has("content-type")) out.set("content-type", "application/json");
  } else if (value === null || value === undefined) body = null;
  else if (value instanceof Uint8Array) {
    body = value;
    if (!out.has("content-type")) out.set("content-type", "application/octet-stream");
  } else if (typeof value === "string") {
    body = value;
    if (!out.has("content-type")) out.set("content-type", "text/plain; charset=utf-8");
  } else {
    body = serialise(value);
    if (!out.has("content-type")) out.set("content-type", "application/json");
  }
  for (const [name, value] of Object.entries(BASE_SECURITY_HEADERS)) {
    if (name === "cache-control" && options.cacheable && out.has("cache-control")) continue;
    out.set(name, value);
  }
  for (const [name, value] of Object.entries(options.extraHeaders ?? {})) {
    // Vary lists add up: the extension's (e.g. accept-language) and the gateway's (origin) both hold.
    if (name === "vary" && out.has("vary")) out.set("vary", `${out.get("vary")}, ${value}`);
    else out.set(name, value);
  }
  const noBody = result.status === 204 || result.status === 205 || result.status === 304;
  if (noBody) body = null;
  if (body !== null) {
    out.set("content-length", String(typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.byteLength));
    return new RawAnswer(result.status, out, options.head ? null : body);
  }
  return new RawAnswer(result.status, out, null);
}

/** A JSON body; a value JSON cannot hold (too deep, a cycle) is the extension's fault. */
function serialise(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "null";
  } catch (error) {
    throw problem(502, "E_BAD_RESPONSE", "the extension answered with a body that cannot be serialised as JSON", {
      reason: `JSON.stringify: ${(error as Error).message}`.slice(0, 300),
    });
  }
}
