import { z } from "zod";
import type { RawIssue } from "./issues.js";

/**
 * The lists of a manifest that are longer than the schema allows, found
 * before zod parses their entries. zod checks an array's length only after
 * parsing every entry, so 50,000 capabilities (a megabyte of annex.json)
 * were each parsed, and each checked against the host's registry, to be told
 * "at most 64": seconds of a host's CPU for one bundle. The bounds are read
 * from the schema itself, so they cannot drift from it.
 *
 * Walks the input along the schema: objects by their shape, records by their
 * values (bounded by their `maxProperties` meta), unions by every option that could take the value (a list counts as
 * too long only when each of them says so), lazy schemas (free-form JSON
 * values) not at all: checkJsonShape bounds those.
 */
export function oversizedLists(schema: z.ZodType, input: unknown): RawIssue[] {
  const issues: RawIssue[] = [];
  visit(schema, input, [], issues);
  return issues;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  checks?: { _zod: { def: { check?: string; maximum?: number; error?: (issue: unknown) => unknown } } }[];
  catchall?: z.ZodType;
  values?: unknown[];
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

const WRAPPERS = new Set(["default", "prefault", "optional", "nullable", "readonly", "catch", "nonoptional"]);

function unwrap(schema: z.ZodType): Def | undefined {
  return innermost(schema)?.def;
}

function innermost(schema: z.ZodType): { schema: z.ZodType; def: Def } | undefined {
  let current = schema;
  let def = defOf(current);
  while (WRAPPERS.has(def.type) || def.type === "pipe") {
    const next = def.type === "pipe" ? def.in : def.innerType;
    if (next === undefined) return undefined;
    current = next;
    def = defOf(current);
  }
  return { schema: current, def };
}

/**
 * Whether a union's option could take the value: an option that is an object
 * takes no key it lacks when strict, and no other value where its field is a
 * literal (a capability's `name`, an endpoint's `class`). Other options, yes.
 */
function couldTake(option: z.ZodType, value: object): boolean {
  const def = unwrap(option);
  if (def === undefined) return false;
  if (def.type === "union") return (def.options ?? []).some((inner) => couldTake(inner, value));
  if (def.type !== "object" || def.shape === undefined) return true;
  if (Array.isArray(value)) return false;
  const shape = def.shape;
  if (def.catchall !== undefined && defOf(def.catchall).type === "never" && Object.keys(value).some((key) => !Object.hasOwn(shape, key))) return false;
  for (const [key, field] of Object.entries(shape)) {
    const fieldDef = unwrap(field);
    if (fieldDef?.type === "literal" && !(fieldDef.values ?? []).includes((value as Record<string, unknown>)[key])) return false;
  }
  return true;
}

function visit(schema: z.ZodType, value: unknown, path: PropertyKey[], issues: RawIssue[]): void {
  const inner = innermost(schema);
  if (inner === undefined || value === null || typeof value !== "object") return;
  const def = inner.def;
  switch (def.type) {
    case "array": {
      if (!Array.isArray(value) || def.element === undefined) return;
      const bound = def.checks?.find((check) => check._zod.def.check === "max_length")?._zod.def;
      if (bound?.maximum !== undefined && value.length > bound.maximum) {
        const said = bound.error?.({ code: "too_big", origin: "array", maximum: bound.maximum, input: value });
        const text = typeof said === "string" ? said : `at most ${bound.maximum} entries`;
        issues.push({ path, message: `${text} (this list has ${value.length})` });
        return;
      }
      value.forEach((entry, index) => visit(def.element!, entry, [...path, index], issues));
      return;
    }
    case "object": {
      if (Array.isArray(value) || def.shape === undefined) return;
      for (const [key, field] of Object.entries(def.shape)) {
        if (Object.hasOwn(value, key)) visit(field, (value as Record<string, unknown>)[key], [...path, key], issues);
      }
      return;
    }
    case "record": {
      if (Array.isArray(value) || def.valueType === undefined) return;
      // zod has no size check for records: a bounded one says its bound as JSON Schema's maxProperties.
      const max = z.globalRegistry.get(inner.schema)?.["maxProperties"];
      const count = Object.keys(value).length;
      if (typeof max === "number" && count > max) {
        issues.push({ path, message: `at most ${max} entries (this one has ${count})` });
        return;
      }
      for (const [key, entry] of Object.entries(value)) visit(def.valueType, entry, [...path, key], issues);
      return;
    }
    case "union": {
      let fewest: RawIssue[] | undefined;
      for (const option of def.options ?? []) {
        if (!couldTake(option, value)) continue;
        const found: RawIssue[] = [];
        visit(option, value, path, found);
        if (found.length === 0) return;
        if (fewest === undefined || found.length < fewest.length) fewest = found;
      }
      if (fewest !== undefined) issues.push(...fewest);
      return;
    }
    default:
      return;
  }
}
