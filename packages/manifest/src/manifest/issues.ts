import type { z } from "zod";
import { HOST_CAPABILITY_PATTERN, isBuiltinCapabilityName } from "./capabilities.js";
import { valueAt } from "./paths.js";

/** An issue before its path is written out, so it can still be located in the source text. */
export interface RawIssue {
  path: PropertyKey[];
  message: string;
}

type ZodIssue = z.core.$ZodIssue;

/**
 * Turns zod's issues into manifest issues: one per unknown key, the right
 * half of the capability union, and messages that say what to do.
 */
export function fromZodIssues(issues: readonly ZodIssue[], input: unknown, prefix: readonly PropertyKey[] = []): RawIssue[] {
  const out: RawIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys) out.push({ path: [...path, key], message: `unknown field "${key}"; remove it or check its spelling` });
        break;
      case "invalid_union": {
        const branch = issue.errors.length > 0 ? unionBranch(path, valueAt(input, path)) : undefined;
        const chosen = branch === undefined ? undefined : issue.errors[branch];
        if (chosen !== undefined) out.push(...fromZodIssues(chosen, input, path));
        else out.push({ path, message: issue.message });
        break;
      }
      case "invalid_key":
        for (const inner of issue.issues) out.push({ path, message: `key: ${inner.message}` });
        break;
      default:
        out.push({ path, message: issue.message });
    }
  }
  return out;
}

/** Which half of `capabilities[i]`'s union the entry's name asks for: 0 built-in, 1 host, undefined neither. */
function unionBranch(path: readonly PropertyKey[], value: unknown): number | undefined {
  if (path.length !== 2 || path[0] !== "capabilities" || typeof path[1] !== "number") return undefined;
  const name = valueAt(value, ["name"]);
  if (typeof name !== "string") return undefined;
  if (isBuiltinCapabilityName(name)) return 0;
  if (HOST_CAPABILITY_PATTERN.test(name) && name.length <= 128) return 1;
  return undefined;
}

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return article(typeof value);
}

/** Messages for zod's generic issues; a message written on the schema itself wins over these. */
export const manifestErrorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === "invalid_type") {
    const expected = issue.expected === "int" ? "integer" : String(issue.expected);
    if (issue.input === undefined) return `required (${article(expected)})`;
    return `must be ${article(expected)}, not ${describeValue(issue.input)}`;
  }
  if (issue.code === "invalid_value" && issue.values.length === 1) return `must be ${JSON.stringify(issue.values[0])}`;
  if (issue.code === "invalid_value") return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  return undefined;
};
