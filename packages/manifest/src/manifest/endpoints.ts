import { z } from "zod";
import { secretNameSchema } from "./capabilities.js";
import { handlerNameSchema, routePathSchema } from "./primitives.js";

/**
 * Endpoint classes and where the gateway mounts them:
 * `api` → /api/ext/{id}/… (authenticated principal), `public` → /ext/{id}/public/…
 * (anonymous, rate-limited), `webhook` → /ext/{id}/hooks/… (anonymous, signature
 * checked), `health` → internal only, never routed from outside.
 */
export const ENDPOINT_CLASSES = ["api", "public", "webhook", "health"] as const;
export type EndpointClass = (typeof ENDPOINT_CLASSES)[number];

/** Upper case, one spelling. HEAD is answered from GET and OPTIONS (CORS preflight) by the gateway. */
export const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

const method = z.enum(HTTP_METHODS, { error: `method must be one of ${HTTP_METHODS.join(", ")} (upper case)` });

export const rateLimitSchema = z.strictObject({
  /** Requests allowed per window, per install (and per client address for anonymous classes). */
  requests: z.int().min(1, "requests must be at least 1").max(1_000_000, "requests must be at most 1000000"),
  /** Window length in seconds. */
  perSeconds: z.int().min(1, "perSeconds must be at least 1").max(86_400, "perSeconds must be at most 86400 (one day)"),
});

const ORIGIN_PATTERN = /^https?:\/\/[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::[0-9]{1,5})?$/;

export const corsSchema = z.strictObject({
  /** Exact origins (scheme://host[:port], lowercase, no path), or ["*"] alone for any origin (never with credentials). */
  origins: z
    .array(z.string().regex(/^(?:\*|https?:\/\/.+)$/, 'each origin is "scheme://host[:port]", e.g. https://shop.example.com, or "*"'))
    .min(1, 'list at least one origin, or ["*"]')
    .max(32, "at most 32 origins")
    .superRefine((origins, ctx) => {
      if (origins.includes("*") && origins.length > 1)
        ctx.addIssue({ code: "custom", message: '"*" allows every origin; list it alone or list exact origins', input: origins });
      origins.forEach((origin, index) => {
        if (origin !== "*" && !ORIGIN_PATTERN.test(origin))
          ctx.addIssue({
            code: "custom",
            path: [index],
            message: "an origin is a lowercase scheme://host[:port] with no path or trailing slash, e.g. https://shop.example.com",
            input: origin,
          });
        if (origins.indexOf(origin) !== index) ctx.addIssue({ code: "custom", path: [index], message: `duplicate origin "${origin}"`, input: origin });
      });
    }),
});

/**
 * Request headers a host's gateway never passes to an extension, whatever its
 * policy or a manifest says: the user's credentials, the hop-by-hop headers
 * (RFC 9110 §7.6.1, RFC 2616 §13.5.1) and what only proxies and the host set.
 * The gateway drops exactly these, and a webhook may not name one in its
 * `headers`: it would wait for a header it can never get.
 */
export const NEVER_FORWARDED_REQUEST_HEADERS: readonly string[] = Object.freeze([
  "cookie",
  "set-cookie",
  "authorization",
  "proxy-authorization",
  "proxy-authenticate",
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "forwarded",
  "x-real-ip",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
]);

/** The prefix of the host's own headers: a gateway never forwards them to an extension, nor takes them from one. */
export const HOST_HEADER_PREFIX = "x-annex-";

const NEVER_FORWARDED = new Set(NEVER_FORWARDED_REQUEST_HEADERS);

const webhookHeader = z
  .string()
  .max(64, { message: "header names are at most 64 characters", abort: true })
  .regex(/^[a-z0-9][a-z0-9-]*$/, "header names are lowercase letters, digits and hyphens, e.g. stripe-signature")
  .refine((name) => !NEVER_FORWARDED.has(name) && !name.startsWith(HOST_HEADER_PREFIX), {
    message: `this header is never forwarded to extensions (credentials, hop-by-hop and proxy headers, ${HOST_HEADER_PREFIX}*); name the provider's own header, e.g. stripe-signature`,
  });

const common = {
  path: routePathSchema,
  handler: handlerNameSchema,
};

export const apiEndpointSchema = z.strictObject({
  class: z.literal("api"),
  method,
  ...common,
  rateLimit: rateLimitSchema.optional(),
});

export const publicEndpointSchema = z.strictObject({
  class: z.literal("public"),
  method,
  ...common,
  rateLimit: rateLimitSchema.optional(),
  cors: corsSchema.optional(),
});

export const webhookEndpointSchema = z.strictObject({
  class: z.literal("webhook"),
  method,
  ...common,
  rateLimit: rateLimitSchema.optional(),
  /**
   * `annex`: the core checks Annex's own HMAC signature (timestamp + body, skew
   * window, replay cache) before the handler runs. `extension`: the provider
   * signs (Stripe, GitHub …) and the handler checks it with `secret`, reading
   * the provider's signature `headers`.
   */
  verify: z.enum(["annex", "extension"], { error: 'verify must be "annex" (the core checks the signature) or "extension" (the handler does)' }),
  secret: secretNameSchema.optional(),
  headers: z.array(webhookHeader).max(16, "at most 16 headers").optional(),
});

export const healthEndpointSchema = z.strictObject({
  class: z.literal("health"),
  method: z.literal("GET", { error: "health endpoints are GET only" }),
  ...common,
});

export const endpointSchema = z.discriminatedUnion("class", [apiEndpointSchema, publicEndpointSchema, webhookEndpointSchema, healthEndpointSchema], {
  error: (issue) => {
    const cls = (issue.input as { class?: unknown } | undefined)?.class;
    return cls === undefined
      ? `each endpoint needs a "class": one of ${ENDPOINT_CLASSES.join(", ")}`
      : `unknown endpoint class ${JSON.stringify(cls)}; use one of ${ENDPOINT_CLASSES.join(", ")}`;
  },
});

export type Endpoint = z.output<typeof endpointSchema>;
