import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { asBufferSource, toHex } from "./bytes.js";

/**
 * SHA-256 through WebCrypto when the runtime has it (native, about ten times
 * faster than JavaScript here) and @noble/hashes otherwise (insecure browser
 * contexts, where `crypto.subtle` is undefined, and older runtimes).
 */
export type Sha256Backend = "webcrypto" | "noble";

let forced: Sha256Backend | null = null;

function subtle(): SubtleCrypto | undefined {
  const candidate = globalThis.crypto?.subtle;
  return typeof candidate?.digest === "function" ? candidate : undefined;
}

export function sha256Backend(): Sha256Backend {
  return forced ?? (subtle() ? "webcrypto" : "noble");
}

/** For tests and benchmarks: pin a backend, or pass null to detect again. Not part of the public API. */
export function forceSha256Backend(backend: Sha256Backend | null): void {
  forced = backend;
}

/** The SHA-256 digest of `bytes` (32 bytes). */
export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  const webCrypto = sha256Backend() === "webcrypto" ? subtle() : undefined;
  if (webCrypto) return new Uint8Array(await webCrypto.digest("SHA-256", asBufferSource(bytes)));
  return nobleSha256(bytes);
}

/** The SHA-256 digest of `bytes` as 64 lowercase hex digits. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(await sha256(bytes));
}
