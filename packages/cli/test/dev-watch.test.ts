import { symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/main.js";
import { fakeAdminHost } from "./fake-admin-host.js";
import { parseManifest } from "@annex/manifest";
import { serviceFolder, serviceManifest, tempDir } from "./helpers.js";

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

describe("annex dev (unchanged builds)", () => {
  it("publishes nothing when a change leaves the bundle as it is: a log the folder ignores, written at every round, does not loop", async () => {
    const cwd = await tempDir();
    const dir = await serviceFolder(join(cwd, "ext"));
    await writeFile(join(dir, ".annexignore"), "*.log\n");
    const published: string[] = [];
    let installed: string | null = null;
    const host = await fakeAdminHost(({ method, path, body }) => {
      if (method === "GET" && path === "/installs/acme.hello") {
        return installed === null
          ? { status: 404, json: { code: "E_INSTALL_NOT_FOUND", message: "not installed" } }
          : { status: 200, json: { install: { extensionId: "acme.hello", version: installed, state: "active", grants: [{ name: "log" }] }, manifest: null } };
      }
      if (method === "POST" && path === "/extensions") {
        published.push(path);
        return { status: 201, json: {} };
      }
      if (method === "POST" && (path === "/installs" || path === "/installs/acme.hello/upgrade")) {
        installed = (JSON.parse(body.toString()) as { version: string }).version;
        return { status: 201, json: { extensionId: "acme.hello", version: installed, state: "active", grants: [{ name: "log" }] } };
      }
      return undefined;
    });
    const controller = new AbortController();
    let stdout = "";
    let stderr = "";
    // As `annex dev ext … > ext/dev.log` would: every line printed changes a file in the watched folder.
    let log = "";
    const done = main(["dev", "ext", "--host", host.url, "--token", "annex_t", "--yes"], {
      cwd,
      signal: controller.signal,
      stdout: { write: (text: string) => ((stdout += text), (log += text), void writeFile(join(dir, "dev.log"), log)) },
      stderr: { write: (text: string) => (stderr += text) },
    });
    try {
      for (let i = 0; i < 200 && !stdout.includes("watching"); i++) await sleep(100);
      expect(stdout, stderr).toContain("watching ext for changes");
      await sleep(2000);
      expect(published, stdout + stderr).toHaveLength(1);
      // Said once: the line lands in the log too, and another round for it says nothing.
      expect(stdout.match(/^unchanged: acme\.hello builds the same bundle as the version live; nothing published/gm)).toHaveLength(1);

      await writeFile(join(dir, "src/greeting.ts"), "export const greeting = (name: string): string => `Hi, ${name}!`;\n");
      for (let i = 0; i < 100 && published.length === 1; i++) await sleep(100);
      await sleep(1500);
      expect(published, stdout + stderr).toHaveLength(2);
    } finally {
      controller.abort();
      await done;
    }
  }, 40_000);
});

describe("annex dev (consent to exposure)", () => {
  it("a change that turns an api endpoint public needs --accept exposure (or --yes) before anything is published", async () => {
    const cwd = await tempDir();
    await serviceFolder(join(cwd, "ext"), { endpoints: [{ class: "public", method: "GET", path: "/hello/:name", handler: "hello" }] });
    // Installed: the same capabilities, the endpoint for signed-in users only.
    const installed = parseManifest(serviceManifest({ runtime: { class: "service", entry: "server/index.js" } }));
    const calls: { method: string; path: string; body: string }[] = [];
    const host = await fakeAdminHost(({ method, path, body }) => {
      calls.push({ method, path, body: body.toString() });
      if (method === "GET" && path === "/installs/acme.hello")
        return { status: 200, json: { install: { extensionId: "acme.hello", version: "1.0.0", state: "active", grants: [{ name: "log" }] }, manifest: installed } };
      if (method === "POST" && path === "/extensions") return { status: 201, json: {} };
      if (method === "POST" && path === "/installs/acme.hello/upgrade") {
        const { version } = JSON.parse(body.toString()) as { version: string };
        return { status: 200, json: { extensionId: "acme.hello", version, state: "active", grants: [{ name: "log" }] } };
      }
      return undefined;
    });
    const run = async (...accept: string[]) => {
      let stdout = "";
      let stderr = "";
      const code = await main(["dev", "ext", "--once", "--host", host.url, "--token", "annex_t", ...accept], {
        cwd,
        stdout: { write: (text: string) => (stdout += text) },
        stderr: { write: (text: string) => (stderr += text) },
      });
      return { code, stdout, stderr };
    };

    const refused = await run("--accept", "log");
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toContain("exposes the install to more callers:\n  GET /hello/:name: api → public endpoint (anyone, without signing in)");
    expect(refused.stderr).toMatch(/E_CONSENT_REQUIRED: not accepted: exposure/);
    expect(calls.filter((call) => call.method === "POST")).toEqual([]);

    const accepted = await run("--accept", "log,exposure");
    expect(accepted.code, accepted.stderr).toBe(0);
    const upgrade = calls.find((call) => call.path === "/installs/acme.hello/upgrade");
    // The grants are the consent the host asks for.
    expect(JSON.parse(upgrade!.body)).toMatchObject({ grants: [{ name: "log" }] });
  }, 40_000);
});
