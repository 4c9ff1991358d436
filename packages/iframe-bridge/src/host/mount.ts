import { BridgeError } from "../errors.js";
import { parseHostContext, type HostContext } from "../context.js";
import { parseBridgeGrants, type BridgeGrant } from "../grants.js";
import { DEFAULT_MAX_BODY_BYTES } from "../protocol/fetch.js";
import { parseTheme, type Theme } from "../theme.js";
import { resolveFramePolicy, type ExtensionOrigin, type SandboxExtra } from "./frame-policy.js";
import { positiveInt } from "./positive-int.js";
import { claimOrigin } from "./origin-claims.js";
import type { HostApi } from "./host-api.js";
import { createNonce, withNonce } from "./nonce.js";
import { resolveRateLimits } from "./rate-limit.js";
import { HostSession, type BridgeConnection, type FrameState } from "./session.js";

export interface MountOptions {
  /**
   * Where the iframe goes: an element of the document of the window this code runs in. A same-origin panel or
   * popup loads @annex/iframe-bridge/host itself and mounts its frames from there (E_BRIDGE_ARGS otherwise).
   */
  container: HTMLElement;
  /** The page to load, usually from buildExtUiSrc() (without a nonce: one is minted per mount). */
  src: string;
  /** "opaque" (the default sandbox) or the exact origin serving src when sandboxExtras has allow-same-origin. */
  extensionOrigin: ExtensionOrigin;
  /** Accessible name of the frame, e.g. "Acme Analytics: dashboard". */
  title: string;
  /** Host callbacks behind api.fetch, navigate and toast. */
  hostApi?: HostApi;
  /**
   * Tenant, signed-in user, locale and extension id/version. getContext()
   * returns them, except the user, which the frame sees only with `user.read`.
   */
  context: HostContext;
  /**
   * The install's grants (`install.grants` from the host's registry), which
   * the bridge enforces: `toast` needs `ui.toast`, the user in the context
   * needs `user.read`. Deny by default: without grants the frame gets neither.
   */
  grants?: readonly BridgeGrant[] | undefined;
  theme: Theme;
  /** How long the extension has to say hello; default 10 000 ms. */
  timeoutMs?: number;
  /** How long each host API call may take on the host; default 25 000 ms. */
  callTimeoutMs?: number;
  /** Extra sandbox tokens, from SANDBOX_EXTRAS_ALLOWLIST only. */
  sandboxExtras?: SandboxExtra[];
  /** Origin (and optional path prefix) of the host API behind api.fetch; default: this page's origin. */
  apiBase?: string;
  /** Bounds for resize(); default 0 and 10 000 CSS pixels. */
  minHeight?: number;
  maxHeight?: number;
  /** Largest api.fetch request body; default 10 MiB. */
  maxBodyBytes?: number;
  /** Host API calls one frame may have in flight; default 32. */
  maxConcurrentCalls?: number;
  /**
   * Host API calls one frame may make per second, sustained; default 100.
   * Calls over it are refused with E_BRIDGE_RATE_LIMITED before any other check.
   */
  maxCallsPerSecond?: number;
  /** Calls one frame may make at once after a quiet spell; default twice maxCallsPerSecond (200). */
  maxCallBurst?: number;
  /** Refused messages reported to onRejectedMessage per second for one frame, then one summary; default 10. */
  maxReportsPerSecond?: number;
  /**
   * Messages refused within one second (over the rate, or dropped by the guard as malformed) after which
   * the frame is cut off: disposed, its iframe removed, and onRejectedMessage hears E_BRIDGE_RATE_LIMITED
   * with `details.cutOff`; default 5 × maxCallBurst (1,000).
   */
  cutOffAfterRefusals?: number;
  /** Called after the iframe's height changed through resize(). */
  onResize?: (height: number) => void;
  /**
   * Called for messages the bridge refused (wrong window, origin, nonce, protocol, rate limit); for
   * audit logs. At most maxReportsPerSecond a second per frame, then one summary of the rest.
   */
  onRejectedMessage?: (error: BridgeError) => void;
}

