import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach } from "vitest";
import { main } from "../src/main.js";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `annex` in-process with `cwd` as its working folder, capturing both streams. */
export async function run(cwd: string, ...argv: string[]): Promise<RunResult> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    cwd,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

const temps: string[] = [];

/** A fresh temporary folder, removed after the current test. */
export async function tempDir(prefix = "annex-cli-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(temps.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Writes files (POSIX path → text or bytes) under `root`, creating folders. */
export async function writeTree(root: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const target = join(root, ...path.split("/"));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
  }
}

/** The canonical service manifest of the examples, with `runtime.source` so that pack builds it. */
export function serviceManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    manifestVersion: 2,
    id: "acme.hello",
    name: "Hello",
    version: "1.0.0",
    publisher: "acme",
    description: "Says hello.",
    engines: { annex: "^0.1.0" },
    runtime: { class: "service", entry: "server/index.js", source: "src/server.ts" },
    capabilities: [{ name: "log", reason: "Writes request logs for debugging." }],
    endpoints: [{ class: "api", method: "GET", path: "/hello/:name", handler: "hello" }],
    ...overrides,
  };
}

/** A small service extension folder: manifest, a TypeScript server that imports a helper, a UI page. */
export async function serviceFolder(root: string, overrides: Record<string, unknown> = {}): Promise<string> {
  await writeTree(root, {
    "annex.json": JSON.stringify(serviceManifest({ ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Hello" }] }, ...overrides }), null, 2),
    "src/server.ts": 'import { greeting } from "./greeting.js";\nexport function hello(request: { params: Record<string, string> }) {\n  return { body: greeting(request.params.name ?? "world") };\n}\n',
    "src/greeting.ts": "export const greeting = (name: string): string => `Hello, ${name}!`;\n",
    "ui/index.html": "<!doctype html><title>Hello</title><p>Hello</p>\n",
  });
  return root;
}
