import { ManifestError, type ManifestIssue } from "./errors.js";
import { checkHostCapabilities, type HostCapabilityRegistry } from "./host-capabilities.js";
import { fromZodIssues, manifestErrorMap, type RawIssue } from "./issues.js";
import { locationOf, scanJson, type TextLocation } from "./json-text.js";
import { oversizedLists } from "./list-bounds.js";
import { pathToString } from "./paths.js";
import { BIDI_CONTROLS, BIDI_CONTROLS_TEXT, STACKED_MARKS } from "./primitives.js";
import { PROTO_KEY_MESSAGE, protoKeyPaths } from "./proto-keys.js";
import { manifestSchema, type Manifest } from "./schema.js";

export interface ParseManifestOptions {
  /**
   * The host's own capabilities. When given, `host:` capabilities must be
   * registered and their params must satisfy the registered schema; when not,
   * only their names' syntax is checked (the host checks again at publish).
   */
  hostCapabilities?: HostCapabilityRegistry;
}

export interface ParseManifestTextOptions extends ParseManifestOptions {
  /** How the text is named in the error message, e.g. "extensions/hello/annex.json". Default "annex.json". */
  source?: string;
}

/** Deeper than any real manifest; keeps hostile input (or a cyclic object) from exhausting the stack. */
const MAX_DEPTH = 32;
/**
 * Values a manifest may hold, strings, numbers, booleans and nulls included:
 * every check after parsing walks each of them (a megabyte of zeros nested 30
 * deep took seconds and 800 MB), and a shared-reference "billion laughs"
 * object must not take forever.
 */
const MAX_VALUES = 100_000;
/** annex.json text larger than this is refused before parsing. */
export const MAX_MANIFEST_TEXT_LENGTH = 1024 * 1024;

/**
 * Validates a manifest (already parsed from JSON) and returns it with
 * defaults filled in. Throws `ManifestError` (E_MANIFEST) listing every
 * problem at once.
 */
export function parseManifest(input: unknown, options: ParseManifestOptions = {}): Manifest {
  const result = validate(input, options);
  if (result.ok) return result.manifest;
  throw new ManifestError(result.issues.map(finish));
}

/**
 * Parses `annex.json` text. JSON syntax errors and duplicate keys are
 * E_MANIFEST issues with a line and column; every other issue also carries
 * the line and column of the field it names (or its nearest parent).
 */
export function parseManifestText(text: string, options: ParseManifestTextOptions = {}): Manifest {
  const source = options.source === undefined ? {} : { source: options.source };
  if (typeof text !== "string") throw new ManifestError([{ path: "", message: "the manifest text must be a string" }], source);
  if (text.length > MAX_MANIFEST_TEXT_LENGTH)
    throw new ManifestError([{ path: "", message: `the manifest is larger than ${MAX_MANIFEST_TEXT_LENGTH} characters; it holds settings, not data` }], source);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const scan = scanJson(body, 64, MAX_VALUES);
  if (!scan.ok) {
    const { line, column } = scan.location;
    const message = scan.tooLarge === true
      ? `the manifest has ${scan.message} (at line ${line}, column ${column}); it holds settings, not data`
      : `invalid JSON at line ${line}, column ${column}: ${scan.message}`;
    throw new ManifestError([{ path: "", message, line, column }], source);
  }
  const duplicateIssues: ManifestIssue[] = scan.duplicates.map(({ path, key, location }) => ({
    path,
    message: `duplicate key ${quotedKey(key)} at line ${location.line}, column ${location.column}; JSON keeps only the last one, so remove the other`,
    ...location,
  }));
  if (scan.duplicateCount > scan.duplicates.length) {
    duplicateIssues.unshift({ path: "", message: `${scan.duplicateCount} duplicate keys; the first ${scan.duplicates.length} follow: remove every key repeated in its object` });
  }
  const result = validate(JSON.parse(body) as unknown, options);
  const located = (issue: RawIssue): ManifestIssue => withLocation(finish(issue), locationOf(scan.locations, issue.path));
  if (result.ok && duplicateIssues.length === 0) return result.manifest;
  throw new ManifestError([...duplicateIssues, ...(result.ok ? [] : result.issues.map(located))], source);
}

type Validation = { ok: true; manifest: Manifest } | { ok: false; issues: RawIssue[] };

