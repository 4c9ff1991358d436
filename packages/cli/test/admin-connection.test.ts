import { describe, expect, it } from "vitest";
import { redactUrl } from "../src/admin/connection.js";
import { run, tempDir } from "./helpers.js";

describe("annex admin --host", () => {
  it("never echoes credentials, a query or a fragment of --host in its errors", async () => {
    const cwd = await tempDir();
    const cases: Array<[string, string]> = [
      ["https://ada:annex_SECRET_TOKEN@host.example", "https://***@host.example"],
      ["https://annex_SECRET_TOKEN@host.example/", "https://***@host.example/"],
      ["https://host.example/?token=annex_SECRET_TOKEN", "https://host.example/?…"],
      ["https://host.example/#annex_SECRET_TOKEN", "https://host.example/#…"],
      ["https://ada:annex_SECRET/TOKEN@host.example", "https://***@host.example"], // not a valid URL: echoed, redacted
      ["ftp://ada:annex_SECRET_TOKEN@host.example", "ftp://***@host.example"],
    ];
    for (const [host, shown] of cases) {
      const result = await run(cwd, "admin", "list", "--host", host, "--token", "annex_t");
      expect(result.code, host).toBe(2);
      expect(result.stderr, host).toMatch(/^E_USAGE: annex admin list: --host /);
      expect(result.stderr, host).not.toContain("SECRET");
      expect(result.stderr, host).toContain(`(got "${shown}")`);
    }
    expect(redactUrl("ada:annex_SECRET@host.example")).toBe("***@host.example");
  });
});
