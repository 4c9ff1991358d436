import * as Comlink from "comlink";
import { BridgeError } from "../errors.js";
import type { ExtensionContext, HostContext } from "../context.js";
import type { BridgeCapability } from "../grants.js";
import { guardCallerEndpoint, guardEndpoint, methodCallFilter } from "../guard.js";
import { PendingCalls } from "../pending.js";
import { REJECT, WELCOME, type RejectMessage, type WelcomeMessage } from "../protocol/messages.js";
import { WIRE_MAX_ARGS } from "../protocol/wire.js";
import { parseTheme, type Theme } from "../theme.js";
import type { ApiScope } from "./api-url.js";
import { frameContext } from "./frame-context.js";
import { checkHello, type HelloEvent } from "./handshake.js";
import { createWireHostApi, type HostApi } from "./host-api.js";
import { OneTimeNonce } from "./nonce.js";
import { createFrameRateGate, type FrameRateGate } from "./rate-limit.js";
import { ReportThrottle } from "./report-throttle.js";

/** What the host needs from the frame's window: a place to post the welcome. */
export interface FrameWindow {
  postMessage(message: unknown, targetOrigin: string, transfer?: Transferable[]): void;
}

export interface HostSessionOptions {
  /** The host page's window: hellos arrive here. */
  hostWindow: Pick<Window, "addEventListener" | "removeEventListener">;
  /** The iframe's contentWindow, read when a hello arrives. */
  frameWindow: () => FrameWindow | null;
  expectedOrigin: string;
  targetOrigin: string;
  nonce: string;
  scope: ApiScope;
  context: HostContext;
  /** The bridge capabilities the install was granted (parseBridgeGrants); deny by default. */
  grants: ReadonlySet<BridgeCapability>;
  theme: Theme;
  hostApi: HostApi;
  timeoutMs: number;
  callTimeoutMs: number;
  minHeight: number;
  maxHeight: number;
  maxBodyBytes: number;
  maxConcurrentCalls: number;
  /** Sustained calls per second and burst for this frame (rate-limit.ts). */
  maxCallsPerSecond: number;
  maxCallBurst: number;
  /** Refused messages reported per second, for the port and for hellos each (report-throttle.ts). */
  maxReportsPerSecond: number;
  /** Refused messages within a second after which the frame's ports are closed (rate-limit.ts). */
  cutOffAfterRefusals: number;
  onResize: (height: number) => void;
  onRejectedMessage?: ((error: BridgeError) => void) | undefined;
  /**
   * Called once when the session ends for good, whoever ended it: the handshake failed, the session cut a
   * flooding frame off, or dispose() was called. The session can end on its own; this is how its owner
   * learns to take down what it holds for the frame (mount.ts: the iframe, whose page would otherwise keep
   * running, and the origin's claim).
   */
  onClosed?: ((reason: BridgeError) => void) | undefined;
  /** Milliseconds from a monotonic clock, for the rate limit and the report cap; default performance.now. */
  now?: (() => number) | undefined;
}

export type FrameState = "connecting" | "ready" | "failed" | "disposed";

export interface BridgeConnection {
  /** The protocol version both sides agreed on. */
  version: number;
}

type ThemeCallback = (theme: Theme) => Promise<void>;

/** More than the client ever needs (it subscribes once); a bound on ports the frame can make the host hold. */
const MAX_THEME_SUBSCRIBERS = 4;

/**
 * One theme delivery. An error the page answers with is comlink's revival of
 * whatever the page sent (the client's own theme check refusing it, or a
 * forged "throw" answer): data the page chose, error-shaped or not, which must
 * not reach the host's callers and logs as the cause of a host error. The
 * caller learns that the page did not apply the theme, in the bridge's own words.
 */
function deliverTheme(remote: Comlink.Remote<ThemeCallback>, theme: Theme): Promise<void> {
  return Promise.resolve()
    .then(() => remote(theme))
    .then(
      () => undefined,
      () => {
        throw new BridgeError(
          "E_BRIDGE_PROTOCOL",
          "the extension's page answered the theme delivery with an error instead of applying it (its client refused the theme, or the answer was forged); the host keeps the theme, and getContext() answers it",
          { operation: "theme delivery", reason: "refused" },
        );
      },
    );
}

/**
 * The host's half of one frame's bridge, independent of the DOM so it can be
 * driven in tests: it listens for the hello, checks it (handshake.ts), hands
 * over a private MessagePort, serves the host API on it through comlink
 * behind a guard, pushes theme changes, and tears all of it down.
 */