export interface ExtensionFrame {
  readonly iframe: HTMLIFrameElement;
  /** Resolves when the extension connected; rejects (and the frame is disposed) on timeout or version mismatch. */
  readonly ready: Promise<BridgeConnection>;
  readonly state: FrameState;
  /**
   * Validates, stores and sends a new theme; resolves when the extension applied it. Rejects with E_BRIDGE_ARGS
   * (a bad theme, not stored), E_BRIDGE_TIMEOUT (no answer within callTimeoutMs), E_BRIDGE_DISPOSED, or
   * E_BRIDGE_PROTOCOL (the page answered with an error: its client refused the theme, or the answer was forged;
   * the theme stays stored). An extension that never applies themes can always make this reject.
   */
  setTheme(theme: Theme): Promise<void>;
  /**
   * Closes the port, removes listeners, rejects pending calls, releases proxies and removes the iframe. The
   * bridge does the same on its own when the handshake fails or it cuts a flooding frame off (`state` then
   * says "failed" or "disposed"); calling it again does nothing.
   */
  dispose(): void;
}

/**
 * Mounts an extension page in a sandboxed iframe and runs the host side of
 * the bridge for it. Returns at once; `ready` tells when the extension has
 * connected.
 */
export function mountExtensionFrame(options: MountOptions): ExtensionFrame {
  const { container } = options;
  const doc = container?.ownerDocument;
  const win = doc?.defaultView;
  // An element: a text node also has appendChild and a document, and its appendChild throws a DOMException.
  if (!container || container.nodeType !== 1 || typeof container.appendChild !== "function" || !doc || !win) {
    throw new BridgeError("E_BRIDGE_ARGS", "container must be an element attached to a document", { field: "container" });
  }
  // The browser names the window whose script posts a message as its source, whatever window is asked to
  // post it: the welcome, posted by this code, would come from this window, and the frame, whose parent is
  // the container's window, drops a welcome from anyone but its parent. Nothing can post it "from" the other
  // window short of running code in that window's realm, so such a frame could never connect — while the
  // host would report it ready. (Compared by document: DOM emulations for tests do not all make their window the global.)
  if (doc !== (globalThis as { document?: unknown }).document) {
    throw new BridgeError(
      "E_BRIDGE_ARGS",
      "container belongs to the document of another window (a same-origin frame or popup): a frame mounted there could never connect, since the browser marks this window, not its parent, as the sender of the welcome; load @annex/iframe-bridge/host in that document and mount the frame from there",
      { field: "container", reason: "other-window" },
    );
  }
  if (typeof options.title !== "string" || options.title.trim() === "" || options.title.length > 200) {
    throw new BridgeError("E_BRIDGE_ARGS", "title must be a non-empty string of at most 200 characters: it names the frame for screen readers", { field: "title" });
  }
  const context = parseHostContext(options.context);
  const grants = parseBridgeGrants(options.grants);
  const theme = parseTheme(options.theme);
  const timeoutMs = positiveInt(options.timeoutMs, "timeoutMs", 10_000, 300_000);
  const callTimeoutMs = positiveInt(options.callTimeoutMs, "callTimeoutMs", 25_000, 600_000);
  const minHeight = positiveInt(options.minHeight, "minHeight", 0, 100_000, 0);
  const maxHeight = positiveInt(options.maxHeight, "maxHeight", 10_000, 100_000, minHeight);
  const maxBodyBytes = positiveInt(options.maxBodyBytes, "maxBodyBytes", DEFAULT_MAX_BODY_BYTES, 256 * 1024 * 1024);
  const maxConcurrentCalls = positiveInt(options.maxConcurrentCalls, "maxConcurrentCalls", 32, 1024);
  const { maxCallsPerSecond, maxCallBurst, maxReportsPerSecond, cutOffAfterRefusals } = resolveRateLimits(options);

  // The document's own origin, not its address's: a sandboxed document at the host's URL is "null" (location.origin
  // would say the host's origin), and an about:blank one inherits its creator's (location.origin would say "null").
  const documentOrigin = typeof win.origin === "string" ? win.origin : win.location.origin;
  const policy = resolveFramePolicy({ src: options.src, extensionOrigin: options.extensionOrigin, sandboxExtras: options.sandboxExtras, hostOrigin: documentOrigin });
  let apiBase: URL;
  try {
    apiBase = new URL(options.apiBase ?? win.location.origin);
  } catch {
    throw new BridgeError("E_BRIDGE_ARGS", `apiBase ${JSON.stringify(String(options.apiBase))} is not an absolute URL`, { field: "apiBase" });
  }
  if ((apiBase.protocol !== "https:" && apiBase.protocol !== "http:") || apiBase.search !== "" || apiBase.hash !== "") {
    throw new BridgeError("E_BRIDGE_ARGS", "apiBase must be an http(s) URL without query or fragment", { field: "apiBase" });
  }

  // A real origin (allow-same-origin) serves one extension at a time on this page (origin-claims.ts).
  const release = policy.expectedOrigin === "null" ? () => {} : claimOrigin(win, policy.expectedOrigin, context.extension.id);

  const nonce = createNonce();
  const iframe = doc.createElement("iframe");
  // Attributes before src and before insertion: sandbox flags are fixed when the frame navigates.
  iframe.setAttribute("sandbox", policy.sandbox);
  iframe.setAttribute("title", options.title);
  iframe.setAttribute("referrerpolicy", "no-referrer");
  iframe.setAttribute("allow", "");
  iframe.style.setProperty("border", "0");
  iframe.style.setProperty("width", "100%");
  iframe.style.setProperty("display", "block");
  if (minHeight > 0) iframe.style.setProperty("height", `${minHeight}px`);
  iframe.src = withNonce(policy.src.href, nonce);

  // Whenever the session ends — dispose(), a failed handshake, or the session cutting a flooding frame off
  // on its own — the frame goes with it: a page left mounted keeps running (and can keep posting window
  // messages, which no port's rate limit sees), and a real origin would stay claimed for the page's life.
  const takeDown = () => {
    iframe.remove();
    release();
  };

  let session: HostSession;
  try {
    session = new HostSession({
      hostWindow: win,
      frameWindow: () => iframe.contentWindow,
      expectedOrigin: policy.expectedOrigin,
      targetOrigin: policy.targetOrigin,
      nonce,
      scope: { apiBase, extensionId: context.extension.id },
      context,
      grants,
      theme,
      hostApi: options.hostApi ?? {},
      timeoutMs,
      callTimeoutMs,
      minHeight,
      maxHeight,
      maxBodyBytes,
      maxConcurrentCalls,
      maxCallsPerSecond,
      maxCallBurst,
      maxReportsPerSecond,
      cutOffAfterRefusals,
      onResize: (height) => {
        iframe.style.setProperty("height", `${height}px`);
        options.onResize?.(height);
      },
      onRejectedMessage: options.onRejectedMessage,
      onClosed: takeDown,
    });
  } catch (error) {
    release();
    throw error;
  }
  try {
    container.appendChild(iframe);
  } catch (error) {
    // Nothing was shown: nothing may stay held (the origin's claim would refuse the next mount on it for the page's life).
    session.ready.catch(() => {});
    session.dispose();
    release();
    throw new BridgeError("E_BRIDGE_ARGS", `container could not hold the frame: ${error instanceof Error ? error.message : String(error)}`, { field: "container" });
  }

  const dispose = () => {
    session.dispose();
    // The session ended before (failed, cut off) and took the frame down then; idempotent all the same.
    takeDown();
  };

  return {
    iframe,
    ready: session.ready,
    get state() {
      return session.state;
    },
    setTheme: (next) => session.setTheme(next),
    dispose,
  };
}
