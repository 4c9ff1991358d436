/**
 * What the end-to-end tests and the screenshot script share: a build when
 * dist/ is stale, a static server for the gallery on 127.0.0.1, and Debian's
 * Chromium driven by playwright-core with a fresh, empty profile.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext } from "playwright-core";

export const packageRoot = resolve(fileURLToPath(new URL("..", import.meta.url)));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds the package when dist/ is missing or older than src/ (the gallery loads the built files). */
export function ensureBuilt(): void {
  const outputs = ["dist/index.js", "dist/base.css"].map((f) => join(packageRoot, f));
  const builtAt = outputs.every(existsSync) ? Math.min(...outputs.map((f) => statSync(f).mtimeMs)) : 0;
  const sourceAt = Math.max(newestMtime(join(packageRoot, "src")), statSync(join(packageRoot, "tsup.config.ts")).mtimeMs);
  if (builtAt > sourceAt) return;
  execFileSync("pnpm", ["run", "build"], { cwd: packageRoot, stdio: "pipe" });
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

export interface GalleryServer {
  /** The gallery page's URL. */
  url: string;
  origin: string;
  close(): Promise<void>;
}

/** Serves gallery/ and dist/ (nothing else) from the package on an ephemeral 127.0.0.1 port. */
export async function startGalleryServer(): Promise<GalleryServer> {
  const allowed = [join(packageRoot, "gallery") + sep, join(packageRoot, "dist") + sep];
  const server: Server = createServer(async (req, res) => {
    const path = normalize(join(packageRoot, decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)));
    if (req.method !== "GET" || !allowed.some((dir) => path.startsWith(dir))) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(path);
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream", "cache-control": "no-store" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("gallery server has no port");
  const origin = `http://127.0.0.1:${address.port}`;
  return {
    url: `${origin}/gallery/index.html`,
    origin,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Chromium (ANNEX_CHROMIUM or /usr/bin/chromium) headless with a new empty profile. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.ANNEX_CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium not found at ${executablePath}: run 'sh scripts/setup.sh test' (installs Debian's chromium) or set ANNEX_CHROMIUM`);
  }
  const userDataDir = mkdtempSync(join(tmpdir(), "annex-ui-kit-chromium-"));
  // A persistent context is how playwright takes a user-data-dir; the directory is new and empty.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
    reducedMotion: "reduce",
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
