import { z } from "zod";
import { manifestSchema } from "./schema.js";

/** The `$id` of the generated schema: a name, not a download location. */
export const MANIFEST_JSON_SCHEMA_ID = "urn:annex:schema:manifest:2";

/**
 * The manifest's JSON Schema (draft 2020-12), generated from `manifestSchema`
 * so editors can validate `annex.json`. It describes the input an author
 * writes (defaults optional). It checks shapes and patterns only: the rules
 * that span fields (handlers, collisions, capabilities ⇔ storage and events …)
 * and library checks (semver, cron) are `parseManifest`'s.
 */
export function manifestJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(manifestSchema, { target: "draft-2020-12", io: "input", unrepresentable: "throw" }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: MANIFEST_JSON_SCHEMA_ID,
    title: "Annex extension manifest (annex.json), version 2",
    description: "Validates the shape of annex.json. `annex lint` (parseManifest) also checks the rules that span fields.",
    ...rest,
  };
}

/** The committed file's exact text: stable key order, two-space indent, final newline. */
export function renderManifestJsonSchema(): string {
  return `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`;
}
