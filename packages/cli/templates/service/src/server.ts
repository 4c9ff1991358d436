/**
 * The server code of {{name}}. Every export named in annex.json (an endpoint's
 * `handler`) is called with `(request, ctx)`; `annex pack` bundles this file
 * and what it imports into the single module `server/index.js`.
 *
 * The types come from `@annex/runner/guest` (type-only: nothing of it reaches
 * the bundle). A handler names the part of `ctx` it uses, so a test can hand
 * it just that.
 */
import type { Ctx, GuestRequest, HandlerResult } from "@annex/runner/guest";

/** GET /hello/:name. A handler returns a response ({ status, headers, body }) or any JSON value, sent as a 200. */
export function hello(request: GuestRequest, ctx: Pick<Ctx, "log">): HandlerResult {
  const name = request.params.name ?? "world";
  ctx.log.info(`saying hello to ${name}`);
  return { status: 200, body: { message: `Hello, ${name}!` } };
}
