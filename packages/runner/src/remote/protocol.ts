import type { BundleSignature } from "@annex/manifest";
import type { WireError } from "../pool/host-bridge.js";
import { RemoteRunnerError } from "./errors.js";
import { parseWire } from "./wire.js";

/**
 * The shapes of the remote runner protocol's bodies, and their checks. Bodies
 * are parsed only after the request's signature was verified, but a key holder
 * can still send nonsense: every shape is checked and refused with E_BAD_REQUEST.
 */
export interface LoadBody {
  /** base64 of the .annex archive exactly as the host verified it. */
  bundle: string;
  signature: BundleSignature | null;
}

export type HostCallAnswer = { ok: true; value: unknown } | { ok: false; error: WireError };

/** A frame of the execute stream, as the client reads it. */
export type ExecuteFrame =
  | { type: "host-call"; callId: string; method: string; args: unknown[] }
  /** `bodyText`: the response's object or array body as JSON, as the server's pool made it (the result's own body is then null). */
  | { type: "result"; result: unknown; bodyText?: unknown };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function isValidRequestId(value: unknown): value is string {
  return typeof value === "string" && REQUEST_ID.test(value);
}

function parseJson(body: Uint8Array, what: string, wire: boolean): unknown {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(body);
    return wire ? parseWire(text) : JSON.parse(text);
  } catch {
    throw new RemoteRunnerError("E_BAD_REQUEST", `${what} must be UTF-8 JSON`);
  }
}

export function parseLoadBody(body: Uint8Array): { bytes: Uint8Array; signature: unknown } {
  const parsed = parseJson(body, "load body", false) as Partial<LoadBody> | null;
  if (parsed === null || typeof parsed !== "object" || typeof parsed.bundle !== "string") {
    throw new RemoteRunnerError("E_BAD_REQUEST", 'load body must be {"bundle": "<base64 .annex bytes>", "signature": {...} | null}');
  }
  if (parsed.signature !== null && (typeof parsed.signature !== "object" || parsed.signature === undefined)) {
    throw new RemoteRunnerError("E_BAD_REQUEST", "signature: must be the bundle's detached signature object, or null for an unsigned dev bundle");
  }
  const bytes = Buffer.from(parsed.bundle, "base64");
  return { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), signature: parsed.signature };
}

export function parseHostCallAnswer(body: Uint8Array): HostCallAnswer {
  const parsed = parseJson(body, "host-call answer", true) as Record<string, unknown> | null;
  // `value` may be absent: JSON has no undefined, and a host API may answer with nothing.
  if (parsed !== null && typeof parsed === "object" && parsed.ok === true) {
    return { ok: true, value: parsed.value };
  }
  const error = parsed?.error as Record<string, unknown> | undefined;
  if (parsed !== null && typeof parsed === "object" && parsed.ok === false && error && typeof error.code === "string" && typeof error.message === "string") {
    return {
      ok: false,
      error: {
        code: error.code,
        message: error.message,
        ...(error.details && typeof error.details === "object" ? { details: error.details as Record<string, unknown> } : {}),
      },
    };
  }
  throw new RemoteRunnerError("E_BAD_REQUEST", 'host-call answer must be {"ok": true, "value": ...} or {"ok": false, "error": {"code", "message"}}');
}
