/**
 * The server code of {{name}}. Every export named in annex.json (an endpoint's
 * `handler`) is called with `(request, ctx)`; `annex pack` bundles this file
 * and what it imports into the single module `server/index.js`.
 */
import type { AnnexContext, AnnexRequest, AnnexResponse } from "./annex-types.js";

/** GET /hello/:name */
export function hello(request: AnnexRequest, ctx: AnnexContext): AnnexResponse {
  const name = request.params.name ?? "world";
  ctx.log.info(`saying hello to ${name}`);
  return { status: 200, body: { message: `Hello, ${name}!` } };
}
