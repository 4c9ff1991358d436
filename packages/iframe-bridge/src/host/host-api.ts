import { BridgeError } from "../errors.js";
import type { ExtensionContext } from "../context.js";
import type { BridgeCapability } from "../grants.js";
import { parseSafeRelativePath } from "../paths.js";
import { bodyExceeds, fetchInitSchema, RESPONSE_HEADER_ALLOWLIST, type BridgeResponse } from "../protocol/fetch.js";
import { toastSchema, type Toast } from "../protocol/toast.js";
import { toWireError, type WireHostApi, type WireResult } from "../protocol/wire.js";
import { parseOrThrow } from "../validate.js";
import { resolveApiUrl, type ApiScope } from "./api-url.js";

/**
 * What the host application supplies. Each is optional; a call whose
 * handler is missing is refused with E_BRIDGE_DENIED. A handler may throw a
 * BridgeError to send its code and message to the extension; any other
 * error reaches the extension as a generic E_BRIDGE_HOST.
 */
export interface HostApi {
  /** Performs api.fetch; defaults to the page's fetch. Wrap it to add CSRF headers, tracing … */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** The extension asks to show another of its pages; return false to refuse. */
  navigate?: (path: string, meta: { extensionId: string }) => boolean | void | Promise<boolean | void>;
  /** Show a notification; render `message` as text, never as HTML. */
  toast?: (toast: Toast, meta: { extensionId: string }) => void | Promise<void>;
}

export interface HostApiDeps {
  scope: ApiScope;
  hostApi: HostApi;
  callTimeoutMs: number;
  maxBodyBytes: number;
  maxConcurrentCalls: number;
  /** The bridge capabilities the install was granted. */
  grants: ReadonlySet<BridgeCapability>;
  context: () => ExtensionContext;
  /** Clamps, applies and returns the height. */
  resize: (height: number) => number;
  /** Keeps a comlink callback for theme changes; throws when the frame has too many. */
  subscribeTheme: (port: MessagePort) => void;
  disposed: () => boolean;
}

type Handler = (...args: unknown[]) => Promise<WireResult<unknown>>;

function requireGrant(grants: ReadonlySet<BridgeCapability>, capability: BridgeCapability, operation: string): void {
  if (grants.has(capability)) return;
  throw new BridgeError(
    "E_BRIDGE_CAPABILITY_DENIED",
    `${operation} needs the ${capability} capability, which this install was not granted; add it to the manifest's capabilities and have an admin consent to it`,
    { capability, operation },
  );
}

/**
 * Builds the object the host exposes over the port. Each call is checked
 * (disposed? too many in flight?), validated, bounded by callTimeoutMs
 * (its AbortSignal fires on timeout and on abortAll), and answered with a
 * result envelope.
 */
