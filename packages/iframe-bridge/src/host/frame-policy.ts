import { BridgeError } from "../errors.js";

/**
 * Which sandbox an extension frame gets and which origin its messages must
 * carry. The default is `sandbox="allow-scripts"`: the frame runs script
 * but has an opaque origin ("null"), so it can read neither the host's DOM,
 * cookies and storage nor its own origin's. The host (never the extension)
 * may add tokens from a short allowlist.
 *
 * Two shapes are accepted:
 * - extensionOrigin "opaque", no allow-same-origin: messages arrive with
 *   origin "null", and the frame is identified by event.source and the nonce;
 * - extensionOrigin "https://ext.example" with allow-same-origin: the frame
 *   keeps its real origin (useful for its own storage), which must be the
 *   origin serving src and must differ from the host's own origin — a
 *   same-origin frame with allow-scripts can remove its own sandbox.
 */
export const SANDBOX_EXTRAS_ALLOWLIST = Object.freeze([
  "allow-forms",
  "allow-modals",
  "allow-popups",
  "allow-downloads",
  "allow-pointer-lock",
  "allow-same-origin",
] as const);

export type SandboxExtra = (typeof SANDBOX_EXTRAS_ALLOWLIST)[number];

/** "opaque" or an http(s) origin such as "https://ext.example.com". */
export type ExtensionOrigin = "opaque" | (string & {});

export interface FramePolicy {
  sandbox: string;
  /** The value event.origin must equal on the hello: "null" or the exact origin. */
  expectedOrigin: string;
  /** The targetOrigin for the welcome: the exact origin, or "*" for an opaque frame (see session.ts). */
  targetOrigin: string;
  src: URL;
}

export interface FramePolicyInput {
  src: string;
  extensionOrigin: ExtensionOrigin;
  sandboxExtras?: readonly string[] | undefined;
  hostOrigin: string;
}

function parseSrc(src: unknown): URL {
  if (typeof src !== "string") throw new BridgeError("E_BRIDGE_ARGS", "src must be a string URL; build it with buildExtUiSrc()", { field: "src" });
  let url: URL;
  try {
    url = new URL(src);
  } catch {
    throw new BridgeError("E_BRIDGE_ARGS", `src ${JSON.stringify(src.slice(0, 200))} is not an absolute URL; build it with buildExtUiSrc()`, { field: "src" });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new BridgeError("E_BRIDGE_ARGS", `src must use http: or https:, not ${url.protocol}`, { field: "src" });
  }
  if (url.username !== "" || url.password !== "") throw new BridgeError("E_BRIDGE_ARGS", "src must not carry credentials", { field: "src" });
  if (url.hash !== "") {
    throw new BridgeError("E_BRIDGE_ARGS", "src must not carry a fragment: mountExtensionFrame adds its own one-time #annex-nonce", { field: "src" });
  }
  return url;
}

