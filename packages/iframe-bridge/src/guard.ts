import type { Endpoint } from "comlink";

/**
 * comlink's expose() answers any message on its endpoint: GET and SET of any
 * property path (including "__proto__" and "constructor"), CONSTRUCT,
 * ENDPOINT, RELEASE, and argument values revived by its transfer handlers.
 * Exposed as is, the host API object would let a frame read the host realm's
 * prototypes, overwrite Object.prototype members with proxies that call back
 * into the frame, or close the host's end of the port (RELEASE).
 *
 * guardEndpoint() sits between a MessagePort and expose(): it forwards only
 * messages a filter accepts and reports the rest. The filter decides on the
 * structured-cloned data, which has no getters, so what is checked is what
 * comlink reads.
 */
export type Filter = (data: unknown) => string | null;

/**
 * Runs before the filter on every message; false means the message was
 * dealt with (answered, counted) and goes no further. The host's rate limit
 * sits here so that a refused message costs no filtering at all.
 */
export type Admit = (data: unknown) => boolean;

type Listener = EventListenerOrEventListenerObject;

export function guardEndpoint(port: MessagePort, filter: Filter, onRefused: (reason: string, data: unknown) => void, admit?: Admit): Endpoint {
  const wrapped = new Map<Listener, EventListener>();
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) => port.postMessage(message, transfer ?? []),
    addEventListener(type: string, listener: Listener) {
      const guarded: EventListener = (event) => {
        const data = (event as MessageEvent).data;
        if (admit !== undefined && !admit(data)) return;
        const reason = filter(data);
        if (reason !== null) {
          onRefused(reason, data);
          return;
        }
        if (typeof listener === "function") listener(event);
        else listener.handleEvent(event);
      };
      wrapped.set(listener, guarded);
      port.addEventListener(type, guarded);
    },
    removeEventListener(type: string, listener: Listener) {
      const guarded = wrapped.get(listener);
      if (guarded === undefined) return;
      wrapped.delete(listener);
      port.removeEventListener(type, guarded);
    },
    start: () => port.start(),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A comlink message id as the guard accepts it: a non-empty string of at most 128 characters. */
export function validId(id: unknown): boolean {
  return typeof id === "string" && id.length > 0 && id.length <= 128;
}

/** Arguments must be comlink RAW values: no transfer handler ("proxy", "throw") runs on input. */
function rawArguments(list: unknown, max: number): boolean {
  return Array.isArray(list) && list.length <= max && list.every((arg) => isRecord(arg) && arg.type === "RAW" && "value" in arg);
}

/** Accepts APPLY of one of `methods` (own names, path of length 1) with at most `maxArgs` RAW arguments. */
export function methodCallFilter(methods: readonly string[], maxArgs: number): Filter {
  const allowed = new Set(methods);
  return (data) => {
    if (!isRecord(data)) return "not an object";
    if (!validId(data.id)) return "missing or malformed id";
    if (data.type !== "APPLY") return `message type ${JSON.stringify(String(data.type)).slice(0, 40)} is not allowed; only method calls are`;
    const path = data.path;
    if (!Array.isArray(path) || path.length !== 1 || typeof path[0] !== "string" || !allowed.has(path[0])) {
      return "the call names no method of the host API";
    }
    if (!rawArguments(data.argumentList, maxArgs)) return "arguments must be plain data";
    return null;
  };
}

/** Accepts calling the exposed function itself (path []) with RAW arguments, and RELEASE. */
export function callbackFilter(maxArgs: number): Filter {
  return (data) => {
    if (!isRecord(data)) return "not an object";
    if (!validId(data.id)) return "missing or malformed id";
    if (data.type === "RELEASE") return null;
    if (data.type !== "APPLY") return "only calls and release are allowed";
    if (!Array.isArray(data.path) || data.path.length !== 0) return "only the callback itself can be called";
    if (!rawArguments(data.argumentList, maxArgs)) return "arguments must be plain data";
    return null;
  };
}
