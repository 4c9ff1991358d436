import { createHash } from "node:crypto";
import type { ExecuteEnvelope, ExecuteOptions, ExecuteResult, LoadedBundle, Principal, Runner } from "@annex/runner";
import { createInMemoryRunner } from "@annex/runner";
import type { VerifiedBundle } from "@annex/manifest";
import { parseGatewayPath, resolvePrefixes, type GatewayPrefixes } from "../../src/gateway/paths.js";
import type { Gateway, GatewayOptions } from "../../src/gateway/types.js";
import { createMemoryWebhookSecrets, type MemoryWebhookSecrets } from "../../src/gateway/webhook-secrets.js";
import { createHost, type Host, type HostOptions, type PublishResult } from "../../src/index.js";
import type { TestDatabaseBackend } from "../../src/testing/index.js";
import { makeBundle, makePublisher, serviceManifest, type Publisher } from "../support/fixtures.js";

export const INLINE_SCRIPT = "window.booted = true;";
export const INLINE_HASH = `sha256-${createHash("sha256").update(INLINE_SCRIPT).digest("base64")}`;

/** The server code of acme.gw: one handler per behaviour the gateway tests look at. */
export const GW_SERVER = `
export function hello(request) { return { hello: request.params.name }; }
export function itemsNew() { return { which: "new" }; }
export function item(request) { return { which: "item", id: request.params.id, method: request.method }; }
export function echo(request, ctx) {
  return { method: request.method, path: request.path, params: request.params, query: request.query, headers: request.headers, body: request.body, tenant: ctx.install.tenant, principal: ctx.principal };
}
export function leak() {
  return {
    status: 201,
    headers: {
      "content-type": "application/json",
      "set-cookie": "session=stolen",
      "access-control-allow-origin": "*",
      "content-security-policy": "default-src *",
      "connection": "close",
      "transfer-encoding": "chunked",
      "x-annex-internal": "1",
      "x-custom": "dropped",
      "location": "https://evil.example/phish",
      "cache-control": "max-age=60",
      "etag": "\\"v1\\"",
    },
    body: { ok: true },
  };
}
export function redirect() { return { status: 302, headers: { location: "/api/ext/acme.gw/hello/back" }, body: null }; }
export function spin() { for (;;) {} }
export function boom() { throw new Error("internal detail: db password is hunter2"); }
export function text() { return { headers: { "content-type": "text/html" }, body: "<script>alert(1)</script>" }; }
export function ping() { return { pong: true }; }
export async function peek(request, ctx) { return { secret: (await ctx.secrets.get("STRIPE_SECRET")) !== null }; }
export const itemDelete = item;
export const echoPost = echo;
export const limited = ping;
export const ingest = echo;
export const publicBoom = boom;
export const counted = ping;
export const events = echo;
export const health = ping;
export function stripe(request) { return { raw: request.body, signature: request.headers["stripe-signature"] ?? null, headers: request.headers }; }
`;

export function gwManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return serviceManifest({
    id: "acme.gw",
    name: "Gateway fixture",
    capabilities: [
      { name: "log", reason: "Logs." },
      { name: "secrets.read", names: ["STRIPE_SECRET"], reason: "Checks Stripe signatures." },
    ],
    secrets: ["STRIPE_SECRET"],
    endpoints: [
      { class: "api", method: "GET", path: "/hello/:name", handler: "hello" },
      { class: "api", method: "GET", path: "/items/new", handler: "itemsNew" },
      { class: "api", method: "GET", path: "/items/:id", handler: "item" },
      { class: "api", method: "DELETE", path: "/items/:id", handler: "itemDelete" },
      { class: "api", method: "GET", path: "/echo", handler: "echo" },
      { class: "api", method: "POST", path: "/echo", handler: "echoPost" },
      { class: "api", method: "GET", path: "/leak", handler: "leak" },
      { class: "api", method: "GET", path: "/redirect", handler: "redirect" },
      { class: "api", method: "GET", path: "/spin", handler: "spin" },
      { class: "api", method: "GET", path: "/boom", handler: "boom" },
      { class: "api", method: "GET", path: "/text", handler: "text" },
      { class: "api", method: "GET", path: "/peek", handler: "peek" },
      { class: "api", method: "GET", path: "/limited", handler: "limited", rateLimit: { requests: 2, perSeconds: 60 } },
      { class: "public", method: "GET", path: "/ping", handler: "ping", cors: { origins: ["https://shop.example.com"] } },
      { class: "public", method: "POST", path: "/ingest", handler: "ingest" },
      { class: "public", method: "GET", path: "/boom", handler: "publicBoom" },
      { class: "public", method: "GET", path: "/counted", handler: "counted", rateLimit: { requests: 1, perSeconds: 10 } },
      { class: "webhook", method: "POST", path: "/events", handler: "events", verify: "annex" },
      { class: "webhook", method: "POST", path: "/stripe", handler: "stripe", verify: "extension", secret: "STRIPE_SECRET", headers: ["stripe-signature"] },
      { class: "health", method: "GET", path: "/health", handler: "health" },
    ],
    ui: {
      root: "ui",
      pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Gateway fixture" }],
      csp: { scriptHashes: [INLINE_HASH] },
    },
    ...overrides,
  });
}

