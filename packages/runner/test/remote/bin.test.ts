import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { createRemoteRunner } from "../../src/index.js";
import { buildBundle, envelopeFor } from "../support/fixtures.js";

const packageRoot = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(packageRoot, "bin/annex-runner.js");
// From source: tsx loads the TypeScript, and the "source" condition makes `@annex/runner` resolve to src/.
const nodeArgs = ["--import", "tsx", "--conditions", "source", bin];
const dir = mkdtempSync(join(tmpdir(), "annex-runner-bin-"));
const KEY = "bin-test-key-0123456789abcdef0123456789abcdef";
writeFileSync(join(dir, "key"), `${KEY}\n`);
writeFileSync(join(dir, "trust.json"), JSON.stringify({ trustStoreVersion: 1, keys: [] }));
let child: ChildProcess | undefined;

afterAll(() => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

it("refuses to start without a key file, saying what is missing", () => {
  const run = spawnSync(process.execPath, [...nodeArgs, "--trust", join(dir, "trust.json")], { cwd: packageRoot, encoding: "utf8", timeout: 30_000 });
  expect(run.status).toBe(2);
  expect(run.stderr).toContain("--key-file is required");
});

it("serves authenticated executions with a worker pool and stops on SIGTERM", async () => {
  child = spawn(process.execPath, [...nodeArgs, "--port", "0", "--key-file", join(dir, "key"), "--trust", join(dir, "trust.json"), "--dev", "--workers", "1"], {
    cwd: packageRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child!.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child!.once("exit", (code) => reject(new Error(`annex-runner exited with ${code}: ${stderr}`)));
  });
  const remote = createRemoteRunner({ url, key: KEY });
  try {
    const bundle = await buildBundle({ source: "export function hello(req) { return { hello: req.body.name }; }" });
    await remote.load(bundle);
    const result = await remote.execute(envelopeFor(bundle, "hello", { body: { name: "bin" } }));
    expect(result.response?.body).toEqual({ hello: "bin" });
    expect(await remote.health()).toMatchObject({ status: "ok", loadedBundles: 1, liveWorkers: 1 });
    // The same metric names as the host's, per install.
    expect(await remote.metrics()).toMatch(/^annex_executions_total\{tenant="tenant-a",extension="[^"]+",install="inst-1",trigger="endpoint"\} 1$/m);
  } finally {
    await remote.close();
  }
  const exited = new Promise<number | null>((resolve) => child!.once("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
});
