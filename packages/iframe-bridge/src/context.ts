import * as z from "zod/mini";
import { themeSchema, type Theme } from "./theme.js";
import { parseOrThrow } from "./validate.js";

/** The signed-in user, as the host knows them (the `user` of its principal). */
export interface ContextUser {
  id: string;
  displayName?: string | undefined;
  email?: string | undefined;
}

/**
 * What an extension page may know about where it runs. Deliberately small:
 * the tenant the install belongs to, the locale, the theme, and the
 * signed-in user only when the install was granted `user.read`; no tokens,
 * no cookies, no roles.
 */
export interface ExtensionContext {
  tenant: string;
  /** Present only when the install was granted `user.read` and the host passed a user. */
  user?: ContextUser | undefined;
  locale: string;
  theme: Theme;
  extension: { id: string; version: string };
  /**
   * The install's settings (the values of the manifest's `config`, as the
   * admin set them, defaults applied), when the host passed them: how a
   * bundle-class extension, which has no server code, learns its settings.
   * Never secrets (those are separate and reach only server code).
   */
  config?: ConfigValues | undefined;
}

/** Install settings: setting key → value, as the manifest's config types allow. */
export type ConfigValues = Record<string, string | number | boolean>;

/** Bounds of ConfigValues, those of the manifest's `config` (64 settings, keys of 64 characters, strings of 65536). */
export const MAX_CONFIG_VALUES = 64;
const MAX_CONFIG_STRING = 65_536;
const CONFIG_KEY = /^[a-zA-Z][a-zA-Z0-9_]{0,63}$/;

/**
 * The context a host passes to mountExtensionFrame; the theme is passed and
 * updated separately. Pass the user whatever the grants: the bridge hands it
 * to the frame only when the install's grants include `user.read`.
 */
export type HostContext = Omit<ExtensionContext, "theme">;

/** Same shape as EXTENSION_ID_PATTERN in @annex/manifest: "<publisher>.<name>", lowercase. */
export const EXTENSION_ID = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*\.[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

const text = (field: string, max: number) =>
  z.string().check(
    z.minLength(1, `${field} must not be empty`),
    z.maxLength(max, `${field} must be at most ${max} characters`),
    z.refine((value) => !/[\u0000-\u001f\u007f-\u009f]/.test(value), `${field} must not contain control characters`),
  );

export const extensionIdSchema = z.string().check(
  z.maxLength(57, "extension id must be at most 57 characters"),
  z.regex(EXTENSION_ID, 'extension id must be "<publisher>.<name>" in lowercase letters, digits and single hyphens, e.g. acme.analytics'),
);

export const hostContextSchema = z.strictObject({
  tenant: text("tenant", 128),
  user: z.optional(
    z.strictObject({
      id: text("user.id", 256),
      displayName: z.optional(text("user.displayName", 128)),
      email: z.optional(text("user.email", 254)),
    }),
  ),
  locale: z.string().check(z.regex(/^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*$/, 'locale must be a BCP 47 tag such as "en" or "fr-CA"')),
  extension: z.strictObject({
    id: extensionIdSchema,
    version: z.string().check(
      z.maxLength(64, "extension.version must be at most 64 characters"),
      z.regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/, "extension.version must be a semantic version such as 1.2.0"),
    ),
  }),
  config: z.optional(
    z
      .record(
        z.string().check(z.regex(CONFIG_KEY, "config keys are letters, digits and _ (at most 64), starting with a letter")),
        z.union([
          z.string().check(z.maxLength(MAX_CONFIG_STRING, `config values are at most ${MAX_CONFIG_STRING} characters`)),
          z.number().check(z.refine(Number.isFinite, "config numbers must be finite")),
          z.boolean(),
        ]),
      )
      .check(z.refine((values) => Object.keys(values).length <= MAX_CONFIG_VALUES, `config holds at most ${MAX_CONFIG_VALUES} settings`)),
  ),
});

export const extensionContextSchema = z.strictObject({ ...hostContextSchema.shape, theme: themeSchema });

/**
 * The same shape as a page reads it from its host: fields it does not know
 * are dropped, not refused, so that a page built with this client keeps
 * working under a newer host whose context says more (as `config` was added).
 * What it knows is checked as strictly as ever.
 */
const contextFromHostSchema = z.object({ ...hostContextSchema.shape, theme: themeSchema });

export function parseHostContext(value: unknown, field = "context"): HostContext {
  return parseOrThrow(hostContextSchema, value, field);
}

export function parseExtensionContext(value: unknown, field = "context"): ExtensionContext {
  return parseOrThrow(extensionContextSchema, value, field);
}

/** The context a page receives from its host, for connect(): unknown fields dropped (see contextFromHostSchema). */
export function parseContextFromHost(value: unknown, field = "context from the host"): ExtensionContext {
  return parseOrThrow(contextFromHostSchema, value, field);
}
