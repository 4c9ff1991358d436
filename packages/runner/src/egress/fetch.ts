import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { Duplex } from "node:stream";
import { HostCallError } from "../errors.js";
import { checkAddress, parseCidrList } from "./address.js";
import { hostAllowed } from "./hosts.js";
import { systemLookups, type Addresses } from "./system-lookups.js";
import { clearTimeout, setTimeout } from "node:timers";

/** Resolves a host name to every address it has. Injectable so tests can stage DNS answers (rebinding, loopback). */
export type EgressLookup = (hostname: string) => Promise<Addresses>;

/** The runner-wide egress policy, set by whoever creates the runner (`hostApis.fetch`). */
export interface EgressOptions {
  /** Address ranges allowed although not public (CIDR). Default: none. */
  allowAddresses?: string[] | undefined;
  /**
   * Default: the system resolver (`dns.lookup` with `all: true`), at most half of libuv's thread pool at once and
   * one lookup at a time per install (see system-lookups.ts). A lookup given here is called as it is.
   */
  lookup?: EgressLookup | undefined;
  /** Redirects followed, each re-checked. Default 5. */
  maxRedirects?: number | undefined;
  /** Response body cap in bytes. Default 5 MiB. */
  maxResponseBytes?: number | undefined;
  /** Request body cap in bytes. Default 1 MiB. */
  maxRequestBytes?: number | undefined;
  /** Time for the whole fetch, redirects included. Default 10 s (never more than what the execution has left). */
  timeoutMs?: number | undefined;
  /** Sent when the guest sets none. */
  userAgent?: string | undefined;
  /** Fetches one execution may have in flight at once; the others wait their turn. Default 8. */
  maxConcurrent?: number | undefined;
}

export const DEFAULT_EGRESS = Object.freeze({
  maxRedirects: 5,
  maxResponseBytes: 5 * 1024 * 1024,
  maxRequestBytes: 1024 * 1024,
  timeoutMs: 10_000,
  userAgent: "annex-extension",
  maxConcurrent: 8,
});

/** What a guest asks for (already validated for shape). */
export interface EgressRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
  /** `follow` (default), `manual` (return the 3xx as is) or `error` (fail on a redirect). */
  redirect: "follow" | "manual" | "error";
}

export interface EgressResponse {
  status: number;
  statusText: string;
  url: string;
  redirected: boolean;
  headers: Record<string, string>;
  body: Uint8Array;
  /** The body decoded as UTF-8 when the content type is textual (text/*, JSON, XML, form data). */
  text?: string | undefined;
}

const TEXTUAL = /^(text\/|application\/([\w.+-]*\+)?(json|xml|x-www-form-urlencoded|javascript)\b)/i;

function textOf(headers: Record<string, string>, body: Uint8Array): string | undefined {
  const type = headers["content-type"];
  if (type === undefined || !TEXTUAL.test(type.trim())) return undefined;
  return new TextDecoder("utf-8").decode(body);
}

const FORBIDDEN_REQUEST_HEADERS = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "upgrade",
  "keep-alive",
  "te",
  "trailer",
  "expect",
  "proxy-authorization",
  "proxy-connection",
]);
const CREDENTIAL_HEADERS = new Set(["authorization", "cookie", "proxy-authorization"]);

export function forbiddenRequestHeader(name: string): boolean {
  return FORBIDDEN_REQUEST_HEADERS.has(name.toLowerCase());
}

function denied(message: string, details?: Record<string, unknown>): HostCallError {
  return new HostCallError("E_EGRESS_DENIED", message, details);
}

/**
 * A name that resolves to no address extensions may reach. Whether it did not resolve or resolved to a refused
 * address, the guest gets the same code and text: two answers would let an extension granted `*.example.com` learn
 * which internal names exist under it (split-horizon DNS) by asking, without ever opening a connection. Which one it
 * was stays in `details.reason`, which the guest never sees (toGuestError), for the host's logs.
 */
function unreachableName(url: URL, reason: string): HostCallError {
  return denied(
    `http.fetch to ${url.host} is not allowed: the name does not resolve to an address on the public internet (it does not resolve, or it resolves to a private, loopback, link-local or reserved address, which extensions may not reach)`,
    { host: url.host, reason },
  );
}

/**
 * Checks one hop: scheme, host allowlist, then resolves the name and checks
 * every address it resolves to. Returns the address to connect to, so the
 * connection is pinned to what was checked (a second DNS answer — rebinding —
 * can never swap it).
 */
