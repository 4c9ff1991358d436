import { expect } from "vitest";
import { ManifestError, parseManifest, type ManifestIssue, type ParseManifestOptions } from "../../src/index.js";

/** The canonical service-class example (briefs/examples.md). */
export const SERVICE_EXAMPLE = {
  manifestVersion: 2,
  id: "acme.hello",
  name: "Hello",
  version: "1.0.0",
  publisher: "acme",
  description: "Says hello.",
  engines: { annex: "^0.1.0" },
  runtime: { class: "service", entry: "server/index.js" },
  capabilities: [{ name: "log", reason: "Writes request logs for debugging." }],
  endpoints: [{ class: "api", method: "GET", path: "/hello/:name", handler: "hello" }],
} as const;

/** The canonical bundle-class example (briefs/examples.md). */
export const BUNDLE_EXAMPLE = {
  manifestVersion: 2,
  id: "acme.docs",
  name: "Docs",
  version: "1.0.0",
  publisher: "acme",
  description: "Static help pages.",
  engines: { annex: "^0.1.0" },
  runtime: { class: "bundle" },
  ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Docs" }] },
} as const;

type Json = Record<string, unknown>;

/** A deep copy of the service example with top-level fields replaced. */
export function service(overrides: Json = {}): Json {
  return { ...structuredClone(SERVICE_EXAMPLE as unknown as Json), ...overrides };
}

export function bundle(overrides: Json = {}): Json {
  return { ...structuredClone(BUNDLE_EXAMPLE as unknown as Json), ...overrides };
}

export const reason = "Needed for the feature the admin installs this for.";

/** The issues parseManifest reports for `input` (fails the test if it parses). */
export function issuesOf(input: unknown, options?: ParseManifestOptions): ManifestIssue[] {
  try {
    parseManifest(input, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return [...(error as ManifestError).issues];
  }
  throw new Error(`expected a ManifestError, but the manifest parsed: ${JSON.stringify(input)}`);
}

/** Asserts that `input` is refused with an issue at `path` whose message matches `message`. */
export function expectIssue(input: unknown, path: string, message: RegExp, options?: ParseManifestOptions): void {
  const issues = issuesOf(input, options);
  const match = issues.find((issue) => issue.path === path && message.test(issue.message));
  expect(match, `no issue at ${path} matching ${message}; got ${JSON.stringify(issues, null, 2)}`).toBeDefined();
}

/** Asserts that `input` parses, showing the issues when it does not. */
export function expectValid(input: unknown, options?: ParseManifestOptions) {
  try {
    return parseManifest(input, options);
  } catch (error) {
    if (error instanceof ManifestError) expect.fail(`expected a valid manifest, got:\n${error.message}`);
    throw error;
  }
}
