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
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (error) {
      // The caller's connection broke (or its stream failed) mid-body: its fault, not the host's.
      throw problem(400, "E_BAD_REQUEST", "the request body could not be read to its end; send it again", {
        reason: `body stream failed: ${String((error as Error)?.message ?? error).slice(0, 200)}`,
      });
    }
    const { done, value } = chunk;
    if (done) break;
    if (!(value instanceof Uint8Array)) {
      await reader.cancel().catch(() => {});
      throw problem(400, "E_BAD_REQUEST", "the request body is not a byte stream", { reason: "body stream yielded something other than bytes" });
    }
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
/** For `raw`: a leading byte order mark stays in the text, which must re-encode to the very bytes a provider signed. */
const utf8Exact = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Deepest nesting of arrays and objects a JSON body may have. A body of a
 * few kilobytes can nest thousands deep, which nothing downstream (the
 * envelope's serialisation, the sandbox, the handler) is built for.
 */
export const MAX_JSON_DEPTH = 128;

/** How deep `text` nests, counted without parsing it (and without recursion): brackets outside strings. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i++; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (char === 0x5d || char === 0x7d) depth--;
  }
  return deepest;
}

function decodeUtf8(bytes: Uint8Array, decoder = utf8): string | null {
  try {
    return decoder.decode(bytes);
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
  if (raw) return decodeUtf8(bytes, utf8Exact) ?? bytes;
  const type = (contentType ?? "").split(";", 1)[0]!.trim().toLowerCase();
  if (type === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    const text = decodeUtf8(bytes);
    if (text !== null && jsonDepth(text) > MAX_JSON_DEPTH) {
      throw problem(400, "E_JSON_TOO_DEEP", `the JSON request body nests arrays and objects more than ${MAX_JSON_DEPTH} deep; send a flatter body`, {
        extra: { maxDepth: MAX_JSON_DEPTH },
        reason: `JSON body nested more than ${MAX_JSON_DEPTH} levels`,
      });
    }
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