async function checkHop(
  url: URL,
  allowlists: readonly (readonly string[])[],
  lookup: (hostname: string, signal: AbortSignal) => Promise<Addresses>,
  allowed: ReturnType<typeof parseCidrList>,
  signal: AbortSignal,
): Promise<{ address: string; family: 4 | 6 }> {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw denied(`http.fetch only speaks http and https, not ${url.protocol}`, { url: url.href });
  }
  if (url.username !== "" || url.password !== "") {
    throw denied("http.fetch refuses URLs with credentials in them; send an Authorization header instead", { url: redact(url) });
  }
  if (!hostAllowed(url, ...allowlists)) {
    throw denied(
      `http.fetch to ${url.host} is not allowed: the host is not in the granted http.fetch hosts (${allowlists[0]?.join(", ") || "none"})`,
      { host: url.host },
    );
  }
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: Addresses;
  const literal = /^[\d.]+$/.test(hostname) || hostname.includes(":");
  if (literal) {
    addresses = [{ address: hostname, family: hostname.includes(":") ? 6 : 4 }];
  } else {
    try {
      // Raced with the signal: a resolver that never answers (a name server that drops queries, a custom lookup)
      // would otherwise hold the fetch past its timeout and the execution's end.
      addresses = await lookup(hostname, signal);
    } catch (error) {
      if (signal.aborted) throw fetchFailed(url, error as Error, signal);
      throw unreachableName(url, (error as { code?: string }).code ?? "EAI_FAIL");
    }
  }
  if (addresses.length === 0) throw unreachableName(url, "ENODATA");
  let first: { address: string; family: 4 | 6 } | undefined;
  for (const { address } of addresses) {
    const verdict = checkAddress(address, allowed);
    if (!verdict.ok) {
      // An address the guest wrote is its own; one a name resolved to is the network's, and naming it would let an
      // extension granted *.example.com map the internal names under it (split-horizon DNS).
      if (literal) throw denied(`http.fetch to ${url.host} is not allowed: ${verdict.reason}`, { host: url.host, address });
      throw unreachableName(url, "refused-address");
    }
    first ??= { address: verdict.address, family: verdict.family };
  }
  return first!;
}

function untilAborted<T>(work: T | Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    Promise.resolve(work).then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function redact(url: URL): string {
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  return copy.href;
}

function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as unknown as LookupFunction;
}

