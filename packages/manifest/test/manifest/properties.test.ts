import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManifestError, parseManifest, parseManifestText, type Manifest } from "../../src/index.js";
import { BUNDLE_EXAMPLE, SERVICE_EXAMPLE } from "./fixtures.js";

/** Runs `fn`; passes if it returns or throws a ManifestError, fails on any other throw. */
function onlyManifestErrors<T>(fn: () => T): T | ManifestError {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ManifestError) {
      expect(error.code).toBe("E_MANIFEST");
      expect(error.issues.length).toBeGreaterThan(0);
      for (const issue of error.issues) {
        expect(typeof issue.path).toBe("string");
        expect(issue.message.length).toBeGreaterThan(0);
      }
      return error;
    }
    throw error;
  }
}

const label = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
const identifier = fc.stringMatching(/^[a-z][A-Za-z0-9_]{0,10}$/);
const segment = fc.oneof(fc.stringMatching(/^[a-z0-9_~-]{1,8}$/), identifier.map((name) => `:${name}`));

const validManifest: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    publisher: fc.stringMatching(/^[a-z][a-z0-9]{1,10}$/),
    name: label,
    version: fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20)).map((parts) => parts.join(".")),
    service: fc.boolean(),
    routes: fc.uniqueArray(
      // A route names each :param once (the parser rightly refuses /:a/:a).
      fc.array(segment, { minLength: 1, maxLength: 4 }).filter((segments) => {
        const params = segments.filter((s) => s.startsWith(":"));
        return new Set(params).size === params.length;
      }),
      {
      maxLength: 6,
      // Unique by the normalised form, so no two collide.
      selector: (segments) => segments.map((s) => (s.startsWith(":") ? ":" : s.toLowerCase())).join("/"),
      },
    ),
    hosts: fc.uniqueArray(fc.tuple(label, label).map(([a, b]) => `${a}.${b}.example`), { maxLength: 4 }),
    simple: fc.subarray(["log", "ui.toast", "user.read"]),
    kv: fc.boolean(),
    settings: fc.dictionary(
      identifier,
      fc.oneof(
        fc.record({ type: fc.constant("string"), default: fc.string({ maxLength: 20 }) }),
        fc.integer({ min: -100, max: 100 }).map((n) => ({ type: "integer", default: n, min: -100, max: 100 })),
        fc.boolean().map((b) => ({ type: "boolean", default: b })),
        fc.uniqueArray(label, { minLength: 1, maxLength: 4 }).map((values) => ({ type: "enum", values, default: values[0] })),
      ),
      { maxKeys: 4 },
    ),
    memoryMb: fc.option(fc.integer({ min: 1, max: 1024 }), { nil: undefined }),
  })
  .map((r) => {
    const capabilities: Array<Record<string, unknown>> = r.simple.map((name) => ({ name, reason: `Uses ${name} for its feature.` }));
    if (r.kv) capabilities.push({ name: "storage.kv", reason: "Keeps small per-install state." });
    const manifest: Record<string, unknown> = {
      manifestVersion: 2,
      id: `${r.publisher}.${r.name}`,
      name: r.name,
      version: r.version,
      publisher: r.publisher,
      description: "Generated for a property test.",
      engines: { annex: "^0.1.0" },
      runtime: r.service ? { class: "service", entry: "server/index.js" } : { class: "bundle" },
      config: r.settings,
      storage: { kind: r.kv ? "kv" : "none" },
      limits: r.memoryMb === undefined ? {} : { memoryMb: r.memoryMb },
      capabilities,
      ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: r.name }] },
    };
    if (r.service) {
      manifest["endpoints"] = r.routes.map((segments, i) => ({ class: "api", method: "GET", path: `/${segments.join("/")}`, handler: `handler${i}` }));
      if (r.hosts.length > 0) capabilities.push({ name: "http.fetch", hosts: r.hosts, reason: "Calls the partner API." });
    }
    return manifest;
  });

type Mutation = { path: PropertyKey[]; kind: "delete" | "replace" | "add"; value: unknown };

function allPaths(value: unknown, prefix: PropertyKey[] = []): PropertyKey[][] {
  const here = [prefix];
  if (Array.isArray(value)) return here.concat(...value.map((v, i) => allPaths(v, [...prefix, i])));
  if (value !== null && typeof value === "object") return here.concat(...Object.entries(value).map(([k, v]) => allPaths(v, [...prefix, k])));
  return here;
}

