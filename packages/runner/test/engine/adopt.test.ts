import { afterEach, describe, expect, it } from "vitest";
import { adoptVerifiedParts, createInMemoryRunner, loadVerifiedParts, type InMemoryRunner } from "../../src/in-memory-runner.js";
import { buildBundle, envelopeFor } from "../support/fixtures.js";

// A worker the pool starts after bundles were loaded adopts them (the parts and the handlers their first load found)
// instead of running every bundle's top-level code again before it can take work.
const runners: InMemoryRunner[] = [];
const runner = (limits?: { cpuMs: number; wallMs: number }) => {
  const made = createInMemoryRunner(limits === undefined ? {} : { limits });
  runners.push(made);
  return made;
};
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
});

describe("adopting a loaded bundle", () => {
  it("does not run the entry's top-level code; the first execution runs it, under that execution's limits", async () => {
    const bundle = await buildBundle({ source: "for (;;) {}\nexport function h() { return 1; }" });
    // Loading it runs the loop and fails at the load's CPU limit ...
    const loading = runner({ cpuMs: 100, wallMs: 2_000 });
    await expect(loadVerifiedParts(loading, bundle)).rejects.toMatchObject({ code: "E_TIMEOUT" });
    // ... adopting it does not run it at all (it returns at once, synchronously) ...
    const adopting = runner({ cpuMs: 100, wallMs: 2_000 });
    expect(adoptVerifiedParts(adopting, bundle, ["h"])).toMatchObject({ contentHash: bundle.contentHash, handlers: ["h"] });
    // ... and the first execution evaluates the entry within its own limits, as a fresh execution always does.
    const result = await adopting.execute(envelopeFor(bundle, "h"));
    expect(result.error?.code).toBe("E_TIMEOUT");
  });

  it("serves an adopted bundle as the runner that loaded it does, warm context included", async () => {
    const source = "let calls = 0;\nexport function count() { calls += 1; return calls; }\nexport function shout(request) { return String(request.body).toUpperCase(); }";
    const bundle = await buildBundle({ source, warmContext: true });
    const loader = runner();
    const { handlers } = await loader.load(bundle);
    expect([...handlers].sort()).toEqual(["count", "shout"]);
    const adopter = runner();
    adoptVerifiedParts(adopter, bundle, handlers);
    for (const target of [loader, adopter]) {
      expect((await target.execute(envelopeFor(bundle, "shout", { body: "hi" }))).response?.body).toBe("HI");
      const counts = [];
      for (let i = 0; i < 3; i++) counts.push((await target.execute(envelopeFor(bundle, "count", { context: "warm" }))).response?.body);
      expect(counts).toEqual([1, 2, 3]);
      expect((await target.execute(envelopeFor(bundle, "missing"))).error?.code).toBe("E_HANDLER_NOT_FOUND");
    }
  });

  it("keeps the bundle a runner already holds, and refuses once the runner is closed", async () => {
    const bundle = await buildBundle({ source: "export function h() { return 1; }" });
    const target = runner();
    await target.load(bundle);
    // The handlers of the load stand; what an adopt claims does not replace them.
    expect(adoptVerifiedParts(target, bundle, ["other"]).handlers).toEqual(["h"]);
    const other = await buildBundle({ source: "export function g() {}" });
    await target.close();
    expect(() => adoptVerifiedParts(target, other, ["g"])).toThrow(expect.objectContaining({ code: "E_RUNNER_UNAVAILABLE" }));
  });
});
