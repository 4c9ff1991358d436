/**
 * Real-browser plumbing shared by the end-to-end tests and the benchmark:
 * esbuild bundles of the test pages' scripts (built from src/), three
 * loopback HTTP servers on three origins, and Debian's Chromium driven by
 * playwright-core with a fresh, empty profile.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type BrowserContext } from "playwright-core";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "e2e", "fixtures");

export const EXTENSION_ID = "acme.analytics";
export const CONTENT_HASH = `sha256:${"c0ffee".repeat(10)}abcd`;

export const CONTEXT = {
  tenant: "tenant-1",
  user: { id: "user-1", displayName: "Ada Lovelace", email: "ada@example.com" },
  locale: "en-GB",
  extension: { id: EXTENSION_ID, version: "1.2.0" },
};
/** Both capabilities the bridge enforces, as an install's grants list them. */
export const ALL_GRANTS = [{ name: "ui.toast" }, { name: "user.read" }];
export const LIGHT = { mode: "light" as const, tokens: { "--annex-color-bg": "#ffffff", "--annex-color-text": "#1f2328" } };
export const DARK = { mode: "dark" as const, tokens: { "--annex-color-bg": "#0d1117", "--annex-space-2": "8px" } };

export interface Bundles {
  host: string;
  client: string;
}

