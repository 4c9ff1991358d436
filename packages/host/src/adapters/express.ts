import express, { type NextFunction, type Request as ExpressRequest, type Response as ExpressResponse, type Router } from "express";
import { problem, problemResponse } from "../gateway/problem.js";
import { serve } from "./node.js";
import { answerOf, checkGateway, clientAddressOf, pathnameOf, writeWebResponse, type GatewayLike } from "./web.js";

export type { GatewayLike } from "./web.js";
export { incomingMessageOf } from "./web.js";

export interface AnnexRouterOptions {
  /** The client's address for per-client rate limits. Default: `req.ip` (which honours Express's "trust proxy"). */
  clientAddress?: ((req: ExpressRequest) => string | undefined) | undefined;
}

/**
 * An Express router serving the gateway's families. Mount it at the app's
 * root (the gateway's prefixes are full paths) and before any body parser:
 * webhooks need the raw body, and the gateway reads bodies itself, with its
 * own size limit.
 *
 * ```ts
 * app.use(annexRouter(gateway));
 * app.use(express.json()); // the app's own routes after it
 * ```
 */
export function annexRouter(gateway: GatewayLike, options: AnnexRouterOptions = {}): Router {
  const owns = checkGateway(gateway, "annexRouter");
  const addressOf = options.clientAddress ?? ((req: ExpressRequest) => req.ip ?? clientAddressOf(req));
  const answer = answerOf(gateway);
  const router = express.Router();
  router.use((req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
    const url = req.originalUrl;
    const pathname = pathnameOf(url);
    if (pathname === null || !owns(pathname)) {
      // Mounted under a path (app.use("/annex", annexRouter(host))): the gateway's prefixes are full paths, so its
      // requests passed by as the app's, silently. Say so to the ones meant for it.
      const below = req.baseUrl === "" ? null : pathnameOf(req.url);
      if (below === null || below === undefined || !owns(below)) return next();
      void writeWebResponse(
        problemResponse(
          problem(
            500,
            "E_INTERNAL",
            `annexRouter is mounted under ${req.baseUrl}, where it never sees its paths (they are full paths): mount it at the app's root, app.use(annexRouter(host)), and set createHost({ gateway: { prefixes } }) to serve the gateway under ${req.baseUrl}`,
          ).problem,
        ),
        res,
        req.method === "HEAD",
      ).catch(() => res.destroy());
      return;
    }
    const consumed = bodyAlreadyRead(req);
    if (consumed === "unusable") {
      void writeWebResponse(
        problemResponse(
          problem(500, "E_INTERNAL", "a body parser read this request before annexRouter; mount annexRouter before express.json() and other body parsers").problem,
        ),
        res,
        req.method === "HEAD",
      ).catch(() => res.destroy());
      return;
    }
    serve(answer, req, res, url, addressOf(req), consumed ?? undefined).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else next(error);
    });
  });
  return router;
}

/**
 * Null when the body is still unread (the normal case); the bytes when
 * express.raw() already buffered them; "unusable" when another parser turned
 * them into something else (the raw bytes are gone).
 */
function bodyAlreadyRead(req: ExpressRequest): Uint8Array | "unusable" | null {
  if (!req.readableEnded && (req as { _body?: boolean })._body !== true) return null;
  if (req.method === "GET" || req.method === "HEAD") return null;
  if (Buffer.isBuffer(req.body)) return req.body;
  const length = req.headers["content-length"];
  const empty = (length === undefined || length === "0") && req.headers["transfer-encoding"] === undefined;
  return empty ? null : "unusable";
}
