import { problem } from "./problem.js";

/**
 * Reads a request body into memory, refusing it with 413 as soon as it is
 * known to exceed `limit`: from Content-Length before reading anything, and
 * while streaming for bodies without one (the rest is never read).
 */
export async function readBody(request: Request, limit: number): Promise<Uint8Array | null> {
  if (request.body === null) return null;
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > limit) {
    await request.body.cancel().catch(() => {});
    throw tooLarge(limit, `content-length ${declared}`);
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit, `more than ${limit} bytes streamed`);
    }
    chunks.push(value);
  }
  if (total === 0) return null;
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function tooLarge(limit: number, reason: string) {
  return problem(413, "E_PAYLOAD_TOO_LARGE", `the request body is larger than this endpoint accepts (${limit} bytes); send a smaller body`, {
    extra: { limit },
    reason,
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * The body as the sandbox receives it (see SandboxRequest.body): parsed JSON
 * for JSON content types, a string for text, bytes otherwise, null when empty.
 * `raw` keeps the exact bytes for an extension that checks a provider's
 * signature itself: a string when they are valid UTF-8 (which round-trips
 * exactly), bytes otherwise.
 */
export function parseBody(bytes: Uint8Array | null, contentType: string | null, raw = false): unknown {
  if (bytes === null || bytes.byteLength === 0) return null;
  if (raw) return decodeUtf8(bytes) ?? bytes;
  const type = (contentType ?? "").split(";", 1)[0]!.trim().toLowerCase();
  if (type === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    const text = decodeUtf8(bytes);
    try {
      if (text === null) throw new Error("not UTF-8");
      return JSON.parse(text) as unknown;
    } catch {
      throw problem(400, "E_BAD_REQUEST", "the request body is not valid JSON (content-type says JSON); fix the body or the content-type");
    }
  }
  if (type.startsWith("text/") || type === "application/x-www-form-urlencoded" || type === "application/xml" || type.endsWith("+xml")) {
    return decodeUtf8(bytes) ?? bytes;
  }
  return bytes;
}

/** Query parameters; a name given more than once becomes an array. */
export function parseQuery(search: URLSearchParams): Record<string, string | string[]> {
  // A Map, then own data properties: a parameter named __proto__ stays a parameter.
  const query = new Map<string, string | string[]>();
  for (const [name, value] of search) {
    const existing = query.get(name);
    if (existing === undefined) query.set(name, value);
    else if (Array.isArray(existing)) existing.push(value);
    else query.set(name, [existing, value]);
  }
  return Object.fromEntries(query);
}