export class HostSession {
  readonly ready: Promise<BridgeConnection>;
  #state: FrameState = "connecting";
  readonly #options: HostSessionOptions;
  readonly #nonce: OneTimeNonce;
  readonly #pending = new PendingCalls();
  readonly #themeCallbacks: Array<{ remote: Comlink.Remote<ThemeCallback>; port: MessagePort }> = [];
  #theme: Theme;
  #port: MessagePort | null = null;
  #gate: FrameRateGate | null = null;
  #abortAll: () => void = () => undefined;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #settle: { resolve: (connection: BridgeConnection) => void; reject: (error: BridgeError) => void } | null = null;
  readonly #listener = (event: MessageEvent) => this.#onWindowMessage(event);
  readonly #now: () => number;
  // Hellos reach every session on the page, so a flood of them from another frame gets its own
  // allowance: it cannot use up the one that reports what this frame does on its port.
  readonly #windowReports: ReportThrottle;
  readonly #portReports: ReportThrottle;

  constructor(options: HostSessionOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#windowReports = new ReportThrottle((error) => this.#report(error), options.maxReportsPerSecond, this.#now);
    this.#portReports = new ReportThrottle((error) => this.#report(error), options.maxReportsPerSecond, this.#now);
    this.#nonce = new OneTimeNonce(options.nonce);
    this.#theme = options.theme;
    this.ready = new Promise<BridgeConnection>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // Callers who never await `ready` still get dispose(); no unhandled rejection for them.
    this.ready.catch(() => undefined);
    options.hostWindow.addEventListener("message", this.#listener as EventListener);
    this.#handshakeTimer = setTimeout(() => {
      this.#fail(
        new BridgeError(
          "E_BRIDGE_TIMEOUT",
          `the extension did not complete the handshake within ${options.timeoutMs} ms: check that its page calls connect() from @annex/iframe-bridge/client and that src loads`,
          { timeoutMs: options.timeoutMs },
        ),
      );
    }, options.timeoutMs);
  }

  get state(): FrameState {
    return this.#state;
  }

  get theme(): Theme {
    return this.#theme;
  }

  /**
   * Validates and stores the theme, then delivers it to the extension; resolves once the extension applied it.
   * Rejects with E_BRIDGE_ARGS (a bad theme, not stored), E_BRIDGE_DISPOSED, E_BRIDGE_TIMEOUT (no answer within
   * callTimeoutMs) or E_BRIDGE_PROTOCOL (the page answered the delivery with an error; the theme stays stored).
   */
  async setTheme(theme: Theme): Promise<void> {
    if (this.#state === "disposed" || this.#state === "failed") {
      throw new BridgeError("E_BRIDGE_DISPOSED", "setTheme was called on a frame that is disposed or failed to connect", { state: this.#state });
    }
    const parsed = parseTheme(theme);
    this.#theme = parsed;
    await Promise.all(this.#themeCallbacks.map(({ remote }) => this.#pending.run(deliverTheme(remote, parsed), this.#options.callTimeoutMs, "theme delivery")));
  }

  dispose(reason?: BridgeError): void {
    // After a failed handshake everything is torn down already; "failed" stays the state.
    if (this.#state === "disposed" || this.#state === "failed") return;
    const wasConnecting = this.#state === "connecting";
    this.#state = "disposed";
    const error = reason ?? new BridgeError("E_BRIDGE_DISPOSED", "the frame was disposed");
    this.#teardown(error);
    if (wasConnecting) this.#settle?.reject(reason ?? new BridgeError("E_BRIDGE_DISPOSED", "the frame was disposed before the extension connected"));
    this.#settle = null;
    this.#closed(error);
  }

  #report(error: BridgeError): void {
    try {
      this.#options.onRejectedMessage?.(error);
    } catch {
      // A faulty audit hook must not break the bridge.
    }
  }

  #closed(reason: BridgeError): void {
    try {
      this.#options.onClosed?.(reason);
    } catch {
      // The session is torn down already; a faulty owner's hook cannot undo that.
    }
  }

  /** A message on one of the frame's ports that the guard dropped: reported, and counted toward the cut-off. */
  #refusedOnPort(reason: string, what: string): void {
    this.#portReports.report(
      "E_BRIDGE_PROTOCOL",
      () => new BridgeError("E_BRIDGE_PROTOCOL", `the extension sent a message ${what} (${reason}); it was dropped`, { reason }),
    );
    this.#gate?.refused();
  }

  #fail(error: BridgeError): void {
    if (this.#state !== "connecting") return;
    this.#state = "failed";
    this.#teardown(error);
    this.#settle?.reject(error);
    this.#settle = null;
    this.#closed(error);
  }

  #teardown(error: BridgeError): void {
    clearTimeout(this.#handshakeTimer);
    this.#nonce.burn();
    this.#options.hostWindow.removeEventListener("message", this.#listener as EventListener);
    this.#abortAll();
    this.#pending.close(error.code === "E_BRIDGE_DISPOSED" ? error : new BridgeError("E_BRIDGE_DISPOSED", error.message, { cause: error.code }));
    // The only place the host lets go of the extension's comlink proxies.
    for (const { remote, port } of this.#themeCallbacks.splice(0)) {
      try {
        remote[Comlink.releaseProxy]();
      } catch {
        // Already released: nothing to do.
      }
      port.close();
    }
    this.#port?.close();
    this.#port = null;
    this.#gate = null;
    // What a flood left uncounted reaches the audit log before the frame goes.
    this.#windowReports.flush();
    this.#portReports.flush();
  }

  #onWindowMessage(event: MessageEvent): void {
    const frame = this.#options.frameWindow();
    const verdict = checkHello(event as HelloEvent, { source: frame, origin: this.#options.expectedOrigin, nonce: this.#nonce });
    if (verdict.kind === "ignore") return;
    if (verdict.kind === "refuse") {
      this.#windowReports.report(verdict.error.code, () => verdict.error);
      return;
    }
    if (this.#state !== "connecting" || frame === null) return;
    if (verdict.kind === "version-mismatch") {
      const reject: RejectMessage = { type: REJECT, nonce: verdict.hello.nonce, error: { code: verdict.error.code, message: verdict.error.message } };
      frame.postMessage(reject, this.#options.targetOrigin);
      this.#fail(verdict.error);
      return;
    }
    this.#connect(frame, verdict.hello.nonce, verdict.version);
  }

  /**
   * Why targetOrigin may be "*" for an opaque frame: postMessage cannot name
   * an opaque origin, so "*" is the only way to reach a sandboxed frame.
   * What "*" gives up is the browser's check that the document in the frame
   * is still the one that said hello. Here that check is already done by
   * other means: the welcome goes to the iframe's own contentWindow, the
   * hello proved (source identity + the nonce only that iframe's src
   * carried) that the document in it is the one the host loaded, and no one
   * else can navigate that frame in between — the host page is trusted, and
   * every other extension frame is sandboxed without top or sibling
   * navigation. That holds only while no page of another origin frames the
   * host page: a framing page may navigate any frame below it (the HTML
   * standard lets a frame's top navigate its descendants), so the host's
   * pages must refuse to be framed by other origins (CSP frame-ancestors
   * 'none', or the host's own origins, as the reference host sends). A
   * document the extension itself navigates to and hands its nonce can
   * receive the port; that is the extension acting for itself, not an
   * escalation. With a real extension origin the exact origin is used.
   */
  #connect(frame: FrameWindow, nonce: string, version: number): void {
    const options = this.#options;
    clearTimeout(this.#handshakeTimer);
    const { api, abortAll } = createWireHostApi({
      scope: options.scope,
      hostApi: options.hostApi,
      callTimeoutMs: options.callTimeoutMs,
      maxBodyBytes: options.maxBodyBytes,
      maxConcurrentCalls: options.maxConcurrentCalls,
      grants: options.grants,
      context: (): ExtensionContext => frameContext(options.context, options.grants, this.#theme),
      resize: (height) => {
        const clamped = Math.round(Math.min(options.maxHeight, Math.max(options.minHeight, height)));
        options.onResize(clamped);
        return clamped;
      },
      subscribeTheme: (port) => this.#subscribeTheme(port),
      disposed: () => this.#state !== "ready",
    });
    this.#abortAll = abortAll;
    const channel = new MessageChannel();
    const port = channel.port1;
    this.#port = port;
    const gate = createFrameRateGate({
      limits: options,
      now: this.#now,
      report: (code, build) => this.#portReports.report(code, build),
      // Not throttled: it happens once, and is what an admin must see. The ports close with the session.
      flood: (error) => {
        this.#report(error);
        this.dispose(error);
      },
    });
    this.#gate = gate;
    // expose() adds a single listener, so each message spends a single token.
    const endpoint = guardEndpoint(
      port,
      methodCallFilter(WIRE_MAX_ARGS),
      (reason) => this.#refusedOnPort(reason, "the host API does not answer"),
      gate.admit((message) => port.postMessage(message)),
    );
    Comlink.expose(api, endpoint);
    const welcome: WelcomeMessage = { type: WELCOME, nonce, version };
    frame.postMessage(welcome, options.targetOrigin, [channel.port2]);
    this.#state = "ready";
    this.#settle?.resolve({ version });
    this.#settle = null;
  }

  #subscribeTheme(port: MessagePort): void {
    if (this.#themeCallbacks.length >= MAX_THEME_SUBSCRIBERS) {
      port.close();
      throw new BridgeError("E_BRIDGE_DENIED", `a frame may register at most ${MAX_THEME_SUBSCRIBERS} theme callbacks`, { operation: "onThemeChange" });
    }
    // The frame holds the other end: what it posts here is as much its traffic as its calls on the bridge
    // port, so it spends the same budget, behind a guard that lets through only answers to deliveries.
    // wrap() adds a single listener, so each message spends a single token.
    const gate = this.#gate;
    if (gate === null) {
      port.close();
      throw new BridgeError("E_BRIDGE_DISPOSED", "onThemeChange arrived after the frame was disposed", { operation: "onThemeChange" });
    }
    const endpoint = guardCallerEndpoint(port, (reason) => this.#refusedOnPort(reason, "on its theme port that is no answer the host waits for"), gate.admit());
    this.#themeCallbacks.push({ remote: Comlink.wrap<ThemeCallback>(endpoint), port });
  }
}

