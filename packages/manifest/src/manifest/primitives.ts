import { z } from "zod";
import semver from "semver";

/**
 * Small string schemas shared by the manifest's sections. Every regex here is
 * also emitted into the generated JSON Schema, so they avoid syntax that
 * JSON Schema validators do not share with JavaScript (lookbehind, flags).
 *
 * A string's `.max()` is `abort: true` wherever later checks follow it: zod
 * runs every check even after one failed, so a regex or semver.validRange
 * would otherwise run over whatever length is sent (up to the 1 MiB a whole
 * manifest may be), to report a value the length check already refused.
 */

/** A publisher or extension-name label: lowercase, starts with a letter, single hyphens between words. */
const LABEL = "[a-z][a-z0-9]*(?:-[a-z0-9]+)*";
export const PUBLISHER_PATTERN = new RegExp(`^${LABEL}$`);
export const EXTENSION_ID_PATTERN = new RegExp(`^${LABEL}\\.${LABEL}$`);

/**
 * Publisher ≤ 24 and name ≤ 32 characters keep `ext_<publisher>__<name>` (the
 * extension's own database schema) inside PostgreSQL's 63-byte identifier limit.
 */
export const MAX_PUBLISHER_LENGTH = 24;
export const MAX_EXTENSION_NAME_LENGTH = 32;

export const publisherSchema = z
  .string()
  .min(2, "publisher must be 2 to 24 characters")
  .max(MAX_PUBLISHER_LENGTH, { message: "publisher must be 2 to 24 characters", abort: true })
  .regex(PUBLISHER_PATTERN, "publisher must be lowercase letters, digits and single hyphens, starting with a letter, e.g. acme");

export const extensionIdSchema = z
  .string()
  .max(MAX_PUBLISHER_LENGTH + 1 + MAX_EXTENSION_NAME_LENGTH, { message: "id must be at most 57 characters (publisher ≤ 24, name ≤ 32)", abort: true })
  .regex(EXTENSION_ID_PATTERN, 'id must be "<publisher>.<name>" in lowercase letters, digits and single hyphens, e.g. acme.hello')
  .refine((id) => (id.split(".")[1] ?? "").length <= MAX_EXTENSION_NAME_LENGTH, {
    message: `the name part of the id (after the publisher) must be at most ${MAX_EXTENSION_NAME_LENGTH} characters`,
  });

/**
 * A strict semver version: no leading "v", no loose forms, and no build
 * metadata (`+…`), which semver ignores when comparing, so `1.0.0+a` and
 * `1.0.0+b` would be two different bundles claiming one immutable version.
 */
export const versionSchema = z
  .string()
  .max(64, { message: "version must be at most 64 characters", abort: true })
  .superRefine((value, ctx) => {
    const parsed = semverVerdict(() => new semver.SemVer(value).version);
    if (parsed === value) return;
    const message =
      parsed !== null && value.includes("+")
        ? "version must not carry build metadata (+…): versions compare without it; bump the version or use a prerelease tag such as 1.0.0-rc.1"
        : 'version must be a semantic version such as 1.0.0 or 1.2.0-beta.1 (no leading "v")';
    ctx.addIssue({ code: "custom", message, input: value });
  });

/**
 * What `check` returns, or null when semver refuses the value: it does so
 * with a TypeError ("Invalid Version: …", "Invalid comparator: …").
 * `semver.valid` and `semver.validRange` answer null for any error at all,
 * so a stack that ran out while checking (a RangeError) made a good version
 * look invalid; that is thrown on instead, as the failure it is.
 */
function semverVerdict<T>(check: () => T): T | null {
  try {
    return check();
  } catch (error) {
    if (error instanceof TypeError) return null;
    throw error;
  }
}

const MAX_RANGE_LENGTH = 128;

export const semverRangeSchema = z
  .string()
  .trim()
  .min(1, 'must be a semver range of the Annex host API, e.g. "^0.1.0"')
  .max(MAX_RANGE_LENGTH, { message: `must be at most ${MAX_RANGE_LENGTH} characters`, abort: true })
  .refine((value) => semverVerdict(() => new semver.Range(value)) !== null, {
    message: 'must be a valid semver range, e.g. "^0.1.0" or ">=0.1.0 <0.3.0"',
  });

/** Human text shown to admins: trimmed, non-empty, bounded. */
/**
 * Bidirectional embedding, override and isolate controls, and the marks that
 * act like them (LRM, RLM, ALM): in text an admin reads before consenting
 * they can make it display as something else (an RLM next to Hebrew letters
 * reorders a heading's name and version).
 */
