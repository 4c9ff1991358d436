import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { Manifest } from "@annex/manifest";
import { loadBuild } from "./load-build.js";
import { TEST_HOST_ORIGIN, TestHostError, type TestHost, type TestRequestOptions } from "./test-host.js";

export interface TestServerOptions {
  /** Port on 127.0.0.1; default any free one. */
  port?: number | undefined;
}

export interface FramePageOptions {
  /** Which page of the manifest: by `slot` and/or `path`; default the first `app` page, else the first page. */
  page?: { slot?: string | undefined; path?: string | undefined } | undefined;
  /** Who is signed in on the page: as `t.request`'s `as` (a user id or a principal); default nobody. */
  as?: TestRequestOptions["as"];
  /** The install's tenant; default the test host's. */
  tenant?: string | undefined;
  /** The theme the page gets; default light. */
  theme?: { mode: "light" | "dark"; tokens?: Record<string, string> } | undefined;
}

/**
 * The test host over HTTP on 127.0.0.1, with a page of its own that mounts
 * an install's UI page in its sandboxed frame through the bridge, as a
 * product's page does: what a browser test (Playwright) drives to test a
 * page against its handlers. The frame page's `api.fetch` calls go through
 * `t.request` as the principal of the frame page, everything else to the
 * gateway. The frame page records in `window.annexTest` what the extension
 * asked of the host: `toasts`, `navigations`, the codes of the messages the
 * bridge refused (`rejected`), and `state` ("connecting", "ready" or
 * "failed", with `error`), also set on `<html data-annex-frame>`.
 */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The URL of a page mounting the install's page of `extensionId`. */
  framePage(extensionId: string, options?: FramePageOptions): string;
  close(): Promise<void>;
}

interface FrameSession {
  extensionId: string;
  tenant: string;
  as: TestRequestOptions["as"];
  page: FramePageOptions["page"];
  theme: FramePageOptions["theme"];
}

const COOKIE = "annex-test-frame";
// The host side of the bridge, bundled once per process from @annex/iframe-bridge/host (resolved beside this module).
const FRAME_SCRIPT = `
import { buildExtUiSrc, mountExtensionFrame } from "@annex/iframe-bridge/host";

const config = JSON.parse(document.getElementById("annex-frame-config").textContent);
const record = (window.annexTest = { state: "connecting", error: null, toasts: [], navigations: [], rejected: [] });
document.documentElement.dataset.annexFrame = "connecting";
const frame = mountExtensionFrame({
  container: document.getElementById("annex-frame"),
  src: buildExtUiSrc({ base: location.origin, extensionId: config.extensionId, contentHash: config.contentHash, path: config.entry }),
  extensionOrigin: "opaque",
  title: config.title,
  context: config.context,
  grants: config.grants,
  theme: config.theme,
  hostApi: {
    toast: (toast) => void record.toasts.push(toast),
    navigate: (path) => (record.navigations.push(path), true),
  },
  onResize: (height) => (frame.iframe.style.height = height + "px"),
  onRejectedMessage: (error) => void record.rejected.push(error.code),
});
record.frame = frame;
frame.ready.then(
  () => { record.state = "ready"; document.documentElement.dataset.annexFrame = "ready"; },
  (error) => { record.state = "failed"; record.error = error.code; document.documentElement.dataset.annexFrame = "failed"; },
);
`;
let frameScript: Promise<string> | undefined;

function bundleFrameScript(): Promise<string> {
  frameScript ??= (async () => {
    const build = await loadBuild();
    try {
      return await build.bundleScript({ source: FRAME_SCRIPT, resolveDir: fileURLToPath(new URL(".", import.meta.url)) });
    } catch (error) {
      if (/@annex\/iframe-bridge/.test((error as Error).message)) {
        throw new TestHostError("E_TEST_HOST_SOURCE", "the test host's frame page needs @annex/iframe-bridge, which is not installed: add it to the devDependencies (npm i -D @annex/iframe-bridge)", {
          package: "@annex/iframe-bridge",
        });
      }
      throw error;
    }
  })();
  frameScript.catch(() => (frameScript = undefined));
  return frameScript;
}

function pickPage(manifest: Manifest, wanted: FramePageOptions["page"]): Manifest["ui"]["pages"][number] | undefined {
  const pages = manifest.ui.pages;
  if (wanted?.slot === undefined && wanted?.path === undefined) return pages.find((p) => p.slot === "app") ?? pages[0];
  return pages.find((p) => (wanted.slot === undefined || p.slot === wanted.slot) && (wanted.path === undefined || p.path === wanted.path));
}

function principalUser(as: TestRequestOptions["as"]): { id: string; displayName?: string; email?: string } | undefined {
  if (as === undefined) return undefined;
  if (typeof as === "string") return { id: as };
  return as.user;
}

