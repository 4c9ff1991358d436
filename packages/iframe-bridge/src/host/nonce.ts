import { BridgeError } from "../errors.js";
import { NONCE_PARAM, NONCE_PATTERN } from "../protocol/messages.js";

/** 32 random bytes, base64url: unguessable, and safe in a URL fragment. */
export function createNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function assertNonce(nonce: unknown, field = "nonce"): string {
  if (typeof nonce !== "string" || !NONCE_PATTERN.test(nonce)) {
    throw new BridgeError("E_BRIDGE_ARGS", `${field} must be 22 to 128 characters of [A-Za-z0-9_-]; use createNonce()`, { field });
  }
  return nonce;
}

/** `src` with its fragment replaced by `#annex-nonce=<nonce>`. */
export function withNonce(src: string, nonce: string): string {
  const url = new URL(src);
  url.hash = `${NONCE_PARAM}=${assertNonce(nonce)}`;
  return url.href;
}

export type RedeemResult = "accepted" | "mismatch" | "used";

/**
 * A nonce that can be redeemed once. The comparison does not stop at the
 * first differing character, so timing says nothing about how much matched.
 */
export class OneTimeNonce {
  readonly #value: string;
  #used = false;

  constructor(value: string) {
    this.#value = assertNonce(value);
  }

  get used(): boolean {
    return this.#used;
  }

  redeem(candidate: string): RedeemResult {
    if (!equalConstantTime(candidate, this.#value)) return "mismatch";
    if (this.#used) return "used";
    this.#used = true;
    return "accepted";
  }

  /** Whether a candidate is this nonce, used or not, without redeeming it. */
  matches(candidate: string): boolean {
    return equalConstantTime(candidate, this.#value);
  }

  /** Burns the nonce without a hello (dispose, handshake timeout). */
  burn(): void {
    this.#used = true;
  }
}

function equalConstantTime(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a.charCodeAt(i) | 0) ^ b.charCodeAt(i);
  return diff === 0;
}
