import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { RemoteRunnerError } from "./errors.js";

/**
 * Request authentication between a host and a runner server: HMAC-SHA256 with
 * a shared key over the method, the path (with query), a timestamp, a random
 * nonce and the sha256 of the body. The server rejects a missing or wrong
 * signature, a timestamp outside the skew window, and a nonce it has already
 * seen inside that window (the replay cache only has to remember nonces for
 * as long as their timestamps stay acceptable).
 *
 * Responses are signed too, bound to the request's nonce, so a host never acts
 * on a host-call frame or a result that did not come from a runner holding the key.
 */
export const HEADER_TIMESTAMP = "x-annex-timestamp";
export const HEADER_NONCE = "x-annex-nonce";
export const HEADER_SIGNATURE = "x-annex-signature";
/**
 * The sha256 of the body, which the signature covers. Sent as a header so the
 * server can check the signature, timestamp and nonce from the headers alone,
 * before it reads a byte of the body: an unauthenticated client can then make
 * it buffer nothing. The body is checked against it once read.
 */
export const HEADER_CONTENT_SHA256 = "x-annex-content-sha256";

const SCHEME = "v1";
export const MIN_KEY_BYTES = 32;
export const DEFAULT_MAX_CLOCK_SKEW_MS = 60_000;

export type SharedKey = string | Uint8Array;

/** Normalises a shared key; refuses keys too short to resist guessing. */
export function toKeyBytes(key: SharedKey): Uint8Array {
  if (typeof key !== "string" && !(key instanceof Uint8Array)) {
    throw new RemoteRunnerError(
      "E_AUTH_INVALID",
      `key: the shared runner key must be a string or bytes, got ${key === null ? "null" : typeof key}; is the variable or secret it is read from (e.g. ANNEX_RUNNER_KEY) set?`,
    );
  }
  const bytes = typeof key === "string" ? new TextEncoder().encode(key.trim()) : key;
  if (bytes.byteLength < MIN_KEY_BYTES) {
    throw new RemoteRunnerError(
      "E_AUTH_INVALID",
      `key: the shared runner key must be at least ${MIN_KEY_BYTES} bytes (got ${bytes.byteLength}); generate one with \`openssl rand -hex 32\``,
    );
  }
  return bytes;
}

export function sha256Hex(body: Uint8Array | string): string {
  return createHash("sha256").update(body).digest("hex");
}

function hmacHex(key: Uint8Array, text: string): string {
  return createHmac("sha256", key).update(text).digest("hex");
}

function requestCanonical(method: string, path: string, timestamp: string, nonce: string, bodySha256: string): string {
  return `${SCHEME}\nrequest\n${method.toUpperCase()}\n${path}\n${timestamp}\n${nonce}\n${bodySha256}`;
}

function responseCanonical(nonce: string, status: number, bodySha256: string): string {
  return `${SCHEME}\nresponse\n${nonce}\n${status}\n${bodySha256}`;
}

function frameCanonical(nonce: string, seq: number, frame: string): string {
  return `${SCHEME}\nframe\n${nonce}\n${seq}\n${sha256Hex(frame)}`;
}

function safeEqualHex(a: string, b: string): boolean {
  if (a.length !== b.length || !/^[0-9a-f]+$/.test(a)) return false;
  return timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));
}

export interface SignedRequestHeaders {
  [HEADER_TIMESTAMP]: string;
  [HEADER_NONCE]: string;
  [HEADER_SIGNATURE]: string;
  [HEADER_CONTENT_SHA256]: string;
}

