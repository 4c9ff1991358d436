import { describe, expect, it } from "vitest";
import { loadBuild } from "../../src/testing/load-build.js";

describe("loadBuild (the test host's optional @annex/build)", () => {
  it("loads @annex/build, which packs folders exactly as annex pack does", async () => {
    const build = await loadBuild();
    expect(typeof build.packExtension).toBe("function");
  });

  it("names the package and the command that installs it when @annex/build is missing", async () => {
    const missing = Object.assign(new Error("Cannot find package '@annex/build' imported from /x/node_modules/@annex/host/dist/testing/index.js"), {
      code: "ERR_MODULE_NOT_FOUND",
    });
    await expect(loadBuild(() => Promise.reject(missing))).rejects.toMatchObject({
      name: "TestHostError",
      code: "E_TEST_HOST_SOURCE",
      message: expect.stringContaining("npm i -D @annex/build"),
      details: { package: "@annex/build" },
    });
  });

  it("lets any other failure through unchanged (a broken install is not a missing one)", async () => {
    const broken = Object.assign(new Error("Cannot find package 'esbuild' imported from /x/node_modules/@annex/build/dist/index.js"), { code: "ERR_MODULE_NOT_FOUND" });
    await expect(loadBuild(() => Promise.reject(broken))).rejects.toBe(broken);
    const syntax = new SyntaxError("Unexpected token");
    await expect(loadBuild(() => Promise.reject(syntax))).rejects.toBe(syntax);
  });
});