export const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** Which characters BIDI_CONTROLS refuses, for messages. */
export const BIDI_CONTROLS_TEXT = "U+202A–U+202E, U+2066–U+2069 and the marks U+200E, U+200F, U+061C";

/**
 * More combining marks on one character than any script needs (Vietnamese
 * and Indic stacks take 2–4): a pile of them draws over the text around it,
 * past its card in a consent dialog. Zero-width joiners and non-joiners
 * between the marks do not end the pile (Chromium stacks groups of 8 marks
 * split by U+200C on one letter, 950 px high), so they count as part of it.
 *
 * Anchored on a mark: `(?:[\u200c\u200d]*\p{M}){9,}` matches the same strings
 * but tries every joiner of a long run of them as a start and backtracks over
 * the rest, quadratic in the run's length (seconds for 24,000 of them).
 */
export const STACKED_MARKS = /\p{M}(?:[\u200c\u200d]*\p{M}){8}/u;

export function text(field: string, max: number) {
  return z
    .string()
    .trim()
    .min(1, `${field} must not be empty`)
    .max(max, { message: `${field} must be at most ${max} characters`, abort: true })
    .refine((value) => !BIDI_CONTROLS.test(value), `${field} must not contain bidirectional control characters (${BIDI_CONTROLS_TEXT}): they can make text display as something else`)
    .refine((value) => !STACKED_MARKS.test(value), `${field} must not stack more than 8 combining marks on one character: they draw over the text around it`);
}

/** Words that cannot be used as a binding name, so cannot name a handler the entry module exports. */
const RESERVED_WORDS = new Set(
  (
    "await break case catch class const continue debugger default delete do else enum export extends false finally for function " +
    "if implements import in instanceof interface let new null package private protected public return static super switch this " +
    "throw true try typeof var void while with yield arguments eval undefined NaN Infinity"
  ).split(" "),
);

/** A handler is a named export of the service entry module, so it must be a plain JS identifier. */
export const handlerNameSchema = z
  .string()
  .max(64, { message: "handler names are at most 64 characters", abort: true })
  .regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, "handler must be a JavaScript identifier (letters, digits, _ and $; not starting with a digit), the name the entry module exports")
  .refine((value) => !RESERVED_WORDS.has(value), { message: "handler must not be a JavaScript reserved word; pick another export name" });

/**
 * A path inside the bundle: relative, "/"-separated, no empty, "." or ".."
 * segments, no hidden files, no backslashes or control characters.
 */
const SEGMENT = "[A-Za-z0-9_@+~-][A-Za-z0-9._@+~-]*";
export const BUNDLE_PATH_PATTERN = new RegExp(`^${SEGMENT}(?:/${SEGMENT})*$`);

export function bundlePath(what: string, extensions?: readonly string[]) {
  const base = z
    .string()
    .max(255, { message: `${what} must be at most 255 characters`, abort: true })
    .regex(
      BUNDLE_PATH_PATTERN,
      `${what} must be a relative path inside the bundle ("/"-separated; no leading "/", no "." or ".." segments, no hidden files, no backslashes)`,
    );
  if (extensions === undefined) return base;
  const list = extensions.join(", ");
  return base.refine((value) => extensions.some((ext) => value.endsWith(ext)), { message: `${what} must end in ${list}` });
}

/**
 * An HTTP route path: starts with "/", segments of URL-safe characters or
 * `:param` placeholders, optional trailing slash. No wildcards and no regex,
 * so that two routes can be compared for collisions exactly.
 */
export const ROUTE_PATH_PATTERN = /^\/(?:(?:[A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*)(?:\/(?:[A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*))*\/?)?$/;

export const routePathSchema = z
  .string()
  .max(256, { message: "path must be at most 256 characters", abort: true })
  .regex(
    ROUTE_PATH_PATTERN,
    'path must start with "/" and use only letters, digits, "._~-" and ":param" segments, e.g. /items/:id',
  )
  .refine((value) => !/(?:^|\/)\.{1,2}(?:\/|$)/.test(value), { message: 'path must not contain "." or ".." segments' });

/** Names of the `:params` of a route path, in order. */
export function routeParams(path: string): string[] {
  return path
    .split("/")
    .filter((segment) => segment.startsWith(":"))
    .map((segment) => segment.slice(1));
}

/**
 * The form two routes are compared in: lowercase, trailing slash dropped,
 * every `:param` reduced to ":" (so `/a/:x` and `/A/:y/` are the same route).
 */
export function normaliseRoutePath(path: string): string {
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  return trimmed
    .split("/")
    .map((segment) => (segment.startsWith(":") ? ":" : segment.toLowerCase()))
    .join("/");
}
