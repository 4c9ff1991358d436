import { BridgeError } from "../errors.js";

/**
 * Which extension holds each real origin among the frames mounted with
 * allow-same-origin in one page. Frames of one origin can script each
 * other: an extension that found a sibling frame of its origin read that
 * frame's nonce from its location, ran the hello inside it and took over its
 * bridge (its grants, its user, its session-backed api.fetch). So an origin
 * serves one extension at a time; opaque frames (the default) need none of this.
 */
interface Claim {
  extensionId: string;
  frames: number;
}
type Claims = Map<string, Claim>;

/**
 * Where the page's claims live, on the page's window itself: a module-level
 * map belongs to one copy of the bridge, and a same-origin panel that loads
 * its own copy would count its frames apart from the page's. Symbol.for is
 * one registry for every realm of the page, so every copy finds the same
 * slot. The shape of the value (a Map from origin to { extensionId, frames })
 * is a contract between copies of different versions: a copy that changes it
 * must use a new key and claim under both.
 *
 * A script of the host's own origin could plant something else here first;
 * that needs no defence beyond failing closed on a value of the wrong shape.
 * Such a script is the host page: it can already mount anything, read every
 * frame's nonce from its src and take any bridge over, so a forged registry
 * gives it nothing it lacks. An extension frame cannot plant one: it is either
 * opaque or of an origin other than the host's (frame-policy.ts), so the
 * page's window is out of its reach.
 */
export const ORIGIN_CLAIMS_KEY: unique symbol = Symbol.for("@annex/iframe-bridge.origin-claims.v1");

/**
 * This copy's own claims, per top window, as before the shared registry: they
 * are consulted as well, so that a registry planted or emptied by another
 * script can never let through what a single copy refused on its own.
 */
const ownClaims = new WeakMap<Window, Claims>();

// This realm's own Map methods: they work on a Map of any realm (they check the internal slot, not the
// prototype), and whatever another copy or script did to its realm's Map.prototype does not reach them.
const { get: mapGet, set: mapSet, delete: mapDelete, has: mapHas } = Map.prototype;

function isMap(value: unknown): value is Claims {
  try {
    mapHas.call(value as Claims, "");
    return true;
  } catch {
    return false;
  }
}

function refuseRegistry(reason: string): never {
  throw new BridgeError(
    "E_BRIDGE_ORIGIN",
    `the page's registry of origins held by extensions (window[Symbol.for(${JSON.stringify(ORIGIN_CLAIMS_KEY.description)})]) ${reason}; without it no allow-same-origin frame can be mounted safely`,
    { field: "extensionOrigin", reason: "registry" },
  );
}

/** Whether this realm may read `win`'s own properties: a cross-origin window throws SecurityError. */
function reachable(win: Window): boolean {
  try {
    Object.getOwnPropertyDescriptor(win, ORIGIN_CLAIMS_KEY);
    return true;
  } catch {
    return false;
  }
}

/**
 * The page whose registry counts: the top window, which every frame of the
 * page reaches (top.frames[…]) whatever document holds it. Under a top of
 * another origin (the host app framed by a portal) it is the highest
 * same-origin ancestor: the top's own properties are out of reach, and every
 * copy of the bridge below that ancestor finds it by the same walk.
 */
function pageOf(win: Window): Window {
  const top = win.top;
  if (top !== null && reachable(top)) return top;
  let page = win;
  for (let parent = page.parent; parent !== null && parent !== page && reachable(parent); parent = page.parent) page = parent;
  return page;
}

/** More than any real chain of windows opened by one another; a bound on the walk. */
const MAX_OPENERS = 8;

/**
 * The pages whose registries count for a frame in `win`: its own, then the
 * page of each window that opened it, as far as they are of this origin. A
 * popup's frames reach the opener's through top.opener.frames[…], and the
 * opener's reach the popup's only through the popup, so a claim is counted on
 * every page of the chain and checked on every one: the popup's own page
 * keeps it when the opener goes.
 */
function pagesOf(win: Window): Window[] {
  const pages: Window[] = [];
  for (let current: Window | null = win; current !== null && pages.length < MAX_OPENERS; ) {
    const page = pageOf(current);
    if (pages.includes(page)) break;
    pages.push(page);
    current = openerOf(page);
  }
  return pages;
}

function openerOf(page: Window): Window | null {
  try {
    // `top.opener` even when the top is of another origin: a frame of the page reaches it all the same.
    const opener = (page.top ?? page).opener as Window | null;
    return opener !== null && opener !== undefined && reachable(opener) ? opener : null;
  } catch {
    return null;
  }
}

function sharedClaims(page: Window): Claims {
  const slot = Object.getOwnPropertyDescriptor(page, ORIGIN_CLAIMS_KEY);
  if (slot === undefined) {
    // Made in the page's realm, so the registry does not keep alive the realm of whichever copy mounted first
    // (a panel that is later removed).
    let claims: Claims = new Map();
    try {
      const made: unknown = new (page as unknown as typeof globalThis).Map();
      if (isMap(made)) claims = made;
    } catch {
      // The page's Map is not the built-in one: this realm's serves as well.
    }
    try {
      Object.defineProperty(page, ORIGIN_CLAIMS_KEY, { value: claims, enumerable: false, writable: false, configurable: false });
    } catch {
      refuseRegistry("could not be created on the page's window");
    }
    return claims;
  }
  // A getter is not followed: it could answer a different map each time.
  if (!("value" in slot) || !isMap(slot.value)) refuseRegistry("holds something other than a Map");
  return slot.value;
}

function heldIn(claims: Claims, origin: string): Claim | undefined {
  const held = mapGet.call(claims, origin) as unknown;
  if (held === undefined) return undefined;
  const claim = held as Partial<Claim> | null;
  if (typeof claim !== "object" || claim === null || typeof claim.extensionId !== "string" || !Number.isInteger(claim.frames) || claim.frames! < 1) {
    refuseRegistry(`holds a malformed entry for ${origin}`);
  }
  return claim as Claim;
}

/**
 * Claims `origin` for `extensionId` in the page `win` belongs to; returns the release. Throws E_BRIDGE_ORIGIN
 * when another extension holds it, whichever copy of the bridge mounted it.
 */
export function claimOrigin(win: Window, origin: string, extensionId: string): () => void {
  const top = win.top ?? win;
  let own = ownClaims.get(top);
  if (own === undefined) ownClaims.set(top, (own = new Map()));
  const stores = [own, ...pagesOf(win).map(sharedClaims)];
  for (const claims of stores) {
    const held = heldIn(claims, origin);
    if (held !== undefined && held.extensionId !== extensionId) {
      throw new BridgeError(
        "E_BRIDGE_ORIGIN",
        `${origin} already serves ${held.extensionId} with allow-same-origin on this page; frames of one origin can script each other, so give each extension an origin of its own (or use extensionOrigin: "opaque")`,
        { field: "extensionOrigin", origin, heldBy: held.extensionId },
      );
    }
  }
  const taken = stores.map((claims) => {
    const claim = heldIn(claims, origin) ?? { extensionId, frames: 0 };
    claim.frames += 1;
    mapSet.call(claims, origin, claim);
    return { claims, claim };
  });
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const { claims, claim } of taken) {
      claim.frames -= 1;
      if (claim.frames <= 0 && mapGet.call(claims, origin) === claim) mapDelete.call(claims, origin);
    }
  };
}