export function resolveFramePolicy(input: FramePolicyInput): FramePolicy {
  const src = parseSrc(input.src);
  const extras = input.sandboxExtras ?? [];
  if (!Array.isArray(extras)) throw new BridgeError("E_BRIDGE_ARGS", "sandboxExtras must be an array of sandbox tokens", { field: "sandboxExtras" });
  const tokens = new Set<string>(["allow-scripts"]);
  for (const token of extras) {
    if (token === "allow-scripts") continue;
    if (typeof token !== "string" || !(SANDBOX_EXTRAS_ALLOWLIST as readonly string[]).includes(token)) {
      throw new BridgeError(
        "E_BRIDGE_SANDBOX",
        `sandbox token ${JSON.stringify(String(token)).slice(0, 60)} is not allowed; choose from ${SANDBOX_EXTRAS_ALLOWLIST.join(", ")}`,
        { field: "sandboxExtras", token: String(token).slice(0, 60) },
      );
    }
    tokens.add(token);
  }
  const sameOrigin = tokens.has("allow-same-origin");
  const sandbox = [...tokens].join(" ");

  if (input.extensionOrigin === "opaque") {
    if (sameOrigin) {
      throw new BridgeError(
        "E_BRIDGE_SANDBOX",
        'allow-same-origin gives the frame the real origin of its src, so it is not opaque: declare extensionOrigin as that origin, or drop allow-same-origin',
        { field: "sandboxExtras", token: "allow-same-origin" },
      );
    }
    return { sandbox, expectedOrigin: "null", targetOrigin: "*", src };
  }

  const declared = input.extensionOrigin;
  let origin: string | null = null;
  try {
    const url = new URL(declared);
    if ((url.protocol === "https:" || url.protocol === "http:") && url.origin === declared) origin = url.origin;
  } catch {
    origin = null;
  }
  if (origin === null) {
    throw new BridgeError(
      "E_BRIDGE_ORIGIN",
      `extensionOrigin ${JSON.stringify(String(declared).slice(0, 200))} must be "opaque" or an exact http(s) origin such as https://ext.example.com (no path, no trailing slash)`,
      { field: "extensionOrigin" },
    );
  }
  if (!sameOrigin) {
    throw new BridgeError(
      "E_BRIDGE_SANDBOX",
      `a frame without allow-same-origin has the opaque origin "null", never ${origin}: declare extensionOrigin: "opaque" (recommended) or add allow-same-origin to sandboxExtras`,
      { field: "extensionOrigin" },
    );
  }
  if (origin !== src.origin) {
    throw new BridgeError("E_BRIDGE_ORIGIN", `extensionOrigin ${origin} is not the origin of src (${src.origin}); they must match`, { field: "extensionOrigin" });
  }
  // A sandboxed host document: no same-site check can be made against "null", and its registry of claimed
  // origins is cut off from the page's (origin-claims.ts), while its frames reach the page's through top.frames.
  if (input.hostOrigin === "null") {
    throw new BridgeError(
      "E_BRIDGE_ORIGIN",
      `allow-same-origin from a host document with an opaque origin (a sandboxed document): it cannot tell whether ${origin} is of the host's own site, nor count which extension holds ${origin} on the page; mount from a document of the host's origin, or use extensionOrigin: "opaque" without allow-same-origin`,
      { field: "extensionOrigin", reason: "opaque-host" },
    );
  }
  if (origin === input.hostOrigin) {
    throw new BridgeError(
      "E_BRIDGE_ORIGIN",
      `allow-same-origin on a frame served from the host's own origin (${origin}) would let it script the host page and lift its own sandbox: serve extension UIs from another origin, or use extensionOrigin: "opaque" without allow-same-origin`,
      { field: "sandboxExtras" },
    );
  }
  if (sameSite(new URL(origin), new URL(input.hostOrigin))) {
    throw new BridgeError(
      "E_BRIDGE_ORIGIN",
      `allow-same-origin on ${origin}, which is on the same site as the host (${input.hostOrigin}): a frame with a real origin on the host's site sends the user's cookies with its own requests to any of the host's paths, not only its /api/ext/<id>/ through the bridge; serve extension UIs from another registrable domain (not another port or subdomain of the host's), or use extensionOrigin: "opaque" without allow-same-origin`,
      { field: "extensionOrigin" },
    );
  }
  return { sandbox, expectedOrigin: origin, targetOrigin: origin, src };
}

const IP = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\])$/i;

/**
 * Whether two origins may be one site, for cookies (the scheme and port do not split a site). The same host
 * is; so are two names that share their last two labels (app.example.com and ext.example.com), which is
 * what a registrable domain is unless the suffix is public (a.github.io and b.github.io are not one site,
 * but without the Public Suffix List they count as one: refusing is the safe side, and opaque frames need
 * none of this). IP addresses are one site only with themselves.
 */
function sameSite(a: URL, b: URL): boolean {
  if (a.hostname === b.hostname) return true;
  if (IP.test(a.hostname) || IP.test(b.hostname)) return false;
  const tail = (host: string) => host.split(".").slice(-2).join(".");
  return a.hostname.includes(".") && b.hostname.includes(".") && tail(a.hostname) === tail(b.hostname);
}