export const UI_FILES: Record<string, string> = {
  "ui/index.html": `<!doctype html><html><head><link rel="stylesheet" href="style.css"></head><body><script>${INLINE_SCRIPT}</script><script type="module" src="app.js"></script></body></html>`,
  "ui/app.js": "console.log('app');\n",
  "ui/style.css": "body { margin: 0 }\n",
  "ui/img/logo.svg": '<svg xmlns="http://www.w3.org/2000/svg"/>',
  "ui/data.json": '{"a":1}',
  "ui/font.woff2": "wOF2",
  "ui/caf\u00e9.txt": "accents",
  "docs/private.txt": "not a UI file",
};

export interface GatewayWorld {
  host: Host;
  gateway: Gateway;
  runner: Runner;
  publisher: Publisher;
  published: PublishResult;
  webhookSecrets: MemoryWebhookSecrets;
  /** Installs acme.gw for a tenant with every grant it requests. */
  installFor(tenant: string): Promise<{ id: string }>;
  /** The gateway of another host over the same database (same schema), built by createHost with these options on top. */
  gatewayWith(options: WorldOptions): Gateway;
  /** Another host over the same database, as gatewayWith makes it (closed with the world). */
  hostWith(options: WorldOptions): Promise<Host>;
  close(): Promise<void>;
}

let sharedPublisher: Publisher | undefined;

