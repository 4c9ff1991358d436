import { z } from "zod";
import { text } from "./primitives.js";

/**
 * Install-time settings. `config` is a record from setting key to its
 * definition; the admin fills the values in when installing. A setting is
 * either `required` (no default: the admin must give a value) or optional with
 * an optional `default`; defaults must satisfy their own setting.
 */
export const CONFIG_SETTING_TYPES = ["string", "number", "integer", "boolean", "enum", "url"] as const;
export type ConfigSettingType = (typeof CONFIG_SETTING_TYPES)[number];

/** The longest URL a `url` setting holds, as a default or as an install's value. */
export const MAX_URL_LENGTH = 2048;

export const CONFIG_KEY_PATTERN = /^[a-zA-Z][a-zA-Z0-9_]{0,63}$/;
export const MAX_CONFIG_SETTINGS = 64;

const base = {
  description: text("description", 500).optional(),
  required: z.boolean().default(false),
};

const lengthBound = z.int().min(0, "lengths are at least 0").max(65_536, "lengths are at most 65536");
const numberBound = z.number().refine(Number.isFinite, { message: "must be a finite number" });

export const stringSettingSchema = z.strictObject({
  type: z.literal("string"),
  ...base,
  default: z.string().max(65_536).optional(),
  minLength: lengthBound.optional(),
  maxLength: lengthBound.optional(),
});

export const numberSettingSchema = z.strictObject({
  type: z.literal("number"),
  ...base,
  default: numberBound.optional(),
  min: numberBound.optional(),
  max: numberBound.optional(),
});

export const integerSettingSchema = z.strictObject({
  type: z.literal("integer"),
  ...base,
  default: z.int().optional(),
  min: z.int().optional(),
  max: z.int().optional(),
});

export const booleanSettingSchema = z.strictObject({
  type: z.literal("boolean"),
  ...base,
  default: z.boolean().optional(),
});

export const enumSettingSchema = z.strictObject({
  type: z.literal("enum"),
  ...base,
  values: z
    .array(z.string().min(1, "enum values must not be empty").max(128, "enum values are at most 128 characters"))
    .min(1, "list at least one value")
    .max(256, "at most 256 values"),
  default: z.string().optional(),
});

export const urlSettingSchema = z.strictObject({
  type: z.literal("url"),
  ...base,
  default: z.string().max(MAX_URL_LENGTH, `URLs are at most ${MAX_URL_LENGTH} characters`).optional(),
});

export const configSettingSchema = z.discriminatedUnion(
  "type",
  [stringSettingSchema, numberSettingSchema, integerSettingSchema, booleanSettingSchema, enumSettingSchema, urlSettingSchema],
  {
    error: (issue) => {
      const type = (issue.input as { type?: unknown } | undefined)?.type;
      return type === undefined
        ? `each setting needs a "type": one of ${CONFIG_SETTING_TYPES.join(", ")}`
        : `unknown setting type ${JSON.stringify(type)}; use one of ${CONFIG_SETTING_TYPES.join(", ")}`;
    },
  },
);

export const configSchema = z
  .record(
    z.string().regex(CONFIG_KEY_PATTERN, "setting keys start with a letter and use letters, digits and _ (at most 64 characters), e.g. apiBaseUrl"),
    configSettingSchema,
  )
  .refine((record) => Object.keys(record).length <= MAX_CONFIG_SETTINGS, { message: `at most ${MAX_CONFIG_SETTINGS} settings` })
  // For editors (JSON Schema), and read by oversizedLists before the settings are parsed.
  .meta({ maxProperties: MAX_CONFIG_SETTINGS });

export type ConfigSetting = z.output<typeof configSettingSchema>;

// C0 controls, space, DEL, C1 controls and any other Unicode whitespace (NBSP, U+2028, U+3000…).
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what is refused.
const URL_UNSAFE = /[\u0000-\u0020\u007f-\u009f\s]/u;

/**
 * The one rule for a `url` setting, its manifest default and an install's
 * value alike (hosts use it too): an absolute http(s) URL with a host name,
 * no credentials, at most MAX_URL_LENGTH characters, and no whitespace or
 * control characters anywhere. The URL parser silently drops tabs and line
 * breaks and trims controls, so "https://api.example.com<TAB>.evil.test/"
 * would be shown as one host and mean another; a URL holding none means one thing.
 */
export function isHttpUrl(value: string): boolean {
  if (typeof value !== "string" || value.length > MAX_URL_LENGTH || !/^https?:\/\//i.test(value) || URL_UNSAFE.test(value)) return false;
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "" && url.username === "" && url.password === "";
  } catch {
    return false;
  }
}

/** Problems with one setting's own consistency (bounds, default), as [path within the setting, message]. */
export function settingProblems(setting: Record<string, unknown>): Array<[Array<string | number>, string]> {
  const problems: Array<[Array<string | number>, string]> = [];
  const def = setting["default"];
  if (setting["required"] === true && def !== undefined)
    problems.push([["default"], "a required setting has no default (the admin must give a value); drop the default or set required to false"]);
  const numeric = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
  switch (setting["type"]) {
    case "string": {
      const { minLength: lo, maxLength: hi } = setting;
      if (numeric(lo) && numeric(hi) && lo > hi) problems.push([["minLength"], "minLength must not exceed maxLength"]);
      if (typeof def === "string") {
        if (numeric(lo) && def.length < lo) problems.push([["default"], `default is shorter than minLength (${lo})`]);
        if (numeric(hi) && def.length > hi) problems.push([["default"], `default is longer than maxLength (${hi})`]);
      }
      break;
    }
    case "number":
    case "integer": {
      const { min: lo, max: hi } = setting;
      if (numeric(lo) && numeric(hi) && lo > hi) problems.push([["min"], "min must not exceed max"]);
      if (numeric(def)) {
        if (numeric(lo) && def < lo) problems.push([["default"], `default ${def} is below min (${lo})`]);
        if (numeric(hi) && def > hi) problems.push([["default"], `default ${def} is above max (${hi})`]);
      }
      break;
    }
    case "enum": {
      const values = Array.isArray(setting["values"]) ? (setting["values"] as unknown[]) : [];
      values.forEach((value, index) => {
        if (values.indexOf(value) !== index) problems.push([["values", index], `duplicate enum value ${JSON.stringify(value)}`]);
      });
      if (typeof def === "string" && values.length > 0 && !values.includes(def))
        problems.push([["default"], `default ${JSON.stringify(def)} is not one of the values (${values.map((v) => JSON.stringify(v)).join(", ")})`]);
      break;
    }
    case "url": {
      if (typeof def === "string" && !isHttpUrl(def)) problems.push([["default"], "default must be an absolute http(s) URL without credentials, e.g. https://api.example.com"]);
      break;
    }
  }
  return problems;
}
