import { BridgeError } from "../errors.js";

/**
 * Which extension holds each real origin among the frames mounted with
 * allow-same-origin in one host window. Frames of one origin can script each
 * other: an extension that found a sibling frame of its origin read that
 * frame's nonce from its location, ran the hello inside it and took over its
 * bridge (its grants, its user, its session-backed api.fetch). So an origin
 * serves one extension at a time; opaque frames (the default) need none of this.
 */
const claims = new WeakMap<Window, Map<string, { extensionId: string; frames: number }>>();

/**
 * Claims `origin` for `extensionId` in the page `win` belongs to; returns the release. Throws E_BRIDGE_ORIGIN
 * when another extension holds it. The page is the top window: frames of one origin reach each other
 * through it (top.frames[…]) whatever document holds them, and claims kept per window let a second extension
 * on the origin be mounted from a same-origin panel of the page, where the first one took its bridge over.
 */
export function claimOrigin(win: Window, origin: string, extensionId: string): () => void {
  const page = win.top ?? win;
  let byOrigin = claims.get(page);
  if (byOrigin === undefined) claims.set(page, (byOrigin = new Map()));
  const held = byOrigin.get(origin);
  if (held !== undefined && held.extensionId !== extensionId) {
    throw new BridgeError(
      "E_BRIDGE_ORIGIN",
      `${origin} already serves ${held.extensionId} with allow-same-origin on this page; frames of one origin can script each other, so give each extension an origin of its own (or use extensionOrigin: "opaque")`,
      { field: "extensionOrigin", origin, heldBy: held.extensionId },
    );
  }
  const claim = held ?? { extensionId, frames: 0 };
  claim.frames += 1;
  byOrigin.set(origin, claim);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    claim.frames -= 1;
    if (claim.frames === 0) byOrigin!.delete(origin);
  };
}