/** Headers that authenticate one request. `path` includes the query string, exactly as sent. */
export function signRequest(
  key: Uint8Array,
  method: string,
  path: string,
  body: Uint8Array | string,
  now: number = Date.now(),
): SignedRequestHeaders {
  const timestamp = String(now);
  const nonce = randomBytes(16).toString("hex");
  const bodySha256 = sha256Hex(body);
  const signature = hmacHex(key, requestCanonical(method, path, timestamp, nonce, bodySha256));
  return {
    [HEADER_TIMESTAMP]: timestamp,
    [HEADER_NONCE]: nonce,
    [HEADER_SIGNATURE]: `${SCHEME}=${signature}`,
    [HEADER_CONTENT_SHA256]: bodySha256,
  };
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Remembers nonces until their timestamps leave the skew window. Bounded: when
 * full of still-valid nonces it refuses new ones (E_AUTH_REPLAY with reason
 * "replay cache full") rather than forgetting one that could then be replayed.
 * Only requests with a valid signature reach it, so only key holders can fill it.
 */
export class ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;

  constructor(ttlMs: number, maxEntries = 200_000) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Records the nonce; false when it was already seen (a replay) or the cache is full. */
  remember(nonce: string, now: number): "fresh" | "replay" | "full" {
    const expiresAt = this.#seen.get(nonce);
    if (expiresAt !== undefined && expiresAt > now) return "replay";
    if (this.#seen.size >= this.#maxEntries) this.#sweep(now);
    if (this.#seen.size >= this.#maxEntries) return "full";
    // Insertion order is expiry order (ttl is constant), so sweeping stops at the first live entry.
    this.#seen.delete(nonce);
    this.#seen.set(nonce, now + this.#ttlMs);
    if (this.#seen.size % 1024 === 0) this.#sweep(now);
    return "fresh";
  }

  #sweep(now: number): void {
    for (const [nonce, expiresAt] of this.#seen) {
      if (expiresAt > now) break;
      this.#seen.delete(nonce);
    }
  }
}

export interface VerifyRequestHeadOptions {
  key: Uint8Array;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  replayCache: ReplayCache;
  maxClockSkewMs: number;
  now: number;
}

export interface VerifiedHead {
  /** Responses are bound to it. */
  nonce: string;
  /** What the body must hash to (checked with `verifyBody` once it is read). */
  bodySha256: string;
}

/**
 * Checks one request's authentication from its headers alone, before its body
 * is read: headers present, signature over the declared body hash, timestamp
 * within the skew window, nonce not seen. Throws a typed error otherwise. Only
 * a request with a valid signature has its nonce remembered, so a stranger
 * cannot fill the replay cache.
 */
export function verifyRequestHead(o: VerifyRequestHeadOptions): VerifiedHead {
  const timestamp = headerValue(o.headers, HEADER_TIMESTAMP);
  const nonce = headerValue(o.headers, HEADER_NONCE);
  const signature = headerValue(o.headers, HEADER_SIGNATURE);
  const bodySha256 = headerValue(o.headers, HEADER_CONTENT_SHA256);
  if (timestamp === undefined || nonce === undefined || signature === undefined || bodySha256 === undefined) {
    throw new RemoteRunnerError(
      "E_AUTH_MISSING",
      `request is not authenticated: send ${HEADER_TIMESTAMP}, ${HEADER_NONCE}, ${HEADER_CONTENT_SHA256} and ${HEADER_SIGNATURE} (use createRemoteRunner, which signs every call)`,
    );
  }
  if (!/^\d{1,16}$/.test(timestamp) || !/^[0-9a-f]{32}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(bodySha256) || !signature.startsWith(`${SCHEME}=`)) {
    throw new RemoteRunnerError(
      "E_AUTH_INVALID",
      `request authentication headers are malformed (${SCHEME} scheme, ms timestamp, 32-hex nonce, 64-hex body sha256 expected)`,
    );
  }
  const expected = hmacHex(o.key, requestCanonical(o.method, o.path, timestamp, nonce, bodySha256));
  if (!safeEqualHex(signature.slice(SCHEME.length + 1), expected)) {
    throw new RemoteRunnerError("E_AUTH_INVALID", "request signature does not match: check that host and runner share the same key");
  }
  const skew = Math.abs(o.now - Number(timestamp));
  if (skew > o.maxClockSkewMs) {
    throw new RemoteRunnerError(
      "E_AUTH_STALE",
      `request timestamp is ${skew} ms away from the runner's clock (allowed: ${o.maxClockSkewMs} ms); synchronise the clocks`,
      { skewMs: skew },
    );
  }
  const seen = o.replayCache.remember(nonce, o.now);
  if (seen !== "fresh") {
    throw new RemoteRunnerError(
      "E_AUTH_REPLAY",
      seen === "replay" ? "request nonce was already used: every call needs a fresh nonce" : "replay cache is full: retry shortly",
      { reason: seen },
    );
  }
  return { nonce, bodySha256 };
}

/** Checks a body read after `verifyRequestHead` against the hash its signature covers. */
export function verifyBody(head: VerifiedHead, body: Uint8Array): void {
  if (!safeEqualHex(sha256Hex(body), head.bodySha256)) {
    throw new RemoteRunnerError("E_AUTH_INVALID", "request body does not match the sha256 its signature covers: it was altered or truncated on the way");
  }
}

export interface VerifyRequestOptions extends VerifyRequestHeadOptions {
  body: Uint8Array;
}

/** Checks a request whose body is already read (headers, then body); returns its nonce or throws a typed error. */
export function verifyRequest(o: VerifyRequestOptions): string {
  const head = verifyRequestHead(o);
  verifyBody(head, o.body);
  return head.nonce;
}

export function signResponse(key: Uint8Array, requestNonce: string, status: number, body: Uint8Array | string): string {
  return `${SCHEME}=${hmacHex(key, responseCanonical(requestNonce, status, sha256Hex(body)))}`;
}

export function verifyResponse(
  key: Uint8Array,
  requestNonce: string,
  status: number,
  body: Uint8Array | string,
  signature: string | undefined,
): boolean {
  if (signature === undefined || !signature.startsWith(`${SCHEME}=`)) return false;
  return safeEqualHex(signature.slice(SCHEME.length + 1), hmacHex(key, responseCanonical(requestNonce, status, sha256Hex(body))));
}

/** Signs one NDJSON frame of a streamed response: bound to the request nonce and the frame's position. */
export function signFrame(key: Uint8Array, requestNonce: string, seq: number, frame: string): string {
  return hmacHex(key, frameCanonical(requestNonce, seq, frame));
}

export function verifyFrame(key: Uint8Array, requestNonce: string, seq: number, frame: string, signature: string): boolean {
  return safeEqualHex(signature, hmacHex(key, frameCanonical(requestNonce, seq, frame)));
}
