import type { IncomingMessage } from "node:http";
import { RemoteRunnerError } from "./errors.js";

/**
 * Reads a request body into memory, refusing it as soon as it passes `limit`
 * (from Content-Length when the client sends one, else while streaming). It is
 * called only once the request's headers authenticated it. A refused body is
 * not drained: the caller answers and closes the connection.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks, size);
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

function tooLarge(limit: number): RemoteRunnerError {
  return new RemoteRunnerError("E_BODY_TOO_LARGE", `request body exceeds the server's limit of ${limit} bytes`, { limit });
}
