import { connectIn, type AnnexClient, type ClientEnvironment, type ConnectOptions } from "../../src/client/connect.js";
import type { BridgeError } from "../../src/errors.js";
import type { HostContext } from "../../src/context.js";
import { BRIDGE_CAPABILITIES, type BridgeCapability } from "../../src/grants.js";
import type { HostApi } from "../../src/host/host-api.js";
import { createNonce } from "../../src/host/nonce.js";
import { DEFAULT_RATE_LIMITS } from "../../src/protocol/rate-limits.js";
import { HostSession, type HostSessionOptions } from "../../src/host/session.js";
import type { Theme } from "../../src/theme.js";

/**
 * Drives a HostSession and a client in one test process, without iframes:
 * two EventTargets stand in for the host page's and the frame's windows, and
 * two plain objects for `iframe.contentWindow` and `window.parent`. Messages
 * are delivered on a later task, as postMessage does, with the origin the
 * browser would stamp on them.
 */
export const HOST_ORIGIN = "https://host.example";

export const CONTEXT: HostContext = {
  tenant: "tenant-1",
  user: { id: "user-1", displayName: "Ada Lovelace", email: "ada@example.com" },
  locale: "en-GB",
  extension: { id: "acme.analytics", version: "1.2.0" },
};

export const LIGHT: Theme = { mode: "light", tokens: { "--annex-color-bg": "#ffffff", "--annex-color-text": "#1f2328" } };
export const DARK: Theme = { mode: "dark", tokens: { "--annex-color-bg": "#0d1117", "--annex-space-2": "8px" } };

export function messageEvent(init: { data: unknown; origin: string; source: unknown; ports?: readonly MessagePort[] }): MessageEvent {
  const event = new Event("message");
  Object.defineProperties(event, {
    data: { value: init.data },
    origin: { value: init.origin },
    source: { value: init.source },
    ports: { value: init.ports ?? [] },
  });
  return event as MessageEvent;
}

export interface Posted {
  message: unknown;
  targetOrigin: string;
  transfer: Transferable[];
}

export interface PairOptions {
  hostApi?: HostApi;
  session?: Partial<HostSessionOptions>;
  client?: ConnectOptions;
  /** The origin the frame's messages carry; "null" for an opaque sandbox. */
  frameOrigin?: string;
  root?: HTMLElement | null;
}

export function createPair(options: PairOptions = {}) {
  const hostWindow = new EventTarget();
  const frameSelf = new EventTarget();
  const frameOrigin = options.frameOrigin ?? "null";
  const toFrame: Posted[] = [];
  const toHost: Posted[] = [];
  const rejected: BridgeError[] = [];
  const resizes: number[] = [];

  const parent = {
    postMessage(message: unknown, targetOrigin: string) {
      toHost.push({ message, targetOrigin, transfer: [] });
      setTimeout(() => hostWindow.dispatchEvent(messageEvent({ data: message, origin: frameOrigin, source: frame })), 0);
    },
  };
  const frame = {
    postMessage(message: unknown, targetOrigin: string, transfer: Transferable[] = []) {
      toFrame.push({ message, targetOrigin, transfer });
      const ports = transfer.filter((t): t is MessagePort => typeof (t as MessagePort).postMessage === "function");
      setTimeout(() => frameSelf.dispatchEvent(messageEvent({ data: message, origin: HOST_ORIGIN, source: parent, ports })), 0);
    },
  };

  const nonce = createNonce();
  let forgotten = false;
  const env: ClientEnvironment = {
    self: frameSelf as unknown as ClientEnvironment["self"],
    parent,
    hash: `#annex-nonce=${nonce}`,
    forgetNonce: () => {
      forgotten = true;
    },
    root: options.root === undefined ? null : options.root,
  };

  const session = new HostSession({
    hostWindow: hostWindow as unknown as HostSessionOptions["hostWindow"],
    frameWindow: () => frame,
    expectedOrigin: frameOrigin,
    targetOrigin: frameOrigin === "null" ? "*" : frameOrigin,
    nonce,
    scope: { apiBase: new URL(HOST_ORIGIN), extensionId: CONTEXT.extension.id },
    context: CONTEXT,
    // Everything the bridge enforces, unless a test says otherwise: the tests of refusals pass their own.
    grants: new Set<BridgeCapability>(BRIDGE_CAPABILITIES),
    theme: LIGHT,
    hostApi: options.hostApi ?? {},
    timeoutMs: 2_000,
    callTimeoutMs: 2_000,
    minHeight: 40,
    maxHeight: 800,
    maxBodyBytes: 1024 * 1024,
    maxConcurrentCalls: 8,
    ...DEFAULT_RATE_LIMITS,
    onResize: (height) => resizes.push(height),
    onRejectedMessage: (error) => rejected.push(error),
    ...options.session,
  });

  const clients: AnnexClient[] = [];
  return {
    hostWindow,
    frameSelf,
    frame,
    parent,
    nonce,
    env,
    session,
    toFrame,
    toHost,
    rejected,
    resizes,
    get nonceForgotten() {
      return forgotten;
    },
    /** A message from the frame's window, as the browser would deliver it to the host. */
    sendFromFrame(data: unknown, origin = frameOrigin, source: unknown = frame) {
      hostWindow.dispatchEvent(messageEvent({ data, origin, source }));
    },
    async connect(extra: ConnectOptions = {}): Promise<AnnexClient> {
      const client = await connectIn(env, { timeoutMs: 1_000, callTimeoutMs: 2_000, ...options.client, ...extra });
      clients.push(client);
      return client;
    },
    close() {
      for (const client of clients) client.disconnect();
      session.dispose();
    },
  };
}

export function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

type Pair = ReturnType<typeof createPair>;

/** Says hello by hand, as a hostile frame would, and returns the port from the welcome. */
export async function rawHandshake(pair: Pair, versions = { min: 1, max: 1 }): Promise<MessagePort> {
  pair.sendFromFrame({ type: "annex:hello", nonce: pair.nonce, versions });
  await tick(5);
  const welcome = pair.toFrame.find((posted) => (posted.message as { type?: string }).type === "annex:welcome");
  const port = welcome?.transfer[0] as MessagePort | undefined;
  if (!port) throw new Error("no welcome with a port");
  return port;
}

/** Posts a raw comlink message and resolves with the answer, or "no answer" after `waitMs`. */
export function rawCall(port: MessagePort, message: Record<string, unknown>, waitMs = 150, transfer: Transferable[] = []): Promise<unknown> {
  const id = `raw-${Math.random().toString(36).slice(2)}`;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      port.removeEventListener("message", listener as EventListener);
      resolve("no answer");
    }, waitMs);
    const listener = (event: MessageEvent) => {
      if ((event.data as { id?: string }).id !== id) return;
      clearTimeout(timer);
      port.removeEventListener("message", listener as EventListener);
      resolve(event.data);
    };
    port.addEventListener("message", listener as EventListener);
    port.start();
    port.postMessage({ ...message, id }, transfer);
  });
}

export function raw(value: unknown) {
  return { type: "RAW", value };
}

/** `pair()` makes pairs that `closeAll()` (an afterEach) closes: a test that fails half-way leaves no port open. */
export function pairTracker(): { pair(options?: PairOptions): ReturnType<typeof createPair>; closeAll(): void } {
  const pairs: Array<ReturnType<typeof createPair>> = [];
  return {
    pair(options = {}) {
      const created = createPair(options);
      pairs.push(created);
      return created;
    },
    closeAll() {
      for (const p of pairs.splice(0)) p.close();
    },
  };
}
