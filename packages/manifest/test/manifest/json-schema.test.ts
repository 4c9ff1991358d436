import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { manifestJsonSchema } from "../../src/index.js";
import { renderManifestJsonSchema } from "../../src/manifest/json-schema.js";
import { BUNDLE_EXAMPLE, SERVICE_EXAMPLE, reason, service } from "./fixtures.js";

type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(["$schema", "$id", "title", "description", "default", "$defs"]);

/**
 * A deliberately small JSON Schema (2020-12) validator for the keywords the
 * generated schema uses. It throws on any other keyword, so a schema change
 * that relies on something it does not understand fails here loudly instead
 * of passing unchecked.
 */
function validate(root: Schema, schema: Schema, value: unknown, path = "$"): string[] {
  const errors: string[] = [];
  const typeOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);
  for (const [keyword, arg] of Object.entries(schema)) {
    if (ANNOTATIONS.has(keyword)) continue;
    switch (keyword) {
      case "$ref": {
        const name = String(arg).replace(/^#\/\$defs\//, "");
        const target = (root["$defs"] as Record<string, Schema>)[name];
        if (target === undefined) throw new Error(`unresolved $ref ${String(arg)}`);
        errors.push(...validate(root, target, value, path));
        break;
      }
      case "type": {
        const t = typeOf(value);
        const ok = arg === "integer" ? Number.isInteger(value) : arg === t;
        if (!ok) errors.push(`${path}: expected ${String(arg)}`);
        break;
      }
      case "const":
        if (value !== arg) errors.push(`${path}: expected ${JSON.stringify(arg)}`);
        break;
      case "enum":
        if (!(arg as unknown[]).includes(value)) errors.push(`${path}: not in enum`);
        break;
      case "pattern":
        if (typeof value === "string" && !new RegExp(String(arg), "u").test(value)) errors.push(`${path}: does not match ${String(arg)}`);
        break;
      case "minLength":
        if (typeof value === "string" && [...value].length < (arg as number)) errors.push(`${path}: too short`);
        break;
      case "maxLength":
        if (typeof value === "string" && [...value].length > (arg as number)) errors.push(`${path}: too long`);
        break;
      case "minimum":
        if (typeof value === "number" && value < (arg as number)) errors.push(`${path}: below minimum`);
        break;
      case "maximum":
        if (typeof value === "number" && value > (arg as number)) errors.push(`${path}: above maximum`);
        break;
      case "minItems":
        if (Array.isArray(value) && value.length < (arg as number)) errors.push(`${path}: too few items`);
        break;
      case "maxItems":
        if (Array.isArray(value) && value.length > (arg as number)) errors.push(`${path}: too many items`);
        break;
      case "maxProperties":
        if (typeOf(value) === "object" && Object.keys(value as object).length > (arg as number)) errors.push(`${path}: too many properties`);
        break;
      case "items":
        if (Array.isArray(value)) value.forEach((item, i) => errors.push(...validate(root, arg as Schema, item, `${path}[${i}]`)));
        break;
      case "required":
        if (typeOf(value) === "object")
          for (const key of arg as string[]) if (!Object.hasOwn(value as object, key)) errors.push(`${path}: missing ${key}`);
        break;
      case "properties":
        if (typeOf(value) === "object")
          for (const [key, sub] of Object.entries(arg as Record<string, Schema>))
            if (Object.hasOwn(value as object, key)) errors.push(...validate(root, sub, (value as Record<string, unknown>)[key], `${path}.${key}`));
        break;
      case "additionalProperties":
        if (typeOf(value) === "object") {
          const known = Object.keys((schema["properties"] as object | undefined) ?? {});
          for (const [key, sub] of Object.entries(value as Record<string, unknown>)) {
            if (known.includes(key)) continue;
            if (arg === false) errors.push(`${path}: unknown property ${key}`);
            else errors.push(...validate(root, arg as Schema, sub, `${path}.${key}`));
          }
        }
        break;
      case "propertyNames":
        if (typeOf(value) === "object") for (const key of Object.keys(value as object)) errors.push(...validate(root, arg as Schema, key, `${path}{${key}}`));
        break;
      case "anyOf":
      case "oneOf": {
        const passing = (arg as Schema[]).filter((sub) => validate(root, sub, value, path).length === 0).length;
        if (keyword === "anyOf" ? passing === 0 : passing !== 1) errors.push(`${path}: ${keyword} matched ${passing}`);
        break;
      }
      default:
        throw new Error(`the test validator does not know the keyword "${keyword}"`);
    }
  }
  return errors;
}

const schema = manifestJsonSchema();
const check = (value: unknown) => validate(schema, schema, value);

describe("annex.schema.json", () => {
  it("is up to date with the zod schema", () => {
    const committed = readFileSync(new URL("../../annex.schema.json", import.meta.url), "utf8");
    expect(committed === renderManifestJsonSchema(), "packages/manifest/annex.schema.json is out of date: run pnpm schema").toBe(true);
  });

  it("is draft 2020-12 with an $id and a title, strict at the top", () => {
    expect(schema["$schema"]).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema["$id"]).toMatch(/^urn:annex:schema:manifest:2$/);
    expect(schema["title"]).toMatch(/Annex extension manifest/);
    expect(schema["additionalProperties"]).toBe(false);
    expect(schema["required"]).toEqual(["manifestVersion", "id", "name", "version", "publisher", "description", "engines", "runtime"]);
  });

  it("renders identically every time", () => {
    expect(renderManifestJsonSchema()).toBe(renderManifestJsonSchema());
  });

  it("accepts both canonical examples", () => {
    expect(check(SERVICE_EXAMPLE)).toEqual([]);
    expect(check(BUNDLE_EXAMPLE)).toEqual([]);
  });

  it("accepts a manifest using most sections", () => {
    const full = service({
      $schema: "./annex.schema.json",
      storage: { kind: "owned-schema", migrations: "migrations" },
      secrets: ["API_KEY"],
      capabilities: [
        { name: "storage.sql", reason },
        { name: "secrets.read", names: ["API_KEY"], reason },
        { name: "http.fetch", hosts: ["*.example.com:8443"], reason },
        { name: "host:crm.contacts.read", params: { fields: ["email"] }, reason },
      ],
      endpoints: [{ class: "webhook", method: "POST", path: "/hook", handler: "hook", verify: "extension", secret: "API_KEY", headers: ["x-sig"] }],
      jobs: [{ name: "sync", cron: "@daily", handler: "sync", timezone: "UTC" }],
      config: { size: { type: "enum", values: ["s", "m"], default: "s" }, n: { type: "integer", min: 1, max: 5 } },
      limits: { memoryMb: 64 },
    });
    expect(check(full)).toEqual([]);
  });

  it("refuses what editors should flag: unknown fields, enum typos, unknown capabilities", () => {
    expect(check(service({ extra: 1 }))).toContain("$: unknown property extra");
    expect(check(service({ runtime: { class: "service_backed", entry: "a.js" } })).join()).toMatch(/\$\.runtime\.class: not in enum/);
    expect(check(service({ capabilities: [{ name: "fs.write", reason }] })).join()).toMatch(/capabilities\[0\]: anyOf matched 0/);
    expect(check(service({ endpoints: [{ class: "api", method: "GET", path: "no-slash", handler: "h" }] })).join()).toMatch(/endpoints\[0\]: oneOf matched 0/);
  });
});
