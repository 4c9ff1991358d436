import { z } from "zod";

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
  .max(500);

const hostPattern = z
  .string()
  .regex(
    /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$/,
    "must be a lowercase host name, optionally with a leading '*.' wildcard label and a :port (no scheme, no path)",
  );

const eventType = z
  .string()
  .regex(/^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/, "must be dot-separated lowercase words, e.g. order.created");

const secretName = z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, "must be UPPER_SNAKE_CASE, e.g. STRIPE_API_KEY");

export const builtinCapabilityShapes = {
  log: z.object({ name: z.literal("log") }),
  "storage.kv": z.object({ name: z.literal("storage.kv") }),
  "storage.sql": z.object({ name: z.literal("storage.sql") }),
  "http.fetch": z.object({ name: z.literal("http.fetch"), hosts: z.array(hostPattern).max(64) }),
  "secrets.read": z.object({ name: z.literal("secrets.read"), names: z.array(secretName).min(1).max(64) }),
  "events.publish": z.object({ name: z.literal("events.publish"), types: z.array(eventType).min(1).max(128) }),
  "events.subscribe": z.object({ name: z.literal("events.subscribe"), types: z.array(z.string().min(1)).min(1).max(128) }),
  "ui.toast": z.object({ name: z.literal("ui.toast") }),
  "user.read": z.object({ name: z.literal("user.read") }),
} as const;

export type BuiltinCapabilityName = keyof typeof builtinCapabilityShapes;
export const BUILTIN_CAPABILITY_NAMES = Object.keys(builtinCapabilityShapes) as BuiltinCapabilityName[];

/** `host:` followed by a dotted lowercase name, e.g. `host:crm.contacts.read`. */
export const HOST_CAPABILITY_PATTERN = /^host:[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

export const hostCapabilityGrantSchema = z.object({
  name: z.string().regex(HOST_CAPABILITY_PATTERN, "host capabilities are named host:<namespace>.<name>, e.g. host:crm.contacts.read"),
  /** Parameters checked against the schema the host registered for this capability. */
  params: z.unknown().optional(),
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
export const secretNameSchema = secretName;

export function isHostCapabilityName(name: string): name is `host:${string}` {
  return name.startsWith("host:");
}
