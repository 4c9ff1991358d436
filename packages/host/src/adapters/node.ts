import type { IncomingMessage, ServerResponse } from "node:http";
import { problem, problemResponse } from "../gateway/problem.js";
import type { AnswerFn } from "../gateway/answer.js";
import { BadRequest, answerOf, bodyLeftUnread, checkGateway, clientAddressOf, pathnameOf, toWebRequest, writeAnswer, writeBadRequest, writeWebResponse, type GatewayLike } from "./web.js";

export type { GatewayLike } from "./web.js";
export { incomingMessageOf } from "./web.js";

export interface NodeHandlerOptions {
  /** Called for requests outside the gateway's prefixes. Default: a 404 problem document. */
  next?: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  /** The client's address for per-client rate limits. Default: the socket's; behind a proxy, read your proxy's header here. */
  clientAddress?: ((req: IncomingMessage) => string | undefined) | undefined;
}

/**
 * A node:http request listener serving the gateway's families:
 *
 * ```ts
 * http.createServer(createNodeHandler(gateway, { next: app })).listen(3000);
 * ```
 */
export function createNodeHandler(gateway: GatewayLike, options: NodeHandlerOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const owns = checkGateway(gateway, "createNodeHandler");
  const addressOf = options.clientAddress ?? clientAddressOf;
  const answer = answerOf(gateway);
  return (req, res) => {
    const pathname = pathnameOf(req.url);
    if (pathname === null || !owns(pathname)) {
      if (options.next !== undefined) return options.next(req, res);
      void writeWebResponse(problemResponse(problem(404, "E_NOT_FOUND", "no such path").problem), res, req.method === "HEAD").catch(() => res.destroy());
      return;
    }
    void serve(answer, req, res, req.url!, addressOf(req)).catch(() => res.destroy());
  };
}

export async function serve(answer: AnswerFn, req: IncomingMessage, res: ServerResponse, url: string, clientAddress: string | undefined, body?: Uint8Array): Promise<void> {
  let request: Request;
  try {
    request = toWebRequest(req, url, body);
  } catch (error) {
    if (error instanceof BadRequest) return writeBadRequest(res, error.message);
    throw error;
  }
  await writeAnswer(await answer(request, { clientAddress }), res, req.method === "HEAD", bodyLeftUnread(req));
}
