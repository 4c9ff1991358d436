import { RawAnswer, toResponse } from "./answer.js";

/**
 * Every answer the gateway decides itself (as opposed to one an extension
 * returned) is an RFC 9457 problem document with a stable `code`. Callers and
 * the embedding app branch on `code`; `detail` is for people.
 */

export type GatewayProblemCode =
  | "E_NOT_FOUND"
  | "E_METHOD_NOT_ALLOWED"
  | "E_BAD_REQUEST"
  | "E_JSON_TOO_DEEP"
  | "E_UNAUTHENTICATED"
  | "E_FORBIDDEN"
  | "E_TENANT_MISMATCH"
  | "E_CROSS_SITE"
  | "E_HOST_PAGE_LOAD"
  | "E_PAYLOAD_TOO_LARGE"
  | "E_RATE_LIMITED"
  | "E_WEBHOOK_SIGNATURE"
  | "E_WEBHOOK_TIMESTAMP"
  | "E_WEBHOOK_REPLAYED"
  | "E_CORS_ORIGIN"
  | "E_TIMEOUT"
  | "E_RUNNER_UNAVAILABLE"
  | "E_SANDBOX_CRASHED"
  | "E_MEMORY"
  | "E_STACK"
  | "E_BAD_RESPONSE"
  | "E_BAD_RESPONSE_HEADER"
  | "E_HANDLER_ERROR"
  | "E_HANDLER_NOT_FOUND"
  | "E_HOST_CALL_LIMIT"
  | "E_CAPABILITY_DENIED"
  | "E_EGRESS_DENIED"
  | "E_BUNDLE_REJECTED"
  | "E_BUNDLE_INVALID"
  | "E_AUDIT_UNAVAILABLE"
  | "E_STORE_UNAVAILABLE"
  | "E_REGISTRY_UNAVAILABLE"
  | "E_BUNDLE_LOADS_BUSY"
  | "E_HOST_CLOSED"
  | "E_INTERNAL";

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

export interface Problem {
  status: number;
  code: GatewayProblemCode;
  detail: string;
  /** Extra response headers (Allow, Retry-After …). */
  headers?: Record<string, string> | undefined;
  /** Extra members of the problem document (never secrets, never stacks for anonymous callers). */
  extra?: Record<string, unknown> | undefined;
}

/**
 * Thrown inside the gateway's pipeline to stop it with an answer; caught in
 * one place, audited and turned into a response.
 */
export class GatewayProblem extends Error {
  readonly problem: Problem;
  /** Why, for the audit log only (may say more than the caller is told). */
  readonly reason: string | undefined;

  constructor(problem: Problem, reason?: string) {
    super(problem.detail);
    this.name = "GatewayProblem";
    this.problem = problem;
    this.reason = reason;
  }
}

export function problem(status: number, code: GatewayProblemCode, detail: string, options: { headers?: Record<string, string>; extra?: Record<string, unknown>; reason?: string } = {}): GatewayProblem {
  return new GatewayProblem({ status, code, detail, headers: options.headers, extra: options.extra }, options.reason);
}

/** Headers every gateway-made response carries: it is data, never a document of the host's origin. */
export const BASE_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
  "cache-control": "no-store",
});

export function problemResponse(p: Problem, requestId?: string): Response {
  return toResponse(problemAnswer(p, requestId));
}

export function problemAnswer(p: Problem, requestId?: string): RawAnswer {
  const body = {
    type: `urn:annex:problem:${p.code}`,
    title: TITLES[p.status] ?? "Error",
    status: p.status,
    code: p.code,
    detail: p.detail,
    ...(requestId === undefined ? {} : { requestId }),
    ...p.extra,
  };
  const text = JSON.stringify(body);
  const headers = new Headers(BASE_SECURITY_HEADERS);
  headers.set("content-type", "application/problem+json");
  headers.set("content-length", String(Buffer.byteLength(text, "utf8")));
  for (const [name, value] of Object.entries(p.headers ?? {})) headers.set(name, value);
  return new RawAnswer(p.status, headers, text);
}