function validate(input: unknown, options: ParseManifestOptions): Validation {
  if (input === undefined) return { ok: false, issues: [{ path: [], message: "no manifest given: must be an object (the contents of annex.json)" }] };
  const shapeProblem = checkJsonShape(input);
  if (shapeProblem !== undefined) return { ok: false, issues: [shapeProblem] };
  const textProblems = [...checkText(input), ...protoKeyPaths(input).map((path) => ({ path, message: PROTO_KEY_MESSAGE }))];
  if (textProblems.length > 0) return { ok: false, issues: textProblems };
  const tooLong = oversizedLists(manifestSchema, input);
  if (tooLong.length > 0) return { ok: false, issues: tooLong };

  const parsed = manifestSchema.safeParse(input, { error: manifestErrorMap, reportInput: true });
  const issues = parsed.success ? [] : fromZodIssues(parsed.error.issues, input);

  const registry = options.hostCapabilities;
  let hostParams: Map<number, unknown> | undefined;
  if (registry !== undefined) {
    const capabilities = parsed.success ? parsed.data.capabilities : (input as { capabilities?: unknown }).capabilities;
    const host = checkHostCapabilities(capabilities, registry);
    issues.push(...host.issues);
    hostParams = host.params;
  }

  if (!parsed.success || issues.length > 0) return { ok: false, issues: dedupe(issues) };
  const manifest = parsed.data;
  if (hostParams !== undefined)
    for (const [index, params] of hostParams) {
      const entry = manifest.capabilities[index];
      // The host's schema may add defaults, even where the manifest gave no params.
      if (entry !== undefined && params !== undefined) (entry as { params?: unknown }).params = params;
    }
  return { ok: true, manifest };
}

/** Refuses input nested too deeply or too large to walk, before zod recurses into it. */
function checkJsonShape(input: unknown): RawIssue | undefined {
  const stack: Array<{ value: unknown; depth: number }> = [{ value: input, depth: 0 }];
  let nodes = 0;
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (++nodes > MAX_VALUES) return { path: [], message: `the manifest has more than ${MAX_VALUES} values; it holds settings, not data` };
    if (typeof value !== "object" || value === null) continue;
    if (depth >= MAX_DEPTH) return { path: [], message: `the manifest nests deeper than ${MAX_DEPTH} levels (or refers to itself); flatten it` };
    const children = Array.isArray(value) ? value : Object.values(value);
    for (const child of children) stack.push({ value: child, depth: depth + 1 });
  }
  return undefined;
}

/**
 * Characters no manifest string may hold, keys included: NUL and the other
 * C0 controls but tab and line breaks, DEL, the C1 controls (U+0080–U+009F:
 * U+009B is CSI and U+009D OSC on terminals that read them, so a description
 * could drive the admin's terminal through `annex inspect`), and unpaired
 * UTF-16 surrogates. PostgreSQL refuses NUL and unpaired surrogates in text
 * and jsonb (a manifest holding one could not be published, only fail with a
 * database error), and controls have no place in what admins read.
 */
const UNSAFE_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Everything in a manifest is shown to an admin somewhere (a host capability's
 * params, a config setting's enum values and default, as well as names and
 * reasons): an override character can make any of it display as something
 * else, e.g. "admin" as "nimda" in the consent dialog.
 */
const BIDI_MESSAGE = `contains bidirectional control characters (${BIDI_CONTROLS_TEXT}), which can make what admins read display as something else; remove them`;
const MARKS_MESSAGE = "stacks more than 8 combining marks on one character, which draw over the text around it where admins read it; remove them";

/** Every string (and key) of the manifest holding UNSAFE_TEXT or bidirectional controls, by path; walked without recursion (checkJsonShape bounded it). */
function checkText(input: unknown): RawIssue[] {
  const issues: RawIssue[] = [];
  const message = "contains a control character (such as NUL) or an unpaired UTF-16 surrogate, which cannot be stored or shown; remove it";
  const stack: Array<{ value: unknown; path: Array<string | number> }> = [{ value: input, path: [] }];
  while (stack.length > 0 && issues.length < 20) {
    const { value, path } = stack.pop()!;
    if (typeof value === "string") {
      if (UNSAFE_TEXT.test(value)) issues.push({ path, message });
      else if (BIDI_CONTROLS.test(value)) issues.push({ path, message: BIDI_MESSAGE });
      else if (STACKED_MARKS.test(value)) issues.push({ path, message: MARKS_MESSAGE });
      continue;
    }
    if (typeof value !== "object" || value === null) continue;
    if (Array.isArray(value)) value.forEach((child, index) => stack.push({ value: child, path: [...path, index] }));
    else {
      for (const [key, child] of Object.entries(value)) {
        if (UNSAFE_TEXT.test(key)) issues.push({ path: [...path, key], message: `the key ${message}` });
        else if (BIDI_CONTROLS.test(key)) issues.push({ path: [...path, key], message: `the key ${BIDI_MESSAGE}` });
        else if (STACKED_MARKS.test(key)) issues.push({ path: [...path, key], message: `the key ${MARKS_MESSAGE}` });
        else stack.push({ value: child, path: [...path, key] });
      }
    }
  }
  return issues;
}

function dedupe(issues: RawIssue[]): RawIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${pathToString(issue.path)}\u0000${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function finish(issue: RawIssue): ManifestIssue {
  return { path: pathToString(issue.path), message: issue.message };
}

/** A key as a message shows it: quoted, and cut when long (the path beside it names it in full). */
function quotedKey(key: string): string {
  return key.length > 64 ? `${JSON.stringify(key.slice(0, 64)).slice(0, -1)}…"` : JSON.stringify(key);
}

function withLocation(issue: ManifestIssue, location: TextLocation | undefined): ManifestIssue {
  return location === undefined ? issue : { ...issue, line: location.line, column: location.column };
}