export function createWireHostApi(deps: HostApiDeps): { api: WireHostApi; abortAll: () => void } {
  const inflight = new Set<AbortController>();
  const extensionId = deps.scope.extensionId;

  function serve<T>(operation: string, work: (signal: AbortSignal) => Promise<T> | T): Promise<WireResult<T>> {
    if (deps.disposed()) {
      return Promise.resolve({ ok: false, error: { code: "E_BRIDGE_DISPOSED", message: `${operation} arrived after the frame was disposed` } });
    }
    if (inflight.size >= deps.maxConcurrentCalls) {
      return Promise.resolve({
        ok: false,
        error: { code: "E_BRIDGE_DENIED", message: `too many calls in flight (limit ${deps.maxConcurrentCalls}); wait for some to finish` },
      });
    }
    const controller = new AbortController();
    inflight.add(controller);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new BridgeError("E_BRIDGE_TIMEOUT", `${operation} did not finish within ${deps.callTimeoutMs} ms on the host`, { operation, timeoutMs: deps.callTimeoutMs }));
      }, deps.callTimeoutMs);
    });
    const running = Promise.resolve().then(() => work(controller.signal));
    running.catch(() => undefined); // it may lose the race; its rejection is not news
    return Promise.race([running, deadline]).then(
      (value): WireResult<T> => ({ ok: true, value }),
      (error: unknown): WireResult<T> => ({ ok: false, error: toWireError(error, operation) }),
    ).finally(() => {
      clearTimeout(timer);
      inflight.delete(controller);
    });
  }

  const hostFetch = deps.hostApi.fetch ?? ((url: string, init: RequestInit) => globalThis.fetch(url, init));
  const exposedHeaders = new Set(RESPONSE_HEADER_ALLOWLIST);

  const handlers: Record<keyof WireHostApi, Handler> = {
    fetch: (path, init) =>
      serve("api.fetch", async (signal): Promise<BridgeResponse> => {
        const url = resolveApiUrl(path, deps.scope);
        const options = parseOrThrow(fetchInitSchema, init ?? {}, "api.fetch init");
        const method = options.method ?? "GET";
        const body = options.body ?? null;
        if (body !== null && (method === "GET" || method === "HEAD")) {
          throw new BridgeError("E_BRIDGE_ARGS", `api.fetch init.body is not allowed with ${method}; use POST, PUT or PATCH`, { field: "api.fetch init.body" });
        }
        if (body !== null && bodyExceeds(body, deps.maxBodyBytes)) {
          throw new BridgeError("E_BRIDGE_ARGS", `api.fetch init.body is larger than ${deps.maxBodyBytes} bytes; send less per request`, { field: "api.fetch init.body", maxBytes: deps.maxBodyBytes });
        }
        const response = await hostFetch(url.href, {
          method,
          headers: options.headers ?? {},
          body: body as BodyInit | null,
          // The user's session, and only on the host's own origin.
          credentials: "same-origin",
          // A redirect chosen by the extension's server could point the user's session anywhere; never follow it.
          redirect: "manual",
          signal,
        });
        if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400 && response.headers.has("location"))) {
          throw new BridgeError("E_BRIDGE_DENIED", `api.fetch ${url.pathname} answered with a redirect; the bridge does not follow redirects, return the data instead`, {
            status: response.status,
          });
        }
        const headers: Record<string, string> = {};
        response.headers.forEach((value, name) => {
          if (exposedHeaders.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
        });
        const responseBody = options.responseType === "arrayBuffer" ? await response.arrayBuffer() : await response.text();
        return { status: response.status, statusText: response.statusText, headers, body: responseBody };
      }),

    navigate: (path) =>
      serve("navigate", async () => {
        const target = parseSafeRelativePath(path, { field: "navigate path", allowQuery: true });
        const navigate = deps.hostApi.navigate;
        if (!navigate) throw new BridgeError("E_BRIDGE_DENIED", "this host does not let extensions navigate", { operation: "navigate" });
        const answer = await navigate(`${target.path}${target.query}`, { extensionId });
        if (answer === false) throw new BridgeError("E_BRIDGE_DENIED", `the host refused to navigate to ${JSON.stringify(target.path)}`, { operation: "navigate" });
        return null;
      }),

    toast: (input) =>
      serve("toast", async () => {
        // Before validation: a frame without the grant learns nothing from the host but "not granted".
        requireGrant(deps.grants, "ui.toast", "toast");
        const toast = parseOrThrow(toastSchema, input, "toast");
        const show = deps.hostApi.toast;
        if (!show) throw new BridgeError("E_BRIDGE_DENIED", "this host does not show toasts from extensions", { operation: "toast" });
        await show({ kind: toast.kind, message: toast.message }, { extensionId });
        return null;
      }),

    resize: (height) =>
      serve("resize", () => {
        if (typeof height !== "number" || !Number.isFinite(height) || height < 0) {
          throw new BridgeError("E_BRIDGE_ARGS", "resize height must be a finite number of CSS pixels, 0 or more", { field: "height" });
        }
        return deps.resize(height);
      }),

    getContext: () => serve("getContext", () => deps.context()),

    onThemeChange: (port) =>
      serve("onThemeChange", () => {
        // A structured-cloned value cannot carry functions, so this only matches a real, transferred MessagePort.
        const candidate = port as Partial<MessagePort> | null;
        if (typeof candidate !== "object" || candidate === null || typeof candidate.postMessage !== "function" || typeof candidate.start !== "function") {
          throw new BridgeError("E_BRIDGE_ARGS", "onThemeChange expects a transferred MessagePort; use connect() from @annex/iframe-bridge/client", { field: "port" });
        }
        deps.subscribeTheme(port as MessagePort);
        return null;
      }),
  };

  return {
    api: Object.freeze(Object.assign(Object.create(null) as object, handlers)) as unknown as WireHostApi,
    abortAll: () => {
      for (const controller of inflight) controller.abort();
      inflight.clear();
    },
  };
}
