import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ANSWER, RawAnswer, type Answer, type AnswerEntry, type AnswerFn } from "../gateway/answer.js";
import { knownBytes } from "../gateway/body-bytes.js";
import { GatewayError } from "../gateway/errors.js";
import { parseGatewayPath, resolvePrefixes, type GatewayPrefixes } from "../gateway/paths.js";
import { problem, problemResponse } from "../gateway/problem.js";
import type { RequestInfo } from "../gateway/types.js";

/** What the adapters serve: a Host from createHost({ gateway }) (or its `host.gateway`). */
export interface GatewayLike {
  handle(request: Request, info?: RequestInfo): Promise<Response>;
  owns?(pathname: string): boolean;
  readonly prefixes?: Readonly<GatewayPrefixes>;
}

export function checkGateway(gateway: GatewayLike, where: string): (pathname: string) => boolean {
  if (gateway === null || typeof gateway !== "object" || typeof gateway.handle !== "function") {
    throw new GatewayError("E_GATEWAY_OPTIONS", `${where}: pass the host from createHost({ gateway: { authenticate } })`, { field: "gateway" });
  }
  if (typeof gateway.owns === "function") return (pathname) => gateway.owns!(pathname);
  const prefixes = resolvePrefixes(gateway.prefixes);
  return (pathname) => parseGatewayPath(pathname, prefixes) !== null;
}

/** The gateway's pipeline stopping short of a web Response where the gateway offers it (a host, its gateway), else `handle()`. */
export function answerOf(gateway: GatewayLike): AnswerFn {
  const entry = (gateway as { [ANSWER]?: AnswerEntry })[ANSWER];
  // Only while `handle` is still the one it stands for: a replaced handle is the caller's and is called.
  if (entry !== undefined && entry !== null && entry.handle === gateway.handle && typeof entry.answer === "function") return entry.answer;
  return (request, info) => gateway.handle(request, info);
}

const HOST_HEADER = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** The pathname of a request-target in origin form, or null for anything else ("*", absolute form). */
export function pathnameOf(url: string | undefined): string | null {
  if (url === undefined || !url.startsWith("/")) return null;
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

export class BadRequest extends Error {}

/** The Node request each web Request was made from (see `incomingMessageOf`). */
const incoming = new WeakMap<Request, IncomingMessage>();

/**
 * The Node request (an Express `req`, with what your middleware put on it:
 * `req.session`, `req.user`) that an adapter made this web Request from; for
 * `authenticate`, which is handed the web Request. Undefined for a Request
 * that did not come through `annexRouter` or `createNodeHandler`.
 *
 * ```ts
 * authenticate: (request) => {
 *   const req = incomingMessageOf(request) as express.Request | undefined;
 *   const user = req?.session?.user; // express-session, mounted before annexRouter
 *   return user ? { tenant: user.tenant, user: { id: user.id }, roles: user.roles } : null;
 * }
 * ```
 */
export function incomingMessageOf(request: Request): IncomingMessage | undefined {
  return incoming.get(request);
}

/**
 * A web Request over a Node request, without copying the body: it streams
 * from the socket into the gateway, which reads it only after the cheap
 * checks (routing, rate limit, Content-Length) have passed. `url` is the
 * request-target to use (Express may have rewritten req.url; pass originalUrl).
 */
export function toWebRequest(req: IncomingMessage, url: string, body?: Uint8Array): Request {
  if (!url.startsWith("/")) throw new BadRequest("the request-target must be a path");
  const rawHost = req.headers.host;
  const host = rawHost !== undefined && HOST_HEADER.test(rawHost) ? rawHost : "localhost";
  const scheme = (req.socket as { encrypted?: boolean }).encrypted === true ? "https" : "http";
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.startsWith(":")) continue;
    try {
      headers.append(name, raw[i + 1]!);
    } catch {
      throw new BadRequest(`invalid header ${name.slice(0, 64)}`);
    }
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  // No AbortSignal: the gateway never waits on the client once the body is read, and one per request costs ~2 % of throughput.
  const init: RequestInit & { duplex?: "half" } = { method, headers };
  if (hasBody) {
    if (body !== undefined) init.body = body as Uint8Array<ArrayBuffer>;
    else {
      init.body = bodyStream(req);
      init.duplex = "half";
    }
  }
  let target: URL;
  try {
    target = new URL(`${scheme}://${host}${url}`);
  } catch {
    throw new BadRequest("the request cannot be represented");
  }
  // What the app's own middleware matched in front of the adapter (a guard on /api/ext/acme.crm) is the raw path;
  // URL parsing resolves dot segments, encoded dots and backslashes ('/api/ext/x/../acme.crm/…'), and the gateway
  // would route that. A path that parsing changes is refused, so both always see the same one.
  if (target.pathname !== pathnameOf(url)) {
    throw new BadRequest("the path is not in normal form (dot segments, encoded dots, backslashes or characters that must be percent-encoded): send the path it stands for");
  }
  let request: Request;
  try {
    request = new Request(target, init);
  } catch {
    throw new BadRequest("the request cannot be represented");
  }
  incoming.set(request, req);
  return request;
}

