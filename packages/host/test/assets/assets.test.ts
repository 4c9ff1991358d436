import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAssetPath } from "../../src/assets/asset-path.js";
import { assetSources, createAssetCsp } from "../../src/assets/csp.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";
import { GW_SERVER, gatewayWorld, gwManifest, INLINE_HASH, problemOf, req, UI_FILES, type GatewayWorld } from "../gateway/support.js";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describeBackends("ext-ui assets", (backend) => {
  let world: GatewayWorld;
  let hash: string;
  const get = (path: string, headers: Record<string, string> = {}, method = "GET") => world.gateway.handle(req(method, path, { headers }));

  beforeAll(async () => {
    world = await gatewayWorld(backend);
    hash = world.published.contentHash;
  });
  afterAll(() => world.close());

  it("serves a UI file of a published bundle by content hash, with type, immutable caching, ETag and nosniff", async () => {
    const response = await get(`/ext-ui/acme.gw/${hash}/ui/index.html`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(UI_FILES["ui/index.html"]);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(response.headers.get("etag")).toBe(`"${sha256(UI_FILES["ui/index.html"]!)}"`);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("needs no tenant and no session: a sandboxed frame has an opaque origin and sends no cookies", async () => {
    const response = await world.gateway.handle(new Request(`http://anything.example/ext-ui/acme.gw/${hash}/ui/app.js`));
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("sends a strict CSP: nothing by default, scripts and styles from the bundle's own path plus declared hashes, no network, framed by the host only, sandboxed", async () => {
    const page = req("GET", `/ext-ui/acme.gw/${hash}/ui/index.html`);
    const origin = new URL(page.url).origin;
    const csp = (await world.gateway.handle(page)).headers.get("content-security-policy")!;
    const directives = Object.fromEntries(csp.split("; ").map((part) => [part.split(" ")[0], part.split(" ").slice(1).join(" ")]));
    expect(directives["default-src"]).toBe("'none'");
    // Not 'self': that is every route of the host's origin, another extension's public endpoint among them.
    const bundle = `${origin}/ext-ui/acme.gw/${hash}/`;
    expect(directives["script-src"]).toBe(`${bundle} '${INLINE_HASH}'`);
    expect(directives["style-src"]).toBe(bundle);
    expect(directives["img-src"]).toBe(`${bundle} ${origin}/ext/acme.gw/public/ data: blob:`);
    expect(directives["font-src"]).toBe(`${bundle} ${origin}/ext/acme.gw/public/`);
    expect(directives["connect-src"]).toBe("'none'");
    expect(directives["frame-ancestors"]).toBe("'self'");
    expect(directives["sandbox"]).toBe("allow-scripts");
    expect(directives["object-src"]).toBe("'none'");
    expect(directives["base-uri"]).toBe("'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("unsafe-eval");
    expect(csp).not.toContain("allow-same-origin");
  });

  it("names the bundle's path on the origins the host names as its own: behind a proxy that rewrites Host, pages still load", async () => {
    // The proxy forwards https://app.example.com/… as http://localhost:3000/…: the gateway sees only the latter.
    const gateway = world.gatewayWith({ origins: ["https://app.example.com"], assets: { frameAncestors: ["https://shell.example.com"] } });
    const csp = (await gateway.handle(new Request(`http://localhost:3000/ext-ui/acme.gw/${hash}/ui/index.html`, { headers: { "sec-fetch-dest": "iframe" } }))).headers.get("content-security-policy")!;
    const scripts = csp.split("; ").find((part) => part.startsWith("script-src "))!;
    expect(scripts.split(" ").slice(1, -1)).toEqual([
      `http://localhost:3000/ext-ui/acme.gw/${hash}/`,
      `https://app.example.com/ext-ui/acme.gw/${hash}/`,
      `https://shell.example.com/ext-ui/acme.gw/${hash}/`,
    ]);
    expect(csp).not.toContain("'self'; style-src");
  });

  it("varies on Host, which its CSP names: a cache keyed without it must not hand one caller's policy to another", async () => {
    const path = `/ext-ui/acme.gw/${hash}/ui/index.html`;
    const asked = (host: string) => world.gateway.handle(new Request(`http://${host}${path}`, { headers: { "sec-fetch-dest": "iframe" } }));
    const [own, made] = [await asked("app.example.com"), await asked("attacker.example")];
    expect(made.headers.get("content-security-policy")).toContain("http://attacker.example/ext-ui/");
    expect(own.headers.get("content-security-policy")).not.toContain("attacker.example");
    for (const response of [own, made]) {
      expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(response.headers.get("vary")?.split(",").map((name) => name.trim().toLowerCase())).toEqual(["host", "sec-fetch-dest", "sec-fetch-site"]);
    }
    const revalidated = await world.gateway.handle(new Request(`http://app.example.com${path}`, { headers: { "if-none-match": own.headers.get("etag")! } }));
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get("vary")?.toLowerCase()).toContain("host");
  });

  it("names the host's origins as frame ancestors when configured", async () => {
    const gateway = world.gatewayWith({ assets: { frameAncestors: ["https://app.example.com", "https://admin.example.com"] } });
    const csp = (await gateway.handle(req("GET", `/ext-ui/acme.gw/${hash}/ui/index.html`))).headers.get("content-security-policy")!;
    expect(csp).toContain("frame-ancestors https://app.example.com https://admin.example.com;");
    await expect(world.hostWith({ assets: { frameAncestors: ["*"] } })).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
    await expect(world.hostWith({ assets: { frameAncestors: ["https://a.example/path"] } })).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
    await expect(world.hostWith({ assets: { sandbox: ["allow-scripts", "allow-same-origin"] } })).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
  });

  it("answers 304 to a matching If-None-Match (strong, weak, in a list, or *) and 200 otherwise", async () => {
    const etag = `"${sha256(UI_FILES["ui/app.js"]!)}"`;
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const response = await get(`/ext-ui/acme.gw/${hash}/ui/app.js`, { "if-none-match": header });
      expect(response.status, header).toBe(304);
      expect(response.headers.get("etag")).toBe(etag);
      expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect((await response.arrayBuffer()).byteLength).toBe(0);
    }
    expect((await get(`/ext-ui/acme.gw/${hash}/ui/app.js`, { "if-none-match": '"stale"' })).status).toBe(200);
  });

  it("sets the content type by extension", async () => {
    const types: Record<string, string> = {
      "ui/app.js": "text/javascript; charset=utf-8",
      "ui/style.css": "text/css; charset=utf-8",
      "ui/img/logo.svg": "image/svg+xml; charset=utf-8",
      "ui/data.json": "application/json; charset=utf-8",
      "ui/font.woff2": "font/woff2",
    };
    for (const [path, type] of Object.entries(types)) {
      expect((await get(`/ext-ui/acme.gw/${hash}/${path}`)).headers.get("content-type"), path).toBe(type);
    }
  });

  it("serves HEAD without a body and refuses other methods with 405", async () => {
    const head = await get(`/ext-ui/acme.gw/${hash}/ui/app.js`, {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(UI_FILES["ui/app.js"]!.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const post = await get(`/ext-ui/acme.gw/${hash}/ui/app.js`, {}, "POST");
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  it("serves a file with a non-ASCII name given percent-encoded", async () => {
    const response = await get(`/ext-ui/acme.gw/${hash}/ui/caf%C3%A9.txt`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("accents");
  });

  it("accepts the hash with its colon percent-encoded", async () => {
    expect((await get(`/ext-ui/acme.gw/${hash.replace(":", "%3A")}/ui/app.js`)).status).toBe(200);
  });

  it("serves only files under ui.root: never the manifest, the server code or other bundle files", async () => {
    for (const path of ["annex.json", "annex.index.json", "server/index.js", "docs/private.txt", "ui", "ui/", "ui/missing.js"]) {
      const response = await get(`/ext-ui/acme.gw/${hash}/${path}`);
      expect(response.status, path).toBe(404);
      expect((await problemOf(response)).code).toBe("E_NOT_FOUND");
    }
  });

  it("refuses a content hash that is not a published version of this extension", async () => {
    const other = await makeBundle(serviceManifest({ id: "acme.other", ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Other" }] } }), {
      "ui/index.html": "<p>other</p>",
    });
    const published = await world.host.publish(other, await world.publisher.sign(other));
    // The other extension's hash under this extension's id.
    expect((await get(`/ext-ui/acme.gw/${published.contentHash}/ui/index.html`)).status).toBe(404);
    expect((await get(`/ext-ui/acme.other/${published.contentHash}/ui/index.html`)).status).toBe(200);
    expect((await get(`/ext-ui/acme.gw/sha256:${"0".repeat(64)}/ui/index.html`)).status).toBe(404);
    expect((await get(`/ext-ui/acme.gw/sha256:${"A".repeat(64)}/ui/index.html`)).status).toBe(404);
    expect((await get(`/ext-ui/acme.gw/latest/ui/index.html`)).status).toBe(404);
  });

  it("refuses every traversal attempt of the corpus with 404, and audits each", async () => {
    const corpus = [
      "ui/../annex.json",
      "ui/%2e%2e/annex.json",
      "ui/%2E%2E/server/index.js",
      "ui/.%2e/annex.json",
      "ui/%2e./annex.json",
      "ui/..%2fannex.json",
      "ui/..%2Fannex.json",
      "ui/%2e%2e%2fannex.json",
      "ui/..%5cannex.json",
      "ui/..\\annex.json",
      "ui\\..\\annex.json",
      "ui/%5c..%5cannex.json",
      "ui//app.js",
      "ui/app.js%00.html",
      "ui/app.js%00",
      "ui/%00/app.js",
      "ui/%0a/app.js",
      "ui/.hidden",
      "ui/%2ehidden",
      "ui/app.js/",
      "/ui/app.js",
      "ui%2fapp.js",
      "ui/%E0%A4%A",
      "ui/%c0%ae%c0%ae/annex.json",
      "ui/%uff0e%uff0e/annex.json",
      "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
      "ui/" + "a/".repeat(600) + "x.js",
    ];
    const before = await world.host.audit.list({ action: "gateway.asset", decision: "deny", order: "desc", limit: 1 });
    let stillUi = 0;
    for (const path of corpus) {
      const request = new Request(`http://t1.tenants.test/ext-ui/acme.gw/${hash}/${path}`);
      // The URL parser resolves "../" (and %2e%2e) first; a spelling may leave the family: it must not be served either.
      if (new URL(request.url).pathname.startsWith("/ext-ui/")) stillUi += 1;
      const response = await world.gateway.handle(request);
      expect(response.status, path).toBe(404);
      const text = await response.text();
      expect(text, path).not.toContain("manifestVersion");
      expect(text, path).not.toContain("export function");
    }
    const lines = await world.host.audit.list({ action: "gateway.asset", decision: "deny", afterId: before[0]?.id ?? "0", limit: 1000 });
    expect(stillUi).toBeGreaterThan(corpus.length / 2);
    expect(lines).toHaveLength(stillUi);
  });

  it("answers 503 E_BUNDLE_LOADS_BUSY with Retry-After when more cold bundles are asked for at once than bundleLoads lets load and wait", async () => {
    const hashes: string[] = [];
    for (let i = 1; i <= 6; i++) {
      const bytes = await makeBundle(gwManifest({ version: `2.0.${i}` }), { "server/index.js": GW_SERVER, ...UI_FILES });
      hashes.push((await world.host.publish(bytes, await world.publisher.sign(bytes))).contentHash);
    }
    // Another host over the same database: its cache holds none of them.
    const host = await world.hostWith({ bundleLoads: { concurrent: 1, queued: 1, retryAfterSeconds: 7 } });
    const ask = (contentHash: string) => host.gateway!.handle(req("GET", `/ext-ui/acme.gw/${contentHash}/ui/app.js`));
    const answers = await Promise.all(hashes.map(ask));
    const statuses = answers.map((answer) => answer.status);
    // One loads, one waits for its place; the others are refused at once rather than queued without bound.
    expect(statuses.filter((status) => status === 200)).toHaveLength(2);
    expect(statuses.filter((status) => status === 503)).toHaveLength(4);
    for (const answer of answers.filter((a) => a.status === 503)) {
      expect(answer.headers.get("retry-after")).toBe("7");
      expect((await problemOf(answer)).code).toBe("E_BUNDLE_LOADS_BUSY");
    }
    // Nothing was kept from a refusal: asked again one at a time, every file is served.
    for (const contentHash of hashes) expect((await ask(contentHash)).status).toBe(200);
  });

  it("serves the same UI file for spellings the URL parser normalises inside ui.root (./ and %2e)", async () => {
    for (const path of ["ui/./app.js", "ui/%2e/app.js", "ui/img/../app.js"]) {
      const response = await world.gateway.handle(new Request(`http://t1.tenants.test/ext-ui/acme.gw/${hash}/${path}`));
      expect(response.status, path).toBe(200);
      expect(await response.text()).toBe(UI_FILES["ui/app.js"]);
    }
  });
});

describe("asset paths", () => {
  const HASH = `sha256:${"a".repeat(64)}`;

  it("decodes segments and keeps a normal path", () => {
    expect(parseAssetPath(HASH, "ui/a%20b/c.js")).toEqual({ ok: true, contentHash: HASH, path: "ui/a b/c.js" });
  });

  it("normalises to NFC, as bundle paths are", () => {
    const decomposed = encodeURIComponent("cafe\u0301.txt");
    expect(parseAssetPath(HASH, `ui/${decomposed}`)).toEqual({ ok: true, contentHash: HASH, path: "ui/caf\u00e9.txt" });
  });

  it("refuses what could name another file", () => {
    for (const raw of ["ui/%2e%2e/x", "ui/..", "ui/%2F", "ui\\x", "ui/%5Cx", "ui//x", "ui/%00", "ui/.env", "", "ui/%ZZ"]) {
      expect(parseAssetPath(HASH, raw).ok, raw).toBe(false);
    }
  });

  it("refuses . and .. segments carrying a ;… path parameter as dot segments, as it refuses .. itself", () => {
    expect(parseAssetPath(HASH, "ui/../x")).toEqual({ ok: false, reason: "dot segment" });
    for (const raw of ["ui/..;/x", "ui/..;x=1/x", "ui/%2e%2e;/x", "ui/%2E%2E%3B/x", "ui/.;jsessionid=x/x", "ui/.%2e;a;b/x", "..;/ui/x"]) {
      expect(parseAssetPath(HASH, raw), raw).toEqual({ ok: false, reason: "dot segment" });
    }
    expect(parseAssetPath(HASH, "ui/a;b.js")).toEqual({ ok: true, contentHash: HASH, path: "ui/a;b.js" });
  });

  it("builds a CSP with the declared hashes only", () => {
    const csp = createAssetCsp().header(["sha256-abc="]);
    expect(csp).toMatch(/^default-src 'none'; script-src 'self' 'sha256-abc='; style-src 'self';/);
  });

  it("names the bundle's path on the request's origin, and falls back to 'self' for an origin it cannot write into a header as it is", () => {
    const id = "acme.x";
    const contentHash = `sha256:${"a".repeat(64)}`;
    expect(assetSources(["https://app.example.com"], "/ext-ui", "/ext", id, contentHash)).toEqual({
      bundle: [`https://app.example.com/ext-ui/acme.x/${contentHash}/`],
      publicEndpoints: ["https://app.example.com/ext/acme.x/public/"],
    });
    expect(assetSources(["http://[::1]:3000"], "/ui", "/x", id, contentHash)?.bundle).toEqual([`http://[::1]:3000/ui/acme.x/${contentHash}/`]);
    // The origin comes from the request's Host: one a header could be made to carry another directive with is not used.
    for (const origin of ["http://a;script-src", "http://a b", "http://xn--a'", "null", "http://Caps.example"]) {
      expect(assetSources([origin], "/ext-ui", "/ext", id, contentHash), origin).toBeUndefined();
      // Beside a usable one it is only left out.
      expect(assetSources([origin, "https://app.example.com"], "/ext-ui", "/ext", id, contentHash)?.bundle, origin).toEqual([`https://app.example.com/ext-ui/acme.x/${contentHash}/`]);
    }
    const sources = assetSources(["https://app.example.com"], "/ext-ui", "/ext", id, contentHash)!;
    expect(createAssetCsp().header([], sources)).toMatch(/^default-src 'none'; script-src https:\/\/app\.example\.com\/ext-ui\/acme\.x\/sha256:a{64}\/; style-src https:/);
  });

  it("names the bundle's path on the host's own origins too, once each: a proxy in front may rewrite the Host it sees", async () => {
    const contentHash = `sha256:${"a".repeat(64)}`;
    const sources = assetSources(["http://localhost:3000", "https://app.example.com", "http://localhost:3000"], "/ext-ui", "/ext", "acme.x", contentHash)!;
    const csp = createAssetCsp().header([], sources);
    expect(csp).toContain(`script-src http://localhost:3000/ext-ui/acme.x/${contentHash}/ https://app.example.com/ext-ui/acme.x/${contentHash}/;`);
    expect(csp).toContain(`img-src http://localhost:3000/ext-ui/acme.x/${contentHash}/ https://app.example.com/ext-ui/acme.x/${contentHash}/ http://localhost:3000/ext/acme.x/public/ https://app.example.com/ext/acme.x/public/ data: blob:;`);
  });
});
