/**
 * The server code of the Hello example. Every export named in annex.json (an
 * endpoint's `handler`) is called with `(request, ctx)`; `annex pack` bundles
 * this file and what it imports into the single module `server/index.js`.
 */
import type { Ctx, GuestRequest, GuestResponse, Json } from "@annex/runner/guest";

/** What the handlers use of ctx: a test can hand them just this. */
type HelloCtx = Pick<Ctx, "log" | "principal">;

const MAX_NAME_LENGTH = 64;
const GREETINGS = ["Hello", "Hi", "Good morning", "Good evening", "Welcome"] as const;
type Greeting = (typeof GREETINGS)[number];

function badRequest(message: string): GuestResponse {
  return { status: 400, body: { error: { code: "E_BAD_REQUEST", message } } };
}

/** A display name: trimmed, 1 to 64 characters, no control characters. */
function checkName(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const name = value.trim();
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || name.length > MAX_NAME_LENGTH || /[\u0000-\u001f\u007f]/.test(name)) return null;
  return name;
}

/** GET /hello/:name → 200 { message } */
export function hello(request: GuestRequest, ctx: HelloCtx): GuestResponse {
  const name = checkName(request.params.name);
  if (name === null) return badRequest(`name must be 1 to ${MAX_NAME_LENGTH} characters of text`);
  ctx.log.info(`saying hello to ${name}`);
  return { status: 200, body: { message: `Hello, ${name}!` } };
}

/**
 * POST /greetings with a JSON body `{ "name": "Ada", "greeting"?: "Welcome" }`
 * → 201 { message, greeting, by }. The principal (the signed-in user of the
 * host application) is named as the sender.
 */
export async function greet(request: GuestRequest, ctx: HelloCtx): Promise<GuestResponse> {
  const body = request.body;
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return badRequest('send a JSON object such as { "name": "Ada" }');
  }
  const fields = body as Record<string, Json>;
  const name = checkName(fields.name);
  if (name === null) return badRequest(`name must be 1 to ${MAX_NAME_LENGTH} characters of text`);
  const greeting = fields.greeting ?? "Hello";
  if (!GREETINGS.includes(greeting as Greeting)) return badRequest(`greeting must be one of ${GREETINGS.join(", ")}`);

  // ctx.principal.user is there only because annex.json asks for user.read (and the admin granted it).
  const by = ctx.principal?.user?.displayName ?? ctx.principal?.user?.id ?? "someone";
  ctx.log.info(`${by} greets ${name} with "${greeting as string}"`);
  return { status: 201, body: { message: `${greeting as string}, ${name}!`, greeting, by } };
}