/** A fixture of e2e/fixtures bundled for the browser (an IIFE). */
export async function bundle(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [join(FIXTURES, entry)],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild produced nothing for ${entry}`);
  return file.text;
}

export async function buildBundles(): Promise<Bundles> {
  const [host, client] = await Promise.all([bundle("host-app.ts"), bundle("ext-app.ts")]);
  return { host, client };
}

export interface Hit {
  server: "host" | "ext" | "third";
  method: string;
  path: string;
  cookie: string | undefined;
  origin: string | undefined;
  referer: string | undefined;
}

export interface Servers {
  /** http://127.0.0.1:A — the host application. */
  hostOrigin: string;
  /** http://localhost:B — where extension pages are served (a second origin). */
  extOrigin: string;
  /** http://127.0.0.1:C — a third origin, for frames that navigate away. */
  thirdOrigin: string;
  hits: Hit[];
  /** Paths of requests whose client went away before the answer (an aborted fetch). */
  aborted: string[];
  extPage(name: string): string;
  close(): Promise<void>;
}

const html = (body: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>test page</title></head><body>${body}</body></html>`;

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", ...headers });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startServers(bundles: Bundles): Promise<Servers> {
  const hits: Hit[] = [];
  const aborted: string[] = [];
  const record = (server: Hit["server"], req: IncomingMessage) =>
    hits.push({ server, method: req.method ?? "", path: req.url ?? "", cookie: req.headers.cookie, origin: req.headers.origin, referer: req.headers.referer });
  const sockets = new Set<import("node:net").Socket>();

  const host = createServer(async (req, res) => {
    record("host", req);
    const url = new URL(req.url ?? "/", "http://host.invalid");
    const ownApi = `/api/ext/${EXTENSION_ID}/`;
    if (url.pathname === "/host.html") {
      return send(res, 200, "text/html", html('<h1>Test host</h1><script src="/host.js"></script>'), {
        "set-cookie": "annex_session=s3cret; HttpOnly; SameSite=Lax; Path=/",
      });
    }
    if (url.pathname === "/host.js") return send(res, 200, "text/javascript", bundles.host);
    if (url.pathname === `${ownApi}echo`) {
      const body = (await readBody(req)).toString("utf8");
      return send(
        res,
        200,
        "application/json",
        JSON.stringify({ method: req.method, path: url.pathname, query: url.search, cookie: req.headers.cookie ?? null, contentType: req.headers["content-type"] ?? null, body }),
        { "x-internal": "secret", "set-cookie": "leak=1; Path=/", etag: '"v1"' },
      );
    }
    if (url.pathname === `${ownApi}big`) {
      const body = await readBody(req);
      return send(res, 200, "text/plain", body);
    }
    if (url.pathname === `${ownApi}slow`) {
      const timer = setTimeout(() => send(res, 200, "text/plain", "late"), 5_000);
      res.on("close", () => {
        if (!res.writableFinished) aborted.push(url.pathname);
        clearTimeout(timer);
      });
      return;
    }
    if (url.pathname === `${ownApi}redirect`) return send(res, 302, "text/plain", "", { location: "/api/ext/other.ext/secrets" });
    if (url.pathname.startsWith("/api/ext/other.ext/")) return send(res, 200, "application/json", '{"secret":"other extension data"}');
    return send(res, 404, "text/plain", "not found");
  });

  const extPages: Record<string, string> = {
    "index.html": html('<main id="content" style="height:120px;margin:0">Hello from the extension</main><script src="/client.js" data-autoconnect></script>'),
    "manual.html": html('<main id="content" style="height:120px;margin:0">Manual extension page</main><script src="/client.js"></script>'),
    "silent.html": html("<p>This page never connects.</p>"),
  };
  const ext = createServer((req, res) => {
    record("ext", req);
    const url = new URL(req.url ?? "/", "http://ext.invalid");
    if (url.pathname === "/client.js") return send(res, 200, "text/javascript", bundles.client);
    const prefix = `/ext-ui/${EXTENSION_ID}/${CONTENT_HASH}/`;
    if (url.pathname.startsWith(prefix)) {
      const page = extPages[url.pathname.slice(prefix.length)];
      if (page) return send(res, 200, "text/html", page);
    }
    return send(res, 404, "text/plain", "not found");
  });

  const third = createServer((req, res) => {
    record("third", req);
    const url = new URL(req.url ?? "/", "http://third.invalid");
    if (url.pathname === "/client.js") return send(res, 200, "text/javascript", bundles.client);
    // A portal of another origin that frames the host page (?src=…): the host's top window is out of its reach.
    if (url.pathname === "/embed.html") {
      const src = url.searchParams.get("src") ?? "";
      if (!/^http:\/\/127\.0\.0\.1:\d+\/[\w./?=&-]*$/.test(src)) return send(res, 400, "text/plain", "bad src");
      return send(res, 200, "text/html", html(`<p>Portal</p><iframe src="${src.replaceAll("&", "&amp;")}" style="width:100%;height:600px"></iframe>`));
    }
    if (url.pathname === "/spoof.html") return send(res, 200, "text/html", html('<p>Spoofing page</p><script src="/client.js"></script>'));
    return send(res, 404, "text/plain", "not found");
  });

  const servers = [host, ext, third];
  for (const server of servers) {
    server.on("connection", (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
  }
  const [hostPort, extPort, thirdPort] = await Promise.all(servers.map(listen));
  const extOrigin = `http://localhost:${extPort}`;
  return {
    hostOrigin: `http://127.0.0.1:${hostPort}`,
    extOrigin,
    thirdOrigin: `http://127.0.0.1:${thirdPort}`,
    hits,
    aborted,
    extPage: (name) => `${extOrigin}/ext-ui/${EXTENSION_ID}/${CONTENT_HASH}/${name}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

export const CHROMIUM_PATH = process.env.ANNEX_CHROMIUM ?? "/usr/bin/chromium";

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Debian's Chromium headless with an empty profile of its own. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium was not found at ${CHROMIUM_PATH}. The browser tests need it: run "pnpm test" (its setup installs Debian's chromium), ` +
        `or install it with "sudo apt-get install chromium", or point ANNEX_CHROMIUM at a Chromium binary.`,
    );
  }
  const userDataDir = mkdtempSync(join(tmpdir(), "annex-chromium-"));
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
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
    });
    return {
      context,
      async close() {
        await context.close();
        rmSync(userDataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw error;
  }
}
