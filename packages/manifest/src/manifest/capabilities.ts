import { z } from "zod";
import { EVENT_TYPE_PATTERN, EVENT_TYPE_PATTERN_PATTERN } from "./event-types.js";
import { BIDI_CONTROLS, BIDI_CONTROLS_TEXT, STACKED_MARKS } from "./primitives.js";

/**
 * The closed vocabulary of Annex's built-in capabilities. Each entry in a
 * manifest's `capabilities[]` names one of these (or a host capability,
 * `host:<namespace>.<name>`) with its parameters and a `reason` shown to the
 * admin who consents. A grant is the same object without `reason`.
 */
const reason = z
  .string()
  .trim()
  .min(3, "reason must say, in a sentence an admin can read, why the extension needs this")
  .max(500, { message: "reason must be at most 500 characters", abort: true })
  .refine((value) => !BIDI_CONTROLS.test(value), `reason must not contain bidirectional control characters (${BIDI_CONTROLS_TEXT}): they can make text display as something else`)
  .refine((value) => !STACKED_MARKS.test(value), "reason must not stack more than 8 combining marks on one character: they draw over the text around it");

/**
 * An egress host: a lowercase DNS name of at least two labels, optionally with
 * a leading `*.` wildcard (matching any deeper name, not the base itself) and
 * a `:port`. IP literals, `localhost` and single-label names are refused here;
 * the runner still checks every resolved address against private ranges.
 */
const HOST_LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
export const HOST_PATTERN = new RegExp(`^(?:\\*\\.)?${HOST_LABEL}(?:\\.${HOST_LABEL})+(?::[0-9]{1,5})?$`);

function hostProblem(host: string): string | undefined {
  const [name = "", port] = host.split(":");
  const bare = name.startsWith("*.") ? name.slice(2) : name;
  if (bare.length > 253) return "host names are at most 253 characters";
  if (/^[0-9.]+$/.test(bare)) return "IP addresses are not allowed; name the service by its DNS host name";
  if (bare === "localhost" || bare.endsWith(".localhost")) return "localhost is not an egress host";
  if (!/[a-z]/.test(bare.split(".").at(-1) ?? "")) return "the last label of a host must contain a letter";
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return "port must be between 1 and 65535";
  return undefined;
}

const hostPattern = z
  .string()
  .max(260, { message: "host patterns are at most 260 characters", abort: true })
  .regex(
    HOST_PATTERN,
    "must be a lowercase host name with at least two labels, optionally with a leading '*.' wildcard and a :port (no scheme, no path), e.g. api.example.com or *.example.com",
  )
  .superRefine((host, ctx) => {
    const problem = hostProblem(host);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: host });
  });

export { EVENT_TYPE_PATTERN, EVENT_TYPE_PATTERN_PATTERN } from "./event-types.js";

const eventType = z
  .string()
  .max(128, { message: "event types are at most 128 characters", abort: true })
  .regex(EVENT_TYPE_PATTERN, "must be dot-separated lowercase words, e.g. order.created");

const eventTypePattern = z
  .string()
  .max(130, { message: "event types are at most 128 characters", abort: true })
  .regex(EVENT_TYPE_PATTERN_PATTERN, "must be dot-separated lowercase words, optionally ending in .* (e.g. order.created or order.*)");

export const SECRET_NAME_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;
const secretName = z.string().regex(SECRET_NAME_PATTERN, "must be UPPER_SNAKE_CASE, at most 64 characters, e.g. STRIPE_API_KEY");

/** A list whose items must be distinct; the duplicate is reported at its own index. */
export function uniqueList<T extends z.ZodType<string>>(item: T, what: string, bounds: { min: number; max: number }) {
  return z
    .array(item)
    .min(bounds.min, bounds.min === 1 ? `list at least one ${what}` : `list at least ${bounds.min} ${what}s`)
    .max(bounds.max, `at most ${bounds.max} ${what}s`)
    .superRefine((items, ctx) => {
      const seen = new Set<string>();
      items.forEach((value, index) => {
        if (seen.has(value)) ctx.addIssue({ code: "custom", path: [index], message: `duplicate ${what} "${value}"; list it once`, input: value });
        seen.add(value);
      });
    });
}

export const builtinCapabilityShapes = {
  log: z.strictObject({ name: z.literal("log") }),
  "storage.kv": z.strictObject({ name: z.literal("storage.kv") }),
  "storage.sql": z.strictObject({ name: z.literal("storage.sql") }),
  "http.fetch": z.strictObject({ name: z.literal("http.fetch"), hosts: uniqueList(hostPattern, "host", { min: 1, max: 64 }) }),
  "secrets.read": z.strictObject({ name: z.literal("secrets.read"), names: uniqueList(secretName, "secret name", { min: 1, max: 64 }) }),
  "events.publish": z.strictObject({ name: z.literal("events.publish"), types: uniqueList(eventTypePattern, "event type", { min: 1, max: 128 }) }),
  "events.subscribe": z.strictObject({
    name: z.literal("events.subscribe"),
    types: uniqueList(eventTypePattern, "event type", { min: 1, max: 128 }),
  }),
  "ui.toast": z.strictObject({ name: z.literal("ui.toast") }),
  "user.read": z.strictObject({ name: z.literal("user.read") }),
} as const;

