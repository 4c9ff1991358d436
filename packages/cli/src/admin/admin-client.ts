import { AnnexError } from "@annex/manifest";
import { CliError } from "../errors.js";
import type { AdminConnection } from "./connection.js";

/**
 * An error the host's admin API answered with its own typed code
 * (E_GRANTS_MISSING, E_INSTALL_EXISTS, E_ILLEGAL_TRANSITION …), passed on
 * unchanged with the HTTP status and the host's details.
 */
export class HostApiError extends AnnexError {
  constructor(
    code: string,
    message: string,
    readonly status: number,
    details?: Record<string, unknown>,
  ) {
    super(code, message, { ...details, status });
  }
}

/** Longest an admin call may take; a host that does not answer by then is reported unreachable. */
export const ADMIN_CALL_TIMEOUT_MS = 30_000;

interface ErrorBody {
  code?: unknown;
  message?: unknown;
  details?: unknown;
  issues?: unknown;
}

/**
 * Calls `/admin/api{path}` of the host as the token's admin and resolves to
 * the JSON answer, or throws a typed error saying what to do: the host cannot
 * be reached (E_HOST_UNREACHABLE), refuses the token (E_HOST_UNAUTHENTICATED,
 * E_HOST_FORBIDDEN), has no admin API there (E_HOST_NOT_FOUND), answers
 * something else than JSON (E_HOST_RESPONSE), or refuses the call with its
 * own code (HostApiError).
 */
export async function adminCall<T>(connection: AdminConnection, method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: unknown, options: { timeoutMs?: number; raw?: Uint8Array; contentType?: string; headers?: Record<string, string> } = {}): Promise<T> {
  const url = `${connection.host}/admin/api${path}`;
  const headers: Record<string, string> = { ...options.headers, accept: "application/json", authorization: `Bearer ${connection.token}` };
  let payload: BodyInit | undefined;
  if (options.raw !== undefined) {
    headers["content-type"] = options.contentType ?? "application/octet-stream";
    payload = options.raw as Uint8Array<ArrayBuffer>;
  } else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response: Response;
  try {
    // No redirects: the token is for this host only, and an admin API does not move.
    response = await fetch(url, { method, headers, body: payload, redirect: "manual", signal: AbortSignal.timeout(options.timeoutMs ?? ADMIN_CALL_TIMEOUT_MS) });
  } catch (error) {
    throw unreachable(connection.host, error);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text === "" ? null : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.ok && json !== undefined) return json as T;

  const answer = (typeof json === "object" && json !== null ? json : {}) as ErrorBody;
  const code = typeof answer.code === "string" ? answer.code : undefined;
  const message = typeof answer.message === "string" ? answer.message : undefined;
  if (response.status === 401) {
    throw new CliError("E_HOST_UNAUTHENTICATED", `${connection.host} refused the token (401${code ? ` ${code}` : ""}): it is unknown, mistyped, expired or was deleted.`, { status: 401 });
  }
  if (response.status === 403 && (code === undefined || code === "E_FORBIDDEN" || code === "E_CSRF")) {
    throw new CliError("E_HOST_FORBIDDEN", `${connection.host} refused the call (403${code ? ` ${code}` : ""}): the token's user is not an administrator of its tenant.`, { status: 403 });
  }
  if (response.status === 404 && (code === undefined || code === "E_NOT_FOUND")) {
    throw new CliError("E_HOST_NOT_FOUND", `${url} does not exist (404): --host is not an Annex host with the admin API at /admin/api, or that host is older than this annex.`, { status: 404, url });
  }
  if (code !== undefined && message !== undefined) {
    const details = typeof answer.details === "object" && answer.details !== null ? (answer.details as Record<string, unknown>) : {};
    throw new HostApiError(code, message, response.status, Array.isArray(answer.issues) ? { ...details, issues: answer.issues } : details);
  }
  if (response.status >= 300 && response.status < 400) {
    throw new CliError("E_HOST_RESPONSE", `${url} redirected (${response.status} to ${response.headers.get("location") ?? "nowhere"}): pass the host's final address as --host (https:// when it redirects there).`, { status: response.status });
  }
  throw new CliError("E_HOST_RESPONSE", `${url} answered ${response.status} ${response.ok ? "with something that is not JSON" : "without a typed error"}: is --host the address of an Annex host's app?`, { status: response.status });
}

function unreachable(host: string, error: unknown): CliError {
  const name = (error as { name?: string }).name;
  if (name === "TimeoutError" || name === "AbortError") {
    return new CliError("E_HOST_UNREACHABLE", `${host} did not answer within ${ADMIN_CALL_TIMEOUT_MS / 1000} s.`, { host }, { cause: error });
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason =
    cause?.code === "ECONNREFUSED"
      ? "connection refused (nothing listens there)"
      : cause?.code === "ENOTFOUND" || cause?.code === "EAI_AGAIN"
        ? "no such host name"
        : cause?.code === "ECONNRESET"
          ? "the connection was reset"
          : (cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error)));
  return new CliError("E_HOST_UNREACHABLE", `could not reach ${host}: ${reason}.`, { host, reason }, { cause: error });
}
