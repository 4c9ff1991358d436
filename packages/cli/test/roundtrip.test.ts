import { execFile, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, rmdir, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseSignature, parseTrustStore } from "@annex/manifest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const bin = join(root, "packages/cli/bin/annex.js");
const exec = promisify(execFile);

/** Runs the real `annex` binary; never throws, so that failures show their output. */
async function annex(cwd: string, ...args: string[]) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NO_COLOR: "1" } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

/** Links the @annex packages a generated extension's package.json names into its node_modules, as `npm install` would. */
async function installWorkspacePackages(ext: string): Promise<void> {
  const wanted = JSON.parse(await readFile(join(ext, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
  await mkdir(join(ext, "node_modules/@annex"), { recursive: true });
  for (const name of Object.keys(wanted.devDependencies).filter((name) => name.startsWith("@annex/"))) {
    await symlink(join(root, "packages", name.slice("@annex/".length)), join(ext, "node_modules", name), "dir");
  }
}

let work: string;

beforeAll(async () => {
  // The service template's tests run @annex/host's test host from its build, as an extension project would.
  // Its pages import @annex/ui-kit and @annex/iframe-bridge, which `annex pack` bundles from their builds.
  const builds = [
    "packages/cli/dist/main.js",
    "packages/build/dist/index.js",
    "packages/manifest/dist/index.js",
    "packages/host/dist/testing/index.js",
    "packages/runner/dist/index.js",
    "packages/ui-kit/dist/index.js",
    "packages/iframe-bridge/dist/client/index.js",
  ];
  if (!builds.every((file) => existsSync(join(root, file)))) {
    const filters = ["@annex/cli...", "@annex/host...", "@annex/ui-kit..."].flatMap((name) => ["--filter", name]);
    const build = spawnSync("pnpm", [...filters, "build"], { cwd: root, encoding: "utf8" });
    if (build.status !== 0) throw new Error(`building the CLI failed:\n${build.stdout}\n${build.stderr}`);
  }
  work = await mkdtemp(join(tmpdir(), "annex-roundtrip-"));
}, 300_000);

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe("the annex binary, end to end", () => {
  it("init → lint → keygen → trust add → pack → sign → verify → inspect, then refuses a tampered bundle", async () => {
    const init = await annex(work, "init", "hello", "--id", "acme.hello");
    expect(init, init.stderr).toMatchObject({ code: 0 });
    expect((await annex(work, "lint", "hello")).stdout).toBe("hello/annex.json: ok (acme.hello@0.1.0, service)\n");
    await installWorkspacePackages(join(work, "hello"));

    const keygen = await annex(work, "keygen", "--publisher", "acme", "--out", "keys", "--key-id", "acme-1");
    expect(keygen.code).toBe(0);
    expect((await stat(join(work, "keys/acme-1.key"))).mode & 0o777).toBe(0o600);
    const privateKey = JSON.parse(await readFile(join(work, "keys/acme-1.key"), "utf8")) as { privateKey: string };
    expect(keygen.stdout + keygen.stderr).not.toContain(privateKey.privateKey);

    expect((await annex(work, "trust", "add", "trust.json", "keys/acme-1.pub", "--class", "first-party")).code).toBe(0);
    expect(parseTrustStore(await readFile(join(work, "trust.json"), "utf8")).keys).toHaveLength(1);

    const pack = await annex(work, "pack", "hello", "-o", "hello.annex");
    expect(pack, pack.stderr).toMatchObject({ code: 0 });
    const contentHash = /^content hash: (sha256:[0-9a-f]{64})$/m.exec(pack.stdout)?.[1];
    expect(contentHash).toBeDefined();
    // annex.json, README.md, the server entry and its map, the page, its script and stylesheet with their maps.
    expect(pack.stdout).toMatch(/^files: 9$/m);
    expect(pack.stderr).toContain("bundling src/server.ts with esbuild…");

    const sign = await annex(work, "sign", "hello.annex", "--key", "keys/acme-1.key");
    expect(sign.code).toBe(0);
    expect(parseSignature(JSON.parse(await readFile(join(work, "hello.annex.sig"), "utf8"))).contentHash).toBe(contentHash);

    const verify = await annex(work, "verify", "hello.annex", "--trust", "trust.json");
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain(`content hash: ${contentHash}`);
    expect(verify.stdout).toContain("signed by: acme-1 (trust class first-party)");

    const inspect = await annex(work, "inspect", "hello.annex");
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toContain("why: Writes a log line for each greeting, for debugging.");
    expect(inspect.stdout).toContain("GET    /hello/:name → hello");
    expect(inspect.stdout).toMatch(/server\/index\.js\n/);

    const bytes = await readFile(join(work, "hello.annex"));
    bytes[bytes.length - 12]! ^= 0x55;
    await writeFile(join(work, "tampered.annex"), bytes);
    await writeFile(join(work, "tampered.annex.sig"), await readFile(join(work, "hello.annex.sig")));
    const tampered = await annex(work, "verify", "tampered.annex", "--trust", "trust.json");
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/^E_[A-Z_]+: /m);
  }, 180_000);

  it("exits 2 on a usage error and prints the version", async () => {
    expect((await annex(work, "pack")).code).toBe(2);
    const version = await annex(work, "--version");
    const pkg = JSON.parse(await readFile(join(root, "packages/cli/package.json"), "utf8")) as { version: string };
    expect(version).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
  }, 60_000);

  it("refuses to sign with a key others can read", async () => {
    const dir = await mkdtemp(join(tmpdir(), "annex-perms-"));
    try {
      await mkdir(join(dir, "k"));
      expect((await annex(dir, "keygen", "--publisher", "acme", "--out", "k", "--key-id", "a")).code).toBe(0);
      await chmod(join(dir, "k/a.key"), 0o644);
      const result = await annex(dir, "sign", "x.annex", "--key", "k/a.key");
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("chmod 600 k/a.key");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("the templates' own tests", () => {
  // Generated inside the workspace so that vitest and typescript resolve, with the @annex packages its
  // package.json names linked into its node_modules as `npm install` would put them there.
  it.each(["service", "bundle"])("a fresh %s extension passes its own test and typecheck", async (template) => {
    const scratch = join(root, "packages/cli/.annex-tmp");
    await mkdir(scratch, { recursive: true });
    const dir = await mkdtemp(join(scratch, `${template}-`));
    try {
      expect((await annex(dir, "init", "ext", "--template", template, "--id", "acme.ext")).code).toBe(0);
      const ext = join(dir, "ext");
      await installWorkspacePackages(ext);
      const vitest = spawnSync(process.execPath, [join(root, "node_modules/vitest/vitest.mjs"), "run", "--root", ext, "--config", join(ext, "vitest.config.ts")], {
        cwd: ext,
        encoding: "utf8",
        env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
      });
      expect(vitest.status, `${vitest.stdout}\n${vitest.stderr}`).toBe(0);
      expect(vitest.stdout).toMatch(/Tests\s+\d+ passed/);
      const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(ext, "tsconfig.json")], { cwd: ext, encoding: "utf8" });
      expect(tsc.status, `${tsc.stdout}\n${tsc.stderr}`).toBe(0);
      expect((await annex(ext, "pack", ".", "-o", join(dir, "ext.annex"))).code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rmdir(scratch).catch(() => undefined); // only once empty
    }
  }, 180_000);
});

/** Runs the binary with its stdout read by nobody: the reader closed the pipe at once, as `| head -0` does. */
function withClosedStdout(cwd: string, ...args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => resolvePromise({ code, signal, stderr }));
  });
}

describe("the annex binary writing into a closed pipe", () => {
  it("stops writing quietly and exits with the command's own code, never with an EPIPE stack trace", async () => {
    const dir = await mkdtemp(join(tmpdir(), "annex-epipe-"));
    try {
      expect((await annex(dir, "init", "hello", "--id", "acme.hello")).code).toBe(0);
      const commands = [["--help"], ["help", "sign"], ["lint", "hello"], ["keygen", "--publisher", "acme", "--out", "keys", "--key-id", "acme-1"], ["trust", "add", "trust.json", "keys/acme-1.pub", "--class", "partner"], ["trust", "list", "trust.json"]];
      for (const args of commands) {
        const result = await withClosedStdout(dir, ...args);
        expect(result.stderr, args.join(" ")).not.toMatch(/EPIPE|Unhandled 'error' event|at .*node:internal/);
        expect(result.signal, args.join(" ")).toBeNull();
        expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