export type BuiltinCapabilityName = keyof typeof builtinCapabilityShapes;
export const BUILTIN_CAPABILITY_NAMES = Object.keys(builtinCapabilityShapes) as BuiltinCapabilityName[];

export function isBuiltinCapabilityName(name: string): name is BuiltinCapabilityName {
  return Object.prototype.hasOwnProperty.call(builtinCapabilityShapes, name);
}

/** `host:` followed by a dotted lowercase name, e.g. `host:crm.contacts.read`. */
export const HOST_CAPABILITY_PATTERN = /^host:[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

const hostCapabilityName = z
  .string()
  .max(128, { message: "host capability names are at most 128 characters", abort: true })
  .regex(HOST_CAPABILITY_PATTERN, "host capabilities are named host:<namespace>.<name>, e.g. host:crm.contacts.read");

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Any JSON value; the params of a host capability until the host's own schema checks them. */
export const jsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValueSchema), z.record(z.string(), jsonValueSchema)], {
    error: "params must be JSON: objects, arrays, strings, finite numbers, booleans and null",
  }),
);

export const hostCapabilityGrantSchema = z.strictObject({
  name: hostCapabilityName,
  /** Parameters checked against the schema the host registered for this capability (any JSON value until then). */
  params: jsonValueSchema.optional(),
});

export type BuiltinCapabilityGrant = {
  [K in BuiltinCapabilityName]: z.infer<(typeof builtinCapabilityShapes)[K]>;
}[BuiltinCapabilityName];
export type HostCapabilityGrant = { name: `host:${string}`; params?: unknown };

/** What an admin grants to an install: a capability with its parameters, without the reason. */
export type CapabilityGrant = BuiltinCapabilityGrant | HostCapabilityGrant;
/** A manifest's request for a capability: the grant it asks for, plus why. */
export type CapabilityRequest = CapabilityGrant & { reason: string };

export const capabilityReasonSchema = reason;
export const hostPatternSchema = hostPattern;
export const eventTypeSchema = eventType;
export const eventTypePatternSchema = eventTypePattern;
export const secretNameSchema = secretName;

export function isHostCapabilityName(name: string): name is `host:${string}` {
  return name.startsWith("host:");
}

/** The list shown when a manifest names a capability that does not exist. */
export function describeCapabilityVocabulary(): string {
  return `${BUILTIN_CAPABILITY_NAMES.join(", ")}, or a host capability host:<namespace>.<name>`;
}

const shapes = builtinCapabilityShapes;
const builtinRequestSchema = z.discriminatedUnion("name", [
  shapes.log.extend({ reason }),
  shapes["storage.kv"].extend({ reason }),
  shapes["storage.sql"].extend({ reason }),
  shapes["http.fetch"].extend({ reason }),
  shapes["secrets.read"].extend({ reason }),
  shapes["events.publish"].extend({ reason }),
  shapes["events.subscribe"].extend({ reason }),
  shapes["ui.toast"].extend({ reason }),
  shapes["user.read"].extend({ reason }),
]);

/**
 * One entry of `capabilities[]`. The built-in and host halves are a union, so
 * the JSON Schema shows both; `parseManifest` picks the half the `name` asks
 * for when reporting problems, so a bad `hosts` entry is reported as such and
 * an unknown name lists the vocabulary.
 */
const capabilityRequestUnion = z.union(
  [
    builtinRequestSchema,
    // The name check aborts, so a built-in entry's problems are never blamed on the host half.
    hostCapabilityGrantSchema.extend({
      name: z.string().regex(HOST_CAPABILITY_PATTERN, { message: "host capabilities are named host:<namespace>.<name>", abort: true }).max(128),
      reason,
    }),
  ],
  {
    error: (issue) => {
      const name = (issue.input as { name?: unknown } | undefined)?.name;
      if (typeof name === "string" && isHostCapabilityName(name))
        return `"${name}" is not a valid host capability name: use host:<namespace>.<name>, e.g. host:crm.contacts.read`;
      if (typeof name !== "string") return `each capability needs a "name": one of ${describeCapabilityVocabulary()}`;
      return `unknown capability "${name}"; valid capabilities are ${describeCapabilityVocabulary()}`;
    },
  },
);

/** What an author writes for one capability (the input side of `capabilityRequestSchema`). */
export type CapabilityRequestInput = z.input<typeof capabilityRequestUnion>;

// The union's inferred output types a host capability's name as plain string; the
// pattern guarantees the "host:" prefix, so the schema is typed as the request it checks.
export const capabilityRequestSchema = capabilityRequestUnion as unknown as z.ZodType<CapabilityRequest, CapabilityRequestInput>;

/** One grant as the host stores it: a capability request without its reason. */
export const capabilityGrantSchema = z.union([
  z.discriminatedUnion("name", [
    shapes.log,
    shapes["storage.kv"],
    shapes["storage.sql"],
    shapes["http.fetch"],
    shapes["secrets.read"],
    shapes["events.publish"],
    shapes["events.subscribe"],
    shapes["ui.toast"],
    shapes["user.read"],
  ]),
  hostCapabilityGrantSchema,
]) as unknown as z.ZodType<CapabilityGrant>;
