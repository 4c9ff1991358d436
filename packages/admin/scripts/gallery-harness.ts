/**
 * Shared by the gallery's server, the screenshot script and the gallery's
 * Chromium test: gallery/index.html and its script bundled from src/ with
 * esbuild, served from node:http on 127.0.0.1.
 */
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const packageRoot = resolve(fileURLToPath(new URL("..", import.meta.url)));

export interface GalleryServer {
  url: string;
  close(): Promise<void>;
}

export async function startGalleryServer(): Promise<GalleryServer> {
  const result = await build({
    entryPoints: [resolve(packageRoot, "gallery/gallery.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["source"],
    logLevel: "silent",
  });
  const script = result.outputFiles[0]!.text;
  const html = await readFile(resolve(packageRoot, "gallery/index.html"), "utf8");
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/" || path === "/index.html") return void res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(html);
    if (path === "/gallery.js") return void res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" }).end(script);
    res.writeHead(404).end();
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/index.html`, close: () => new Promise<void>((done) => server.close(() => done())) };
}
