import * as Comlink from "comlink";
import { BridgeError } from "../errors.js";
import { parseContextFromHost, type ExtensionContext } from "../context.js";
import { callbackFilter, guardEndpoint } from "../guard.js";
import { PendingCalls } from "../pending.js";
import { fetchInitSchema, type BridgeFetchInit, type BridgeResponse } from "../protocol/fetch.js";
import { HELLO, isTyped, NONCE_PARAM, NONCE_PATTERN, REJECT, rejectSchema, WELCOME, welcomeSchema, type HelloMessage } from "../protocol/messages.js";
import { toastSchema, type Toast } from "../protocol/toast.js";
import { fromWireError, unwrapResult, type WireHostApi, type WireMethod } from "../protocol/wire.js";
import { parseTheme, type Theme } from "../theme.js";
import { parseOrThrow } from "../validate.js";
import { SUPPORTED_VERSIONS } from "../version.js";
import { applyTheme as applyThemeTo } from "./apply-theme.js";
import { watchHeight } from "./auto-resize.js";
import { paceResizes } from "./resize-pacer.js";

export interface ConnectOptions {
  /** How long to wait for the host's welcome; default 5 000 ms. */
  timeoutMs?: number;
  /** How long each host API call may take before it fails with E_BRIDGE_TIMEOUT; default 30 000 ms. */
  callTimeoutMs?: number;
  /**
   * The origin(s) of the host page. When set, the hello is posted to that
   * origin only and a welcome from any other origin is ignored; set it when
   * you know where your extension is embedded.
   */
  hostOrigin?: string | readonly string[];
  /** Keep the iframe's height fitted to the page (ResizeObserver); default true. */
  autoResize?: boolean;
  /** Apply the host's theme tokens on :root at connect and on change; default true. */
  applyTheme?: boolean;
}

export type ThemeListener = (theme: Theme) => void | Promise<void>;

/** The host API as an extension page sees it. Every call validates, times out, and throws BridgeError. */
export interface AnnexClient {
  /** The bridge protocol version agreed with the host. */
  readonly version: number;
  /** The context received at connect, with the current theme. */
  readonly context: ExtensionContext;
  readonly api: {
    /** Calls the extension's own `/api/ext/{id}/…` endpoints with the user's session; paths are relative to that prefix. */
    fetch(path: string, init?: BridgeFetchInit): Promise<BridgeResponse>;
  };
  /** Asks the host to show another of this extension's pages. */
  navigate(path: string): Promise<void>;
  toast(toast: Toast): Promise<void>;
  /** Asks for a frame height in CSS pixels; resolves with the height the host applied (clamped). */
  resize(height: number): Promise<number>;
  getContext(): Promise<ExtensionContext>;
  /** Runs `listener` after each theme change (the tokens are already applied); returns an unsubscribe function. */
  onThemeChange(listener: ThemeListener): () => void;
  /** Stops auto-resize, rejects pending calls with E_BRIDGE_DISPOSED and closes the port. */
  disconnect(): void;
}

/** Everything connect() touches in the page, so tests can supply their own. */
export interface ClientEnvironment {
  self: Pick<Window, "addEventListener" | "removeEventListener">;
  /** window.parent, or null for a top-level page. */
  parent: { postMessage(message: unknown, targetOrigin: string): void } | null;
  /** location.hash at connect. */
  hash: string;
  /** Removes the nonce from the address once it is spent. */
  forgetNonce(): void;
  /** Where theme tokens go and whose height is watched; null to do neither. */
  root: HTMLElement | null;
}

function browserEnvironment(): ClientEnvironment {
  if (typeof window === "undefined" || typeof document === "undefined") {
    throw new BridgeError("E_BRIDGE_NO_HOST", "connect() runs in an extension page inside a browser; there is no window here", { reason: "no-window" });
  }
  return {
    self: window,
    parent: window.parent && window.parent !== window ? window.parent : null,
    hash: window.location.hash,
    forgetNonce() {
      try {
        history.replaceState(history.state, "", `${location.pathname}${location.search}`);
      } catch {
        // Some sandboxes refuse history changes; the nonce is burnt anyway.
      }
    },
    root: document.documentElement,
  };
}

