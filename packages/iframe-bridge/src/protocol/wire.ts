import { BridgeError, isBridgeErrorCode, type BridgeErrorData } from "../errors.js";
import type { ExtensionContext } from "../context.js";
import type { BridgeFetchInit, BridgeResponse } from "./fetch.js";
import type { Toast } from "./toast.js";

/**
 * The host API as it travels over the port. Every method resolves to a
 * result envelope instead of throwing: a typed error crosses as plain data
 * ({ code, message, details }) and the client turns it back into a
 * BridgeError. Nothing from the host's stack reaches the frame.
 */
export type WireResult<T> = { ok: true; value: T } | { ok: false; error: BridgeErrorData };

export interface WireHostApi {
  fetch(path: string, init?: BridgeFetchInit): Promise<WireResult<BridgeResponse>>;
  navigate(path: string): Promise<WireResult<null>>;
  toast(toast: Toast): Promise<WireResult<null>>;
  resize(height: number): Promise<WireResult<number>>;
  getContext(): Promise<WireResult<ExtensionContext>>;
  /** Takes a MessagePort on which the extension exposes `(theme) => Promise<void>` with comlink. */
  onThemeChange(port: MessagePort): Promise<WireResult<null>>;
}

export type WireMethod = keyof WireHostApi;

/** The only property paths the host's comlink endpoint answers; see guard.ts. */
export const WIRE_METHODS: readonly WireMethod[] = Object.freeze(["fetch", "navigate", "toast", "resize", "getContext", "onThemeChange"]);

/**
 * The most arguments each method takes, which the host's guard holds calls to: an argument a method
 * ignores still costs the host page its decoding (a getContext call carrying a 60,000-object array,
 * 80 times a second, stalled it for over half a second at a time), so a call with one more is refused
 * and reported like any other malformed call. Checked against WireHostApi: a new method, or a new
 * parameter, does not compile until its count here is right.
 */
export const WIRE_MAX_ARGS = Object.freeze({
  fetch: 2,
  navigate: 1,
  toast: 1,
  resize: 1,
  getContext: 0,
  onThemeChange: 1,
} as const satisfies { readonly [M in WireMethod]: Required<Parameters<WireHostApi[M]>>["length"] });

/** Strips anything that does not survive JSON, so details stay plain data. */
function plainDetails(details: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> | undefined {
  if (details === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(details)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * BridgeErrors keep their code and message; anything else becomes
 * E_BRIDGE_HOST with a generic message, because an arbitrary host error may
 * carry internals (URLs, SQL, tokens) the frame must not see.
 */
export function toWireError(error: unknown, operation: string): BridgeErrorData {
  if (error instanceof BridgeError) {
    const details = plainDetails(error.details);
    return details === undefined ? { code: error.code, message: error.message } : { code: error.code, message: error.message, details };
  }
  return { code: "E_BRIDGE_HOST", message: `the host could not complete ${operation}; try again, or ask the host's administrator to check its logs` };
}

export function fromWireError(data: unknown, operation: string): BridgeError {
  if (typeof data === "object" && data !== null) {
    const { code, message, details } = data as Partial<BridgeErrorData>;
    if (isBridgeErrorCode(code) && typeof message === "string") {
      return new BridgeError(code, message, typeof details === "object" && details !== null ? details : undefined);
    }
  }
  return new BridgeError("E_BRIDGE_PROTOCOL", `the host answered ${operation} with a malformed error`, { operation });
}

export function unwrapResult<T>(result: unknown, operation: string): T {
  if (typeof result === "object" && result !== null && "ok" in result) {
    const envelope = result as WireResult<T>;
    if (envelope.ok === true) return envelope.value;
    if (envelope.ok === false) throw fromWireError(envelope.error, operation);
  }
  throw new BridgeError("E_BRIDGE_PROTOCOL", `the host answered ${operation} with something other than a result envelope`, { operation });
}