/** JSON inside a <script> element: `<` escaped, so that no `</script>` in a value ends it. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(body);
}

function sessionOf(req: IncomingMessage, sessions: Map<string, FrameSession>): FrameSession | undefined {
  const cookie = req.headers.cookie ?? "";
  const match = new RegExp(`(?:^|;\\s*)${COOKIE}=([A-Za-z0-9_-]+)`).exec(cookie);
  return match === null ? undefined : sessions.get(match[1]!);
}

async function readBody(req: IncomingMessage): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : new Uint8Array(Buffer.concat(chunks));
}

/** Headers a browser sends that describe this hop, not the request `t.request` makes. */
const HOP_HEADERS = new Set(["host", "connection", "content-length", "cookie", "keep-alive", "transfer-encoding", "upgrade"]);

export async function startTestServer(t: TestHost, defaultTenant: string, options: TestServerOptions = {}): Promise<TestServer> {
  const sessions = new Map<string, FrameSession>();
  const pageIds = new Map<string, string>();

  async function framePage(res: ServerResponse, id: string): Promise<void> {
    const session = sessions.get(id);
    if (session === undefined) return text(res, 404, "no such frame page: get its URL from server.framePage(extensionId)");
    const install = await t.host.getInstall(session.tenant, session.extensionId);
    if (install === null) return text(res, 404, `${session.extensionId} is not installed for tenant ${session.tenant}: t.install() it first`);
    const published = await t.host.registry.getVersion(install.extensionId, install.version);
    const manifest = published!.manifest;
    const page = pickPage(manifest, session.page);
    if (page === undefined) return text(res, 404, `${session.extensionId} has no UI page ${JSON.stringify(session.page ?? {})}: annex.json ui.pages lists ${JSON.stringify(manifest.ui.pages.map((p) => ({ slot: p.slot, path: p.path })))}`);
    const user = principalUser(session.as);
    const config = {
      extensionId: install.extensionId,
      contentHash: install.contentHash,
      entry: page.entry,
      title: page.title,
      grants: install.grants,
      theme: session.theme ?? { mode: "light", tokens: {} },
      context: {
        tenant: install.tenant,
        ...(user === undefined ? {} : { user }),
        locale: "en",
        extension: { id: install.extensionId, version: install.version },
        config: install.config,
      },
    };
    res.writeHead(200, {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; frame-src 'self'; connect-src 'self'; img-src 'self' data:",
      "set-cookie": `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict`,
      "cache-control": "no-store",
    });
    res.end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${page.title.replace(/[<&"]/g, (c) => `&#${c.charCodeAt(0)};`)} (Annex test frame)</title>` +
        `<style>body{margin:0}#annex-frame iframe{display:block;width:100%;border:0}</style>` +
        `<script type="application/json" id="annex-frame-config">${scriptJson(config)}</script>` +
        `<script type="module" src="/__annex/frame.js"></script></head><body><div id="annex-frame"></div></body></html>`,
    );
  }

  async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = sessionOf(req, sessions);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_HEADERS.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    // t.request rebuilds the request on the test host's own origin, so the browser's account of where it
    // comes from must move with it: the frame page's origin becomes the host's, as a product's page is on
    // the host's origin. The gateway's cross-site check stays as in production, and still refuses an
    // Origin from anywhere else.
    if (headers.origin === url) headers.origin = TEST_HOST_ORIGIN;
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await readBody(req);
    const response = await t.request(req.method ?? "GET", req.url ?? "/", {
      as: session?.as,
      tenant: session?.tenant ?? defaultTenant,
      headers,
      body,
      clientAddress: req.socket.remoteAddress ?? "127.0.0.1",
    });
    const out: Record<string, string | string[]> = {};
    response.headers.forEach((value, name) => {
      if (name !== "set-cookie") out[name] = value;
    });
    // And back: a page's CSP names its bundle's folder on the origin the gateway saw, which is the test host's;
    // the browser loads it from this server's. (In production the host's own origins are named: see `origins`.)
    const csp = out["content-security-policy"];
    if (typeof csp === "string") out["content-security-policy"] = csp.split(`${TEST_HOST_ORIGIN}/`).join(`${url}/`);
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) out["set-cookie"] = cookies;
    res.writeHead(response.status, out);
    res.end(Buffer.from(await response.arrayBuffer()));
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const handled =
      path === "/__annex/frame.js"
        ? bundleFrameScript().then((code) => {
            res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" });
            res.end(code);
          })
        : path.startsWith("/__annex/frame/")
          ? framePage(res, path.slice("/__annex/frame/".length))
          : forward(req, res);
    handled.catch((error: Error) => {
      if (!res.headersSent) text(res, 500, `${(error as { code?: string }).code ?? "Error"}: ${error.message}`);
      else res.destroy(error);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    framePage(extensionId, pageOptions = {}) {
      if (typeof extensionId !== "string" || extensionId === "") {
        throw new TestHostError("E_TEST_HOST_REQUEST", "framePage(extensionId): give the id of an installed extension, e.g. \"acme.hello\"");
      }
      const session: FrameSession = { extensionId, tenant: pageOptions.tenant ?? defaultTenant, as: pageOptions.as, page: pageOptions.page, theme: pageOptions.theme };
      const key = JSON.stringify(session);
      let id = pageIds.get(key);
      if (id === undefined) {
        id = randomBytes(12).toString("base64url");
        pageIds.set(key, id);
        sessions.set(id, session);
      }
      return `${url}/__annex/frame/${id}`;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