function timeoutOption(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 600_000) {
    throw new BridgeError("E_BRIDGE_ARGS", `${field} must be an integer number of milliseconds from 1 to 600000`, { field });
  }
  return value;
}

function hostOrigins(value: ConnectOptions["hostOrigin"]): string[] | null {
  if (value === undefined) return null;
  const list = typeof value === "string" ? [value] : [...value];
  for (const origin of list) {
    let ok = false;
    try {
      ok = new URL(origin).origin === origin;
    } catch {
      ok = false;
    }
    if (!ok) throw new BridgeError("E_BRIDGE_ARGS", `hostOrigin ${JSON.stringify(origin)} must be an exact origin such as https://app.example.com`, { field: "hostOrigin" });
  }
  if (list.length === 0) throw new BridgeError("E_BRIDGE_ARGS", "hostOrigin must name at least one origin", { field: "hostOrigin" });
  return list;
}

/** Waits for the host's welcome and returns its port and the agreed version. */
function handshake(env: ClientEnvironment, parent: NonNullable<ClientEnvironment["parent"]>, nonce: string, origins: string[] | null, timeoutMs: number) {
  return new Promise<{ port: MessagePort; version: number }>((resolve, reject) => {
    const finish = (error: BridgeError | null, value?: { port: MessagePort; version: number }) => {
      clearTimeout(timer);
      env.self.removeEventListener("message", listener as EventListener);
      if (error) reject(error);
      else resolve(value!);
    };
    const listener = (event: MessageEvent) => {
      // Only the parent window speaks for the host, and only from an expected origin when one is configured.
      if (event.source !== parent) return;
      if (origins !== null && !origins.includes(event.origin)) return;
      if (isTyped(event.data, WELCOME)) {
        const welcome = welcomeSchema.safeParse(event.data);
        const port = event.ports?.[0];
        if (!welcome.success || welcome.data.nonce !== nonce || port === undefined) return;
        finish(null, { port, version: welcome.data.version });
      } else if (isTyped(event.data, REJECT)) {
        const refusal = rejectSchema.safeParse(event.data);
        if (!refusal.success || refusal.data.nonce !== nonce) return;
        finish(fromWireError(refusal.data.error, "the handshake"));
      }
    };
    const timer = setTimeout(
      () =>
        finish(
          new BridgeError(
            "E_BRIDGE_NO_HOST",
            `no Annex host answered within ${timeoutMs} ms: open this page through the host application (mountExtensionFrame), not directly`,
            { reason: "timeout", timeoutMs },
          ),
        ),
      timeoutMs,
    );
    env.self.addEventListener("message", listener as EventListener);
    const hello: HelloMessage = { type: HELLO, nonce, versions: { ...SUPPORTED_VERSIONS } };
    // Without a known host origin the hello goes to "*": it carries only the
    // nonce, which is worthless to anyone but the host that minted it for this frame.
    parent.postMessage(hello, origins?.length === 1 ? origins[0]! : "*");
  });
}

/** Connects this extension page to the Annex host that framed it. */
export function connect(options: ConnectOptions = {}): Promise<AnnexClient> {
  try {
    return connectIn(browserEnvironment(), options);
  } catch (error) {
    return Promise.reject(error);
  }
}

