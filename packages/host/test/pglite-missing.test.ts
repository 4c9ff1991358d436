import { describe, expect, it } from "vitest";
import { importPGlite } from "../src/database/pglite-module.js";
import { DatabaseError } from "../src/index.js";

// PGlite is an optional peer dependency of @annex/host. The end-to-end case (a project that installed
// @annex/host without it and calls createHost()) runs in tests/publish against the packed tarballs.
describe("the embedded database without @electric-sql/pglite", () => {
  it("answers E_PGLITE_MISSING, saying what to install or pass instead", async () => {
    const error = await importPGlite("@electric-sql/pglite-not-installed").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).code).toBe("E_PGLITE_MISSING");
    expect((error as DatabaseError).message).toMatch(/npm i @electric-sql\/pglite/);
    expect((error as DatabaseError).message).toMatch(/postgres:\/\//);
  });

  it("loads PGlite when it is installed", async () => {
    const { PGlite } = await importPGlite();
    expect(typeof PGlite.create).toBe("function");
  });
});
