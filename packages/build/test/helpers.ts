import { constants, existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { afterEach } from "vitest";

const temps: string[] = [];

/** A fresh temporary folder, removed after the current test. */
export async function tempDir(prefix = "annex-build-"): Promise<string> {
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

export const decode = (bytes: Uint8Array | undefined): string => new TextDecoder().decode(bytes);

/** The canonical service manifest of the examples, with `runtime.source` so that packing builds it. */
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

/** A bundle-class manifest with the given UI pages (entries under ui/). */
export function uiManifest(pages: string[], ui: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    manifestVersion: 2,
    id: "acme.pages",
    name: "Pages",
    version: "1.0.0",
    publisher: "acme",
    description: "UI pages.",
    engines: { annex: "^0.1.0" },
    runtime: { class: "bundle" },
    ui: { pages: pages.map((entry, i) => ({ slot: "app", path: i === 0 ? "/" : `/p${i}`, entry, title: `Page ${i}` })), ...ui },
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

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * Pages import @annex/ui-kit and @annex/iframe-bridge as published: from
 * their dist/. Builds them when dist/ is missing or older than src/.
 */
export function ensureUiPackagesBuilt(): void {
  const stale = ["iframe-bridge", "ui-kit"].filter((name) => {
    const pkg = join(repoRoot, "packages", name);
    const dist = join(pkg, "dist", "index.js");
    return !existsSync(dist) || statSync(dist).mtimeMs < newest(join(pkg, "src"));
  });
  if (stale.length > 0) {
    execFileSync("pnpm", ["--filter", "@annex/iframe-bridge", "--filter", "@annex/ui-kit", "run", "build"], { cwd: repoRoot, stdio: "pipe" });
  }
}

function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/**
 * Links workspace packages into `<dir>/node_modules`, the way a package
 * manager installs them in an extension's folder.
 */
export async function linkPackages(dir: string, names: string[] = ["ui-kit", "iframe-bridge"]): Promise<void> {
  await mkdir(join(dir, "node_modules", "@annex"), { recursive: true });
  for (const name of names) await symlink(join(repoRoot, "packages", name), join(dir, "node_modules", "@annex", name), "dir");
}

/** Makes a FIFO (named pipe) at `path`: reading one waits for a writer, so a build that opens it would hang. */
export function mkfifo(path: string): void {
  execFileSync("mkfifo", [path]);
}

/**
 * `promise`, settled; if it has not settled after `ms` (something opened the
 * FIFO and waits on it), the FIFO is opened for writing and closed, so the
 * reader sees end-of-file and the test fails on its assertion instead of
 * hanging the run. `hung` says whether that was needed.
 */
export async function settleBeforeHang<T>(promise: Promise<T>, fifo: string, ms = 5_000): Promise<{ hung: boolean; result: PromiseSettledResult<T> }> {
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    // Non-blocking: it opens only when a reader waits, and never waits itself.
    void open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).then((handle) => handle.close(), () => undefined);
  }, ms);
  const [result] = await Promise.allSettled([promise]);
  clearTimeout(timer);
  return { hung, result: result! };
}
