import { BridgeError } from "../errors.js";
import { HELLO, helloSchema, isTyped, type HelloMessage } from "../protocol/messages.js";
import { negotiateVersion, SUPPORTED_VERSIONS } from "../version.js";
import type { OneTimeNonce } from "./nonce.js";

/** The parts of a MessageEvent the handshake looks at. */
export interface HelloEvent {
  data: unknown;
  origin: string;
  source: unknown;
}

export interface HelloExpectation {
  /** The iframe's contentWindow: the only window a hello may come from. */
  source: unknown;
  /** "null" for an opaque frame, else the exact extension origin. */
  origin: string;
  nonce: OneTimeNonce;
}

export type HelloVerdict =
  | { kind: "ignore" }
  | { kind: "refuse"; error: BridgeError }
  | { kind: "accept"; hello: HelloMessage; version: number }
  | { kind: "version-mismatch"; hello: HelloMessage; error: BridgeError };

/**
 * Decides what to do with one window message. The order matters: the window
 * and origin are checked before the nonce is redeemed, so a message from
 * anywhere else can neither burn the nonce nor learn whether it guessed right
 * (whether it was reported is the host's to know); only a hello from the
 * right window, with the right origin and the right nonce, burns the nonce —
 * so a replay, even from that same window, fails.
 */
export function checkHello(event: HelloEvent, expected: HelloExpectation): HelloVerdict {
  // Messages that are not hellos belong to someone else on the page.
  if (!isTyped(event.data, HELLO)) return { kind: "ignore" };

  if (expected.source === null || expected.source === undefined || event.source !== expected.source) {
    // Every frame's hello reaches every mounted frame's listener on the page: one that does not carry this frame's
    // nonce is another frame's business (reporting it blamed honest neighbours in each other's audit logs). One that
    // does came from a window that must not have it: refused and reported, the nonce left unburnt.
    const candidate = (event.data as { nonce?: unknown }).nonce;
    if (typeof candidate !== "string" || !expected.nonce.matches(candidate)) return { kind: "ignore" };
    return {
      kind: "refuse",
      error: new BridgeError("E_BRIDGE_ORIGIN", "a hello came from a window other than the extension's iframe; it was ignored", { reason: "source", origin: event.origin }),
    };
  }
  if (event.origin !== expected.origin) {
    return {
      kind: "refuse",
      error: new BridgeError("E_BRIDGE_ORIGIN", `a hello came from origin ${JSON.stringify(event.origin)} but the frame was mounted for ${JSON.stringify(expected.origin)}; it was ignored`, {
        reason: "origin",
        origin: event.origin,
        expected: expected.origin,
      }),
    };
  }
  const parsed = helloSchema.safeParse(event.data);
  if (!parsed.success) {
    return { kind: "refuse", error: new BridgeError("E_BRIDGE_PROTOCOL", "a hello from the extension's iframe was malformed; it was ignored", { reason: "shape" }) };
  }
  const hello = parsed.data as HelloMessage;
  const redeemed = expected.nonce.redeem(hello.nonce);
  if (redeemed === "mismatch") {
    return { kind: "refuse", error: new BridgeError("E_BRIDGE_NONCE", "a hello carried a nonce this frame was not given; it was ignored", { reason: "mismatch" }) };
  }
  if (redeemed === "used") {
    return { kind: "refuse", error: new BridgeError("E_BRIDGE_NONCE", "a hello replayed a nonce that was already used; it was ignored", { reason: "replay" }) };
  }
  const version = negotiateVersion(hello.versions);
  if (version === null) {
    return {
      kind: "version-mismatch",
      hello,
      error: new BridgeError(
        "E_BRIDGE_VERSION",
        `the extension speaks bridge versions ${hello.versions.min}–${hello.versions.max}, the host ${SUPPORTED_VERSIONS.min}–${SUPPORTED_VERSIONS.max}; upgrade @annex/iframe-bridge on the older side`,
        { extension: hello.versions, host: { ...SUPPORTED_VERSIONS } },
      ),
    };
  }
  return { kind: "accept", hello, version };
}
