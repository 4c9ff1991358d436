/**
 * The request body as bytes. The browser SDK sends the envelope as text
 * (`text/plain`, so the gateway hands a string), the Node SDK as bytes with
 * no content type, gzip-compressed above 32 KiB (`Content-Encoding: gzip`,
 * a header the gateway does not pass on: the gzip magic number tells).
 * Decompression stops at `maxBytes`, so a small gzip bomb costs nothing.
 */
import { Gunzip, strToU8 } from "fflate";
import { IngestError } from "./errors.js";

export const MAX_ENVELOPE_BYTES = 512 * 1024;
const SLICE = 256;

export function bodyBytes(body: unknown, maxBytes = MAX_ENVELOPE_BYTES): Uint8Array {
  let bytes: Uint8Array;
  if (typeof body === "string") bytes = strToU8(body);
  else if (body instanceof Uint8Array) bytes = body;
  else if (body !== null && typeof body === "object") bytes = strToU8(JSON.stringify(body)); // an envelope of one JSON line sent as application/json
  else throw new IngestError(400, "E_ENVELOPE", "the request has no body: send a Sentry envelope");
  return isGzip(bytes) ? gunzip(bytes, maxBytes) : bytes;
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function gunzip(bytes: Uint8Array, maxBytes: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const inflater = new Gunzip((chunk) => {
    total += chunk.length;
    if (total > maxBytes) throw new IngestError(413, "E_ENVELOPE_TOO_LARGE", `the envelope inflates to more than ${maxBytes} bytes`);
    chunks.push(chunk);
  });
  try {
    // fflate inflates all it is given before calling back: fed in small slices (gzip expands at most ~1032×),
    // the check above stops a bomb within a few hundred KiB of the limit instead of after inflating all of it.
    for (let at = 0; at < bytes.length; at += SLICE) inflater.push(bytes.subarray(at, at + SLICE), at + SLICE >= bytes.length);
  } catch (error) {
    if (error instanceof IngestError) throw error;
    throw new IngestError(400, "E_ENVELOPE", `the gzip body does not inflate: ${(error as Error).message}`);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