function mutate(root: Record<string, unknown>, mutation: Mutation): unknown {
  const copy = structuredClone(root) as unknown;
  if (mutation.path.length === 0) return mutation.kind === "replace" ? mutation.value : copy;
  const parent = mutation.path.slice(0, -1).reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown>)[key], copy) as Record<PropertyKey, unknown> | unknown[];
  const key = mutation.path.at(-1)!;
  if (mutation.kind === "delete") {
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
  } else if (mutation.kind === "replace") {
    (parent as Record<PropertyKey, unknown>)[key] = mutation.value;
  } else if (Array.isArray(parent)) {
    parent.push(mutation.value);
  } else {
    parent["zz_added"] = mutation.value;
  }
  return copy;
}

const nearbyValues = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom("", " ", "host:x", "http.fetch", "GET", "get", "/a/:x/", "../x.js", "*.com", "owned-schema", "bundle", "service", -1, 0, 1.5, 1e308, null, [], {}),
);

const RUNS = { numRuns: 300 };

describe("parseManifest never throws anything but ManifestError", () => {
  it("on random JSON values", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        onlyManifestErrors(() => parseManifest(value));
      }),
      RUNS,
    );
  });

  it("on random objects with the manifest's keys", () => {
    const keys = Object.keys({ ...SERVICE_EXAMPLE, ...BUNDLE_EXAMPLE, storage: 0, events: 0, jobs: 0, config: 0, secrets: 0, limits: 0 });
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 4 })), (value) => {
        onlyManifestErrors(() => parseManifest(value));
      }),
      RUNS,
    );
  });

  it("on mutations of valid manifests; whatever parses is stable", () => {
    const withMutation = validManifest.chain((manifest) =>
      fc.record({
        manifest: fc.constant(manifest),
        mutations: fc.array(
          fc.record({ path: fc.constantFrom(...allPaths(manifest)), kind: fc.constantFrom("delete", "replace", "add"), value: nearbyValues }),
          { minLength: 1, maxLength: 3 },
        ),
      }),
    );
    fc.assert(
      fc.property(withMutation, ({ manifest, mutations }) => {
        let input: unknown = manifest;
        for (const mutation of mutations) {
          try {
            input = mutate(input as Record<string, unknown>, mutation as Mutation);
          } catch {
            // The path no longer exists after an earlier mutation; keep the input as is.
          }
        }
        const result = onlyManifestErrors(() => parseManifest(input));
        if (!(result instanceof ManifestError)) expect(parseManifest(structuredClone(result))).toEqual(result);
      }),
      RUNS,
    );
  });
});

describe("valid manifests", () => {
  it("parse, and parsing the result again changes nothing", () => {
    fc.assert(
      fc.property(validManifest, (input) => {
        const once = parseManifest(input);
        const twice = parseManifest(structuredClone(once));
        expect(twice).toEqual(once);
        expect(parseManifestText(JSON.stringify(once))).toEqual(once);
      }),
      RUNS,
    );
  });

  it("never lose or invent a capability", () => {
    fc.assert(
      fc.property(validManifest, (input) => {
        const parsed: Manifest = parseManifest(input);
        expect(parsed.capabilities.map((c) => c.name)).toEqual((input["capabilities"] as Array<{ name: string }>).map((c) => c.name));
      }),
      RUNS,
    );
  });
});

describe("parseManifestText never throws anything but ManifestError", () => {
  it("on random strings", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.string({ unit: "binary" })), (text) => {
        onlyManifestErrors(() => parseManifestText(text));
      }),
      RUNS,
    );
  });

  it("on valid text with characters inserted or removed, agreeing with JSON.parse on what is JSON", () => {
    const edited = validManifest.chain((manifest) => {
      const text = JSON.stringify(manifest, null, 2);
      return fc.record({
        text: fc.constant(text),
        at: fc.nat(text.length),
        remove: fc.nat(3),
        insert: fc.oneof(fc.constantFrom("", ",", "}", "]", '"', ":", "\\", "\n", "{", "[", "0", "x", "\u0000"), fc.string({ maxLength: 3 })),
      });
    });
    fc.assert(
      fc.property(edited, ({ text, at, remove, insert }) => {
        const mutated = text.slice(0, at) + insert + text.slice(at + remove);
        let jsonOk = true;
        try {
          JSON.parse(mutated);
        } catch {
          jsonOk = false;
        }
        const result = onlyManifestErrors(() => parseManifestText(mutated));
        if (!jsonOk) {
          // Our scanner must refuse exactly what JSON.parse refuses.
          expect(result).toBeInstanceOf(ManifestError);
          expect((result as ManifestError).issues[0]?.message).toMatch(/invalid JSON at line \d+, column \d+/);
        }
      }),
      RUNS,
    );
  });
});