export async function connectIn(env: ClientEnvironment, options: ConnectOptions = {}): Promise<AnnexClient> {
  const timeoutMs = timeoutOption(options.timeoutMs, "timeoutMs", 5_000);
  const callTimeoutMs = timeoutOption(options.callTimeoutMs, "callTimeoutMs", 30_000);
  const origins = hostOrigins(options.hostOrigin);
  const parent = env.parent;
  if (parent === null) {
    throw new BridgeError("E_BRIDGE_NO_HOST", "this page is not inside a frame: open it through the Annex host application, which mounts it with mountExtensionFrame()", {
      reason: "no-parent",
    });
  }
  const nonce = new URLSearchParams(env.hash.replace(/^#/, "")).get(NONCE_PARAM);
  if (nonce === null || !NONCE_PATTERN.test(nonce)) {
    throw new BridgeError("E_BRIDGE_NO_HOST", `the page address carries no #${NONCE_PARAM}: it was not mounted by an Annex host (mountExtensionFrame), or it was reloaded; ask the host to mount it again`, {
      reason: "no-nonce",
    });
  }

  const { port, version } = await handshake(env, parent, nonce, origins, timeoutMs);
  env.forgetNonce();

  const remote = Comlink.wrap<WireHostApi>(port);
  const pending = new PendingCalls();
  const listeners = new Set<ThemeListener>();
  let stopResize: () => void = () => undefined;
  let themePort: MessagePort | null = null;
  let connected = true;

  async function call<T>(method: WireMethod, args: unknown[], operation: string = method): Promise<T> {
    if (!connected) throw new BridgeError("E_BRIDGE_DISPOSED", `${operation} was called after disconnect()`, { operation });
    const send = (remote[method] as unknown as (...a: unknown[]) => Promise<unknown>)(...args).catch((error: unknown) => {
      if (error instanceof Error && error.name === "DataCloneError") {
        throw new BridgeError("E_BRIDGE_ARGS", `${operation} arguments must be plain data (strings, numbers, objects, arrays, ArrayBuffers)`, { operation }, { cause: error });
      }
      throw error;
    });
    return unwrapResult<T>(await pending.run(send, callTimeoutMs, operation), operation);
  }

  let context = parseContextFromHost(await call<unknown>("getContext", []));
  const root = env.root;
  const applyThemes = options.applyTheme !== false && root !== null;
  if (applyThemes) applyThemeTo(context.theme, root);

  // The host calls this through a comlink proxy on a port of our own, guarded like the host's.
  const receiveTheme = Object.assign(
    async (incoming: unknown) => {
      const theme = parseTheme(incoming, "theme from the host");
      context = { ...context, theme };
      if (applyThemes) applyThemeTo(theme, root);
      await Promise.allSettled([...listeners].map((listener) => Promise.resolve().then(() => listener(theme))));
    },
    { [Comlink.finalizer]: () => themePort?.close() },
  );
  const themeChannel = new MessageChannel();
  themePort = themeChannel.port1;
  Comlink.expose(receiveTheme, guardEndpoint(themeChannel.port1, callbackFilter(1), () => undefined));
  await call<null>("onThemeChange", [Comlink.transfer(themeChannel.port2, [themeChannel.port2])]);

  const client: AnnexClient = {
    version,
    get context() {
      return context;
    },
    api: {
      fetch: async (path, init) => {
        if (init !== undefined) parseOrThrow(fetchInitSchema, init, "api.fetch init");
        // A message copies a view's whole buffer, and the host measures that: send a view of part of one as its own bytes.
        const body = init?.body;
        const sent = body instanceof Uint8Array && body.byteLength !== body.buffer.byteLength ? { ...init, body: body.slice() } : init;
        return call<BridgeResponse>("fetch", sent === undefined ? [path] : [path, sent], "api.fetch");
      },
    },
    navigate: async (path) => {
      await call<null>("navigate", [path]);
    },
    toast: async (toast) => {
      parseOrThrow(toastSchema, toast, "toast");
      await call<null>("toast", [toast]);
    },
    resize: (height) => call<number>("resize", [height]),
    getContext: async () => {
      context = parseContextFromHost(await call<unknown>("getContext", []));
      return context;
    },
    onThemeChange(listener) {
      if (typeof listener !== "function") throw new BridgeError("E_BRIDGE_ARGS", "onThemeChange expects a function", { field: "listener" });
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    disconnect() {
      if (!connected) return;
      connected = false;
      stopResize();
      listeners.clear();
      pending.close(new BridgeError("E_BRIDGE_DISPOSED", "the bridge was disconnected"));
      themePort?.close();
      port.close();
    },
  };

  if (options.autoResize !== false && root !== null) {
    const resizes = paceResizes((height) => client.resize(height));
    const unwatch = watchHeight(root, (height) => resizes.report(height));
    stopResize = () => {
      unwatch();
      resizes.stop();
    };
  }
  return client;
}
