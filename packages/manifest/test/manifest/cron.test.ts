import { Cron } from "croner";
import semver from "semver";
import { describe, expect, it, vi } from "vitest";
import { isAnnexError, ManifestError, parseManifest } from "../../src/index.js";
import { cronProblem } from "../../src/manifest/jobs.js";
import { service } from "./fixtures.js";

/**
 * Runs `check` at each of the last `levels` stack depths before the stack runs
 * out, deepest first, and collects what each call returned or threw.
 */
function nearTheStackLimit<T>(check: (level: number) => T, levels = 3000): Array<{ value: T } | { error: unknown }> {
  const outcomes: Array<{ value: T } | { error: unknown }> = [];
  const descend = (): void => {
    try {
      descend();
    } catch {
      // The stack ran out below this frame.
    }
    if (outcomes.length >= levels) return;
    try {
      outcomes.push({ value: check(outcomes.length) });
    } catch (error) {
      outcomes.push({ error });
    }
  };
  descend();
  return outcomes;
}

describe("cron that never fires", () => {
  it("is refused as such when croner finds no run, even for one missing in many months a year", () => {
    for (const cron of ["0 0 30 2 *", "0 0 31 2,4,6,9,11 *", "0 0 30,31 2 *", "*/5 1-3 31 4,6 *"]) {
      expect(cronProblem(cron)).toMatch(/^cron never fires/);
      expect(cronProblem(cron, "Pacific/Kiritimati")).toMatch(/^cron never fires/);
    }
  });

  it("is not confused with a cron that fires rarely", () => {
    // Feb 29th, and the fifth Monday of February (Feb 29th on a Monday: 2044, 2072, …).
    for (const cron of ["0 0 29 2 *", "0 0 * 2 1#5", "0 0 31 2 1#5", "0 0 31 12 *"]) expect(cronProblem(cron)).toBeUndefined();
  });

  it("answers an error croner did not throw as the check's failure, not the cron's: typed, and not remembered", () => {
    const overflow = vi.spyOn(Cron.prototype, "nextRun").mockImplementation(() => {
      throw new RangeError("Maximum call stack size exceeded");
    });
    try {
      const error = (() => {
        try {
          cronProblem("7 7 7 7 *");
        } catch (caught) {
          return caught;
        }
        throw new Error("expected cronProblem to throw");
      })();
      expect(isAnnexError(error, "E_INTERNAL")).toBe(true);
      expect((error as Error).message).toMatch(/could not check the cron "7 7 7 7 \*" of jobs\[\]\.cron \(RangeError: Maximum call stack size exceeded\)/);
      expect((error as Error).cause).toBeInstanceOf(RangeError);
      expect(() => parseManifest(service({ jobs: [{ name: "sync", cron: "7 7 7 7 *", handler: "sync" }] }))).toThrow(
        expect.objectContaining({ code: "E_INTERNAL" }),
      );
    } finally {
      overflow.mockRestore();
    }
    expect(cronProblem("7 7 7 7 *")).toBeUndefined();
  });

  it("keeps croner's own refusals as problems with the cron", () => {
    expect(cronProblem("0 24 * * *")).toMatch(/^cron is not valid: Invalid value for hour: 24/);
    expect(cronProblem("0 0 0 * *")).toMatch(/^cron is not valid: /);
  });

  it("never blames the cron for a stack that ran out while checking it", () => {
    // The fifth Monday of February: croner searches years for it, deep enough to run out of stack near the limit.
    // Each check a different cron, so no verdict comes from the cache.
    const cronAt = (level: number) => `${level % 60} ${Math.floor(level / 60) % 24} * 2 1#5`;
    const outcomes = nearTheStackLimit((level) => cronProblem(cronAt(level)), 1440);
    const verdicts = outcomes.filter((outcome) => "value" in outcome).map((outcome) => outcome.value);
    expect(verdicts.filter((verdict) => verdict !== undefined)).toEqual([]);
    // A check that ran out of stack fails (typed E_INTERNAL when there is room left to build the error) instead of answering.
    const errors = outcomes.filter((outcome) => "error" in outcome).map((outcome) => outcome.error);
    expect(errors.length).toBeGreaterThan(0);
    for (const error of errors) expect(isAnnexError(error, "E_INTERNAL") || error instanceof RangeError).toBe(true);
    // Nothing wrong was remembered: the same crons pass at a normal depth.
    for (let level = 0; level < outcomes.length; level++) expect(cronProblem(cronAt(level))).toBeUndefined();
  });

  it("parseManifest does not refuse a version or range semver failed to check, rather than refused", () => {
    // A function, not an arrow: semver calls it with new.
    const overflow = function (): never {
      throw new RangeError("Maximum call stack size exceeded");
    };
    for (const [name, field] of [
      ["SemVer", "version"],
      ["Range", "engines.annex"],
    ] as const) {
      const spy = vi.spyOn(semver, name).mockImplementation(overflow);
      try {
        expect(() => parseManifest(service())).toThrow(RangeError);
      } finally {
        spy.mockRestore();
      }
      expect(() => parseManifest(service()), field).not.toThrow();
    }
    expect(() => parseManifest(service({ version: "v1.0" }))).toThrow(/version must be a semantic version/);
    expect(() => parseManifest(service({ engines: { annex: "^^1" } }))).toThrow(/must be a valid semver range/);
  });

  it("parseManifest does not refuse a valid manifest when the stack runs out checking it (cron, version, engines)", () => {
    const manifest = (level: number) => service({ jobs: [{ name: "sync", cron: `${level % 60} ${Math.floor(level / 60) % 24} * * *`, handler: "sync" }] });
    const outcomes = nearTheStackLimit((level) => parseManifest(manifest(level)), 1440);
    for (const outcome of outcomes) if ("error" in outcome) expect(outcome.error).not.toBeInstanceOf(ManifestError);
  });
});
