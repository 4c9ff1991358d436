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

/**
 * Accepts APPLY of one of the methods `maxArgs` names (path of length 1) with at most as many RAW arguments
 * as it gives that method: each method its own count, so no call carries data its method never reads.
 */
export function methodCallFilter(maxArgs: Readonly<Record<string, number>>): Filter {
  // A Map of the own entries: "constructor" or "toString" must not be found on Object.prototype.
  const allowed = new Map(Object.entries(maxArgs));
  return (data) => {
    if (!isRecord(data)) return "not an object";
    if (!validId(data.id)) return "missing or malformed id";
    if (data.type !== "APPLY") return `message type ${JSON.stringify(String(data.type)).slice(0, 40)} is not allowed; only method calls are`;
    const path = data.path;
    const method: unknown = Array.isArray(path) && path.length === 1 ? path[0] : undefined;
    const max = typeof method === "string" ? allowed.get(method) : undefined;
    if (max === undefined) return "the call names no method of the host API";
    if (Array.isArray(data.argumentList) && data.argumentList.length > max) {
      return `${String(method)} takes at most ${max} argument${max === 1 ? "" : "s"}; the call carried ${data.argumentList.length}`;
    }
    if (!rawArguments(data.argumentList, max)) return "arguments must be plain data";
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

/**
 * The guard for a port this side only calls through (comlink's wrap(): the host's end of a frame's theme
 * callback). The other side may answer, and nothing else: accepted is a RAW answer, or a "throw" one (how
 * comlink sends a rejection), to a call made through this endpoint and not answered yet. Refused: calls,
 * a "proxy" answer (comlink would wrap a port of the sender's choosing), an answer to no call, a second answer.
 */
export function guardCallerEndpoint(port: MessagePort, onRefused: (reason: string, data: unknown) => void, admit?: Admit): Endpoint {
  const awaited = new Set<string>();
  const filter: Filter = (data) => {
    if (!isRecord(data)) return "not an object";
    if (!validId(data.id)) return "missing or malformed id";
    const answer = data.type === "RAW" || (data.type === "HANDLER" && data.name === "throw");
    if (!answer) return `message type ${JSON.stringify(String(data.type)).slice(0, 40)} is not allowed; only answers are`;
    if (!("value" in data)) return "an answer without a value";
    if (!awaited.delete(data.id as string)) return "an answer to no call that is waiting for one";
    return null;
  };
  const guarded = guardEndpoint(port, filter, onRefused, admit);
  return {
    ...guarded,
    postMessage(message: unknown, transfer?: Transferable[]) {
      const id = isRecord(message) ? message.id : undefined;
      if (validId(id)) awaited.add(id as string);
      guarded.postMessage(message, transfer);
    },
  };
}