/** `Authorization: Bearer <user>@<tenant>[#role,role]` → principal; anything else is anonymous. */
export function bearerPrincipal(request: Request): Principal | null {
  const match = /^Bearer ([a-z0-9-]+)@([a-z0-9-]+)(?:#([a-z,]+))?$/.exec(request.headers.get("authorization") ?? "");
  if (match === null) return null;
  return { tenant: match[2]!, user: { id: match[1]! }, roles: match[3]?.split(",") ?? [] };
}

/** Anonymous requests name their tenant by subdomain: http://<tenant>.tenants.test/… */
export function tenantFromHost(request: Request): string | null {
  const host = new URL(request.url).hostname;
  return host.endsWith(".tenants.test") ? host.slice(0, -".tenants.test".length) : null;
}

export function bearer(user: string, tenant: string, roles: string[] = []): Record<string, string> {
  return { authorization: `Bearer ${user}@${tenant}${roles.length > 0 ? `#${roles.join(",")}` : ""}` };
}

/** A request to the gateway, addressed to a tenant's subdomain. */
export function req(method: string, path: string, init: { tenant?: string; headers?: Record<string, string>; body?: BodyInit } = {}): Request {
  return new Request(`http://${init.tenant ?? "t1"}.tenants.test${path}`, {
    method,
    ...(init.headers === undefined ? {} : { headers: init.headers }),
    ...(init.body === undefined ? {} : { body: init.body }),
  });
}

/** Gateway options plus the host options a gateway test varies (all through createHost). */
export type WorldOptions = Partial<GatewayOptions> & Pick<HostOptions, "runner" | "now" | "onExecute" | "egress" | "stores" | "notifications" | "bundleLoads">;

export async function gatewayWorld(backend: TestDatabaseBackend, options: WorldOptions = {}): Promise<GatewayWorld> {
  sharedPublisher ??= await makePublisher("acme", "community");
  const publisher = sharedPublisher;
  const database = await backend.connect();
  const schema = backend.freshSchema();
  const runner = createInMemoryRunner({ limits: { cpuMs: 200, wallMs: 1000 } });
  const webhookSecrets = createMemoryWebhookSecrets();
  const base: WorldOptions = {
    authenticate: bearerPrincipal,
    resolveTenant: (request, { family }) => (family === "api" ? null : tenantFromHost(request)),
    webhookSecrets,
    ...options,
  };
  const hostOptions = (more: WorldOptions, migrate: boolean): HostOptions => {
    const { runner: ownRunner, now, onExecute, egress, stores, notifications, bundleLoads, authenticate, ...gateway } = { ...base, ...more };
    return {
      database,
      schema,
      migrate,
      trust: { store: publisher.trustStore },
      secrets: { keys: [{ id: "k1", key: Buffer.alloc(32, 7).toString("base64") }] },
      runner: ownRunner ?? runner,
      now,
      onExecute,
      egress,
      stores,
      notifications,
      ...(bundleLoads === undefined ? {} : { bundleLoads }),
      gateway: { authenticate: authenticate ?? bearerPrincipal, ...gateway },
    };
  };
  const host = await createHost(hostOptions({}, true));
  const others: Promise<Host | null>[] = [];
  const hostWith = (more: WorldOptions): Promise<Host> => {
    const other = createHost(hostOptions(more, false));
    // A host that failed to start has nothing to close.
    others.push(other.catch(() => null));
    return other;
  };
  const bytes = await makeBundle(gwManifest(), { "server/index.js": GW_SERVER, ...UI_FILES });
  const published = await host.publish(bytes, await publisher.sign(bytes));
  return {
    host,
    gateway: host.gateway!,
    runner,
    publisher,
    published,
    webhookSecrets,
    async installFor(tenant) {
      return host.install(tenant, "acme.gw", {
        grants: [{ name: "log" }, { name: "secrets.read", names: ["STRIPE_SECRET"] }],
        secrets: { STRIPE_SECRET: "whsec_test" },
      });
    },
    gatewayWith: (more) => lazyGateway(hostWith(more), more.prefixes),
    hostWith,
    async close() {
      for (const other of await Promise.all(others)) await other?.close();
      await runner.close();
      await host.close();
    },
  };
}

/** A runner whose execute is replaced: to simulate crashes, outages and hangs the real one cannot be made to produce on demand. */
export function scriptedRunner(
  inner: Runner,
  execute: (envelope: ExecuteEnvelope, options?: ExecuteOptions) => Promise<ExecuteResult>,
): Runner & { envelopes: ExecuteEnvelope[] } {
  const envelopes: ExecuteEnvelope[] = [];
  return {
    envelopes,
    load: (bundle: VerifiedBundle): Promise<LoadedBundle> => inner.load(bundle),
    execute: (envelope, options) => {
      envelopes.push(envelope);
      return execute(envelope, options);
    },
    unload: (hash) => inner.unload(hash),
    close: async () => {},
  };
}

export async function problemOf(response: Response): Promise<{ code: string; status: number; detail: string; [key: string]: unknown }> {
  if (response.headers.get("content-type") !== "application/problem+json") {
    throw new Error(`expected a problem document, got ${response.status} ${response.headers.get("content-type")}: ${await response.text()}`);
  }
  return (await response.json()) as { code: string; status: number; detail: string };
}

/** The gateway of a host still being created, so tests can build one inline. */
function lazyGateway(host: Promise<Host>, given: Partial<GatewayPrefixes> | undefined): Gateway {
  const gateway = async () => (await host).gateway!;
  const prefixes = resolvePrefixes(given);
  let ready: Host | undefined;
  void host.then((h) => (ready = h), () => {});
  return {
    handle: async (request, info) => (await gateway()).handle(request, info),
    owns: (pathname) => parseGatewayPath(pathname, prefixes) !== null,
    prefixes,
    drain: async () => (await gateway()).drain(),
    stats: () => {
      if (ready === undefined) throw new Error("lazyGateway: send a request (or await hostWith) before reading stats()");
      return ready.gateway!.stats();
    },
    invalidate: (tenant, extensionId) => void gateway().then((g) => g.invalidate(tenant, extensionId)),
  };
}
