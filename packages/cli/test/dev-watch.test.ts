import { symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/main.js";
import { fakeAdminHost } from "./fake-admin-host.js";
import { serviceFolder, tempDir } from "./helpers.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("annex dev (watching)", () => {
  it("does not follow a symlink out of the folder: a change behind it publishes nothing, a change inside does", async () => {
    const cwd = await tempDir();
    const outside = await tempDir("annex-cli-outside-");
    const dir = await serviceFolder(join(cwd, "ext"));
    // Left out of the bundle by .annexignore, so the folder packs; what it points at is no source of the extension.
    await writeFile(join(dir, ".annexignore"), "linked\n");
    await symlink(outside, join(dir, "linked"), "dir");
    const published: string[] = [];
    const host = await fakeAdminHost(({ method, path, body }) => {
      if (method === "GET" && path === "/installs/acme.hello") return { status: 404, json: { code: "E_INSTALL_NOT_FOUND", message: "not installed" } };
      if (method === "POST" && path === "/extensions") {
        published.push(path);
        return { status: 201, json: {} };
      }
      if (method === "POST" && path === "/installs") {
        const { version } = JSON.parse(body.toString()) as { version: string };
        return { status: 201, json: { extensionId: "acme.hello", version, state: "active", grants: [] } };
      }
      return undefined;
    });
    const controller = new AbortController();
    let stdout = "";
    let stderr = "";
    const done = main(["dev", "ext", "--host", host.url, "--token", "annex_t", "--yes"], {
      cwd,
      signal: controller.signal,
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
    });
    try {
      for (let i = 0; i < 200 && !stdout.includes("watching"); i++) await sleep(100);
      expect(stdout, stderr).toContain("watching ext for changes");
      expect(published, stdout + stderr).toHaveLength(1);

      await writeFile(join(outside, "unrelated.txt"), "a change outside the project");
      await sleep(1500); // well past the debounce (25 ms) and the folder check (100 ms)
      expect(published, stdout).toHaveLength(1);

      await writeFile(join(dir, "src/greeting.ts"), "export const greeting = (name: string): string => `Hi, ${name}!`;\n");
      for (let i = 0; i < 100 && published.length === 1; i++) await sleep(100);
      expect(published, stderr).toHaveLength(2);
    } finally {
      controller.abort();
      await done;
    }
  }, 40_000);
});
