import type * as z from "zod/mini";
import { BridgeError } from "./errors.js";

interface IssueLike {
  code?: string;
  path: PropertyKey[];
  message: string;
  expected?: string;
  keys?: string[];
  issues?: IssueLike[];
}

/** zod/mini keeps messages short ("Invalid input"); say what was expected instead. */
function describe(issue: IssueLike): string {
  if (issue.code === "invalid_key" && issue.issues?.[0]) return issue.issues[0].message;
  if (issue.code === "unrecognized_keys" && issue.keys) return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}: remove ${issue.keys.length > 1 ? "them" : "it"}`;
  if (issue.code === "invalid_type" && issue.message === "Invalid input" && issue.expected) return `expected ${issue.expected}`;
  return issue.message;
}

/**
 * Parses `value` with a zod schema, or throws E_BRIDGE_ARGS naming the field
 * and the first problems, so callers never see a raw ZodError.
 */
export function parseOrThrow<S extends z.ZodMiniType>(schema: S, value: unknown, field: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = (result.error.issues as IssueLike[]).slice(0, 5).map((issue) => ({
    path: [field, ...issue.path.map(String)].join("."),
    message: describe(issue),
  }));
  throw new BridgeError("E_BRIDGE_ARGS", `invalid ${field}: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, {
    field,
    issues,
  });
}
