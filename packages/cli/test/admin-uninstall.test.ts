import { chmod, lstat, readFile, readdir, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { fakeAdminHost, type FakeCall } from "./fake-admin-host.js";
import { run, tempDir } from "./helpers.js";

// A disk that fills up between the purge and the export's write: writes fail while `full.on` is set.
const full = vi.hoisted(() => ({ on: false }));
vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  const enospc = async (): Promise<never> => {
    throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  };
  const open: typeof real.open = async (...args) => {
    const handle = await real.open(...args);
    if (!full.on) return handle;
    return new Proxy(handle, {
      get(target, property) {
        if (property === "writeFile" || property === "write") return enospc;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  };
  const writeFile: typeof real.writeFile = (...args) => (full.on ? enospc() : real.writeFile(...args));
  return { ...real, open, writeFile, default: { ...real, open, writeFile } };
});

const EXPORT = { config: { greeting: "Hi" }, secrets: { apiKey: "sk_live_THE_ONLY_COPY" }, kv: [] };

/** A host that purges acme.hello and answers with its export. */
function purgingHost() {
  return fakeAdminHost((call: FakeCall) => {
    if (call.method === "POST" && call.path === "/installs/acme.hello/uninstall") {
      const { purge } = JSON.parse(call.body.toString()) as { purge: boolean };
      return { json: { install: { extensionId: "acme.hello", version: "1.0.0", state: "uninstalled", grants: [] }, ...(purge ? { export: EXPORT } : {}) } };
    }
    return undefined;
  });
}

const UNINSTALL = "POST /installs/acme.hello/uninstall";

describe("annex admin uninstall --purge --export", () => {
  it("checks the export file before the purge: a folder that does not exist stops the command and nothing is purged", async () => {
    const cwd = await tempDir();
    const host = await purgingHost();
    const result = await run(cwd, "admin", "uninstall", "acme.hello", "--purge", "--export", "no-such-dir/export.json", "--host", host.url, "--token", "annex_t");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^E_FILE_NOT_FOUND: the folder of --export no-such-dir\/export\.json does not exist: nothing was uninstalled or purged\. Create it/);
    expect(host.calls).not.toContain(UNINSTALL);
    expect(result.stdout).toBe("");
  });

  it("refuses an existing file (it would keep its mode 0644) and a symlink at the path, purging nothing", async () => {
    const cwd = await tempDir();
    const host = await purgingHost();
    await writeFile(join(cwd, "export.json"), "old");
    await chmod(join(cwd, "export.json"), 0o644);
    const existing = await run(cwd, "admin", "uninstall", "acme.hello", "--purge", "--export", "export.json", "--host", host.url, "--token", "annex_t");
    expect(existing.code).toBe(1);
    expect(existing.stderr).toMatch(/^E_IO: --export export\.json exists already \(a file, folder or symlink\): nothing was uninstalled or purged\. .*pass a path that does not exist yet/);
    expect(await readFile(join(cwd, "export.json"), "utf8")).toBe("old");

    // A symlink is refused, not followed: to a world-readable file elsewhere, or dangling.
    const elsewhere = join(await tempDir(), "public.json");
    await writeFile(elsewhere, "");
    await symlink(elsewhere, join(cwd, "link.json"));
    await symlink(join(cwd, "nowhere.json"), join(cwd, "dangling.json"));
    for (const path of ["link.json", "dangling.json"]) {
      const linked = await run(cwd, "admin", "uninstall", "acme.hello", "--purge", "--export", path, "--host", host.url, "--token", "annex_t");
      expect(linked.code, path).toBe(1);
      expect(linked.stderr, path).toMatch(/^E_IO: --export \S+ exists already/);
    }
    expect(await readFile(elsewhere, "utf8")).toBe("");
    await expect(lstat(join(cwd, "nowhere.json"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(host.calls).not.toContain(UNINSTALL);
  });

  it("with --json writes the export to the file (mode 0600) and not to stdout; a purge the host refuses leaves no file", async () => {
    const cwd = await tempDir();
    const host = await purgingHost();
    const result = await run(cwd, "admin", "uninstall", "acme.hello", "--purge", "--export", "export.json", "--json", "--host", host.url, "--token", "annex_t");
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(cwd, "export.json"), "utf8"))).toEqual(EXPORT);
    expect((await stat(join(cwd, "export.json"))).mode & 0o777).toBe(0o600);
    expect(result.stdout).not.toContain("sk_live_THE_ONLY_COPY");
    expect(JSON.parse(result.stdout)).toMatchObject({ install: { state: "uninstalled" }, exportFile: "export.json" });

    const refused = await run(cwd, "admin", "uninstall", "acme.other", "--purge", "--export", "other.json", "--host", host.url, "--token", "annex_t");
    expect(refused.code).toBe(1);
    expect(await readdir(cwd)).toEqual(["export.json"]);
  });

  it("prints the export on stdout and exits 1 with E_IO when writing the file fails after the purge", async () => {
    const cwd = await tempDir();
    const host = await purgingHost();
    full.on = true;
    let result;
    try {
      result = await run(cwd, "admin", "uninstall", "acme.hello", "--purge", "--export", "export.json", "--host", host.url, "--token", "annex_t");
    } finally {
      full.on = false;
    }
    expect(host.calls).toContain(UNINSTALL);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual(EXPORT);
    expect(result.stderr).toMatch(
      /^E_IO: uninstalled and purged acme\.hello for tenant acme, but writing its export to export\.json failed \(ENOSPC\), so it was printed on stdout above instead: save it now, it is the only copy/,
    );
  });
});