/**
 * The request body as a web stream, pulled from the socket only as fast as
 * the gateway reads it. (Readable.toWeb throws an uncaught ERR_INVALID_STATE
 * when data arrives after the consumer cancelled, e.g. after a 413.) A body
 * left unread is marked so that the connection closes after the response
 * instead of reading the rest of an upload nobody wants.
 */
function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  let done = false;
  const state = req as IncomingMessage & { [UNREAD]?: boolean };
  state[UNREAD] = true;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        req.pause();
        req.on("data", (chunk: Buffer) => {
          if (done) return;
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) req.pause();
        });
        req.once("end", () => {
          state[UNREAD] = false;
          if (done) return;
          done = true;
          controller.close();
        });
        req.once("error", (error) => {
          if (done) return;
          done = true;
          controller.error(error);
        });
      },
      pull() {
        req.resume();
      },
      cancel() {
        done = true;
        req.pause();
      },
    },
    { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength },
  );
}

const UNREAD = Symbol("annex.unreadBody");

/** True when the gateway answered without reading the whole request body. */
export function bodyLeftUnread(req: IncomingMessage): boolean {
  return (req as IncomingMessage & { [UNREAD]?: boolean })[UNREAD] === true && !req.readableEnded;
}

const SMALL_BODY = 1024 * 1024;

/**
 * Writes what the gateway answered: an in-memory answer in one writeHead and
 * one end (Node validates every header name and value there as it does in
 * setHeader), a web Response as below.
 */
export async function writeAnswer(answer: Answer, res: ServerResponse, head: boolean, closeConnection = false): Promise<void> {
  if (!(answer instanceof RawAnswer)) return writeWebResponse(answer, res, head, closeConnection);
  const fields: string[] = [];
  for (const [name, value] of answer.headers) {
    if (name !== "set-cookie") fields.push(name, value);
  }
  for (const cookie of answer.headers.getSetCookie()) fields.push("set-cookie", cookie);
  // The rest of an unread body would be parsed as the next request on a kept-alive connection.
  if (closeConnection) fields.push("connection", "close");
  res.writeHead(answer.status, fields);
  if (head) res.end();
  else if (answer.text !== undefined) res.end(answer.text, "utf8");
  else if (answer.body === null) res.end();
  else res.end(answer.body);
}

/** Streams a web Response into a Node response, honouring backpressure; stops when the client goes away. */
export async function writeWebResponse(response: Response, res: ServerResponse, head: boolean, closeConnection = false): Promise<void> {
  res.statusCode = response.status;
  // The rest of an unread body would be parsed as the next request on a kept-alive connection.
  if (closeConnection) res.setHeader("connection", "close");
  for (const [name, value] of response.headers) {
    if (name === "set-cookie") continue;
    res.setHeader(name, value);
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  if (response.body === null || head) {
    await response.body?.cancel().catch(() => {});
    res.end();
    return;
  }
  // Bodies the gateway made in memory (the common case) go out in one write; the rest streams.
  const bytes = knownBytes(response);
  if (bytes !== undefined) {
    res.end(bytes);
    return;
  }
  const length = Number(response.headers.get("content-length") ?? NaN);
  if (length <= SMALL_BODY) {
    res.end(Buffer.from(await response.arrayBuffer()));
    return;
  }
  await pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>), res);
}

/** Answers a request the adapter could not turn into a web Request. */
export function writeBadRequest(res: ServerResponse, reason: string): Promise<void> {
  return writeWebResponse(problemResponse(problem(400, "E_BAD_REQUEST", `the request is malformed: ${reason}`).problem), res, false);
}

/** The client's address for per-client rate limits (the socket's; a host behind a proxy passes its own). */
export function clientAddressOf(req: IncomingMessage): string | undefined {
  return req.socket.remoteAddress;
}