interface HopResult {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

function sendHop(
  url: URL,
  pin: { address: string; family: 4 | 6 },
  method: string,
  headers: Record<string, string>,
  body: Uint8Array | undefined,
  maxResponseBytes: number,
  signal: AbortSignal,
): Promise<HopResult> {
  const client = url.protocol === "https:" ? https : http;
  return new Promise<HopResult>((resolve, reject) => {
    const request = client.request(
      url,
      {
        method,
        headers: body === undefined ? headers : { ...headers, "content-length": String(body.byteLength) },
        lookup: pinnedLookup(pin.address, pin.family),
        agent: false,
        signal,
        ...(url.protocol === "https:" && !/^[\d.]+$/.test(url.hostname) && !url.hostname.startsWith("[")
          ? { servername: url.hostname }
          : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let received = 0;
        response.on("data", (chunk: Buffer) => {
          received += chunk.byteLength;
          if (received > maxResponseBytes) {
            response.destroy();
            request.destroy();
            reject(
              new HostCallError(
                "E_PAYLOAD_TOO_LARGE",
                `http.fetch response from ${url.host} is larger than ${maxResponseBytes} bytes`,
                { limit: maxResponseBytes },
              ),
            );
            return;
          }
          chunks.push(chunk);
        });
        response.on("error", (error) => reject(fetchFailed(url, error)));
        response.on("end", () => {
          const out: Record<string, string> = {};
          for (const [name, value] of Object.entries(response.headers)) {
            if (value === undefined) continue;
            out[name] = Array.isArray(value) ? value.join(", ") : value;
          }
          const merged = Buffer.concat(chunks);
          resolve({
            status: response.statusCode ?? 0,
            statusText: response.statusMessage ?? "",
            headers: out,
            body: new Uint8Array(merged.buffer, merged.byteOffset, merged.byteLength),
          });
        });
      },
    );
    request.on("error", (error) => reject(fetchFailed(url, error, signal)));
    // A 101 answer, and any answer to CONNECT, comes as an 'upgrade' or 'connect' event with the raw socket, never
    // as a response. With no listener Node destroys the socket and the request emits nothing more, so the fetch
    // would never settle, past its timeout. http.fetch speaks plain request/response only.
    const switched = (response: http.IncomingMessage, socket: Duplex) => {
      socket.destroy();
      reject(
        new HostCallError(
          "E_FETCH_FAILED",
          `http.fetch to ${url.host} got a ${response.statusCode ?? 0} answer that switches to another protocol (an upgrade or a tunnel); http.fetch speaks plain HTTP requests and responses only`,
          { host: url.host, status: response.statusCode ?? 0 },
        ),
      );
    };
    request.on("upgrade", switched);
    request.on("connect", switched);
    if (body !== undefined) request.end(body);
    else request.end();
  });
}

function fetchFailed(url: URL, error: Error, signal?: AbortSignal): HostCallError {
  if (signal?.aborted) {
    const reason = signal.reason as { code?: string } | undefined;
    if (reason?.code === "E_TIMEOUT") return new HostCallError("E_TIMEOUT", `http.fetch to ${url.host} timed out`);
    return new HostCallError("E_FETCH_FAILED", `http.fetch to ${url.host} was cancelled`);
  }
  return new HostCallError("E_FETCH_FAILED", `http.fetch to ${url.host} failed: ${(error as { code?: string }).code ?? error.message}`, {
    host: url.host,
  });
}

/**
 * Performs one guest `http.fetch` under the egress policy. Every hop (the
 * first request and each redirect) is checked against the allowlists, resolved,
 * checked address by address and connected to the checked address.
 */
export async function egressFetch(
  request: EgressRequest,
  allowlists: readonly (readonly string[])[],
  options: EgressOptions | undefined,
  signal: AbortSignal,
  /** Whose fetch this is (an install): the system resolver's share is counted by it. */
  requester = "",
): Promise<EgressResponse> {
  const maxRedirects = options?.maxRedirects ?? DEFAULT_EGRESS.maxRedirects;
  const maxResponseBytes = options?.maxResponseBytes ?? DEFAULT_EGRESS.maxResponseBytes;
  const maxRequestBytes = options?.maxRequestBytes ?? DEFAULT_EGRESS.maxRequestBytes;
  const timeoutMs = options?.timeoutMs ?? DEFAULT_EGRESS.timeoutMs;
  const given = options?.lookup;
  const lookup =
    given === undefined
      ? (hostname: string, hopSignal: AbortSignal) => systemLookups.lookup(hostname, requester, hopSignal)
      : (hostname: string, hopSignal: AbortSignal) => untilAborted(given(hostname), hopSignal);
  const allowed = parseCidrList(options?.allowAddresses, "hostApis.fetch.allowAddresses");

  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    throw new HostCallError("E_INVALID_ARGUMENT", `http.fetch url must be an absolute http(s) URL, got ${JSON.stringify(request.url.slice(0, 200))}`);
  }
  let body: Uint8Array | undefined =
    typeof request.body === "string" ? new TextEncoder().encode(request.body) : request.body;
  if (body !== undefined && body.byteLength > maxRequestBytes) {
    throw new HostCallError("E_PAYLOAD_TOO_LARGE", `http.fetch request body is larger than ${maxRequestBytes} bytes`, {
      limit: maxRequestBytes,
    });
  }
  let method = request.method.toUpperCase();
  let headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  headers["user-agent"] ??= options?.userAgent ?? DEFAULT_EGRESS.userAgent;

  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), timeoutMs);
  const combined = AbortSignal.any([signal, timeout.signal]);
  const timedOut = () => timeout.signal.aborted;
  try {
    return await follow();
  } finally {
    clearTimeout(timer);
  }

  async function follow(): Promise<EgressResponse> {
  for (let hop = 0; ; hop++) {
    let pin: { address: string; family: 4 | 6 };
    let result: HopResult;
    try {
      pin = await checkHop(url, allowlists, lookup, allowed, combined);
      result = await sendHop(url, pin, method, headers, body, maxResponseBytes, combined);
    } catch (error) {
      if (timedOut()) throw new HostCallError("E_TIMEOUT", `http.fetch to ${url.host} took longer than ${timeoutMs} ms`);
      throw error;
    }
    const location = result.headers["location"];
    const isRedirect = [301, 302, 303, 307, 308].includes(result.status) && location !== undefined;
    if (!isRedirect || request.redirect === "manual") {
      const text = textOf(result.headers, result.body);
      return { ...result, url: url.href, redirected: hop > 0, ...(text === undefined ? {} : { text }) };
    }
    if (request.redirect === "error") {
      throw new HostCallError("E_FETCH_FAILED", `http.fetch to ${url.host} was redirected and redirect is "error"`);
    }
    if (hop >= maxRedirects) throw denied(`http.fetch followed more than ${maxRedirects} redirects`, { url: url.href });
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new HostCallError("E_FETCH_FAILED", `http.fetch got a redirect to an invalid URL from ${url.host}`);
    }
    if (result.status === 303 || ((result.status === 301 || result.status === 302) && method === "POST")) {
      if (method !== "HEAD") method = "GET";
      body = undefined;
      delete headers["content-type"];
    }
    if (next.origin !== url.origin) {
      // Like fetch(): credentials meant for one origin never follow a redirect to another.
      headers = Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.has(name)));
    }
    url = next;
  }
  }
}
