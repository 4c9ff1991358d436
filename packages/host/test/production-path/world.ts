import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { CapabilityGrant } from "@annex/manifest";
import { createRemoteRunner, createRunnerServer, createWorkerPoolRunner, type EgressOptions, type Principal, type Runner } from "@annex/runner";
import express from "express";
import { pino } from "pino";
import { z } from "zod";
import { annexRouter } from "../../src/adapters/express.js";
import { createNodeHandler } from "../../src/adapters/node.js";
import { createHost, defineHostCapability, type Host } from "../../src/index.js";
import { createTestHost, type LoggedRecord, type TestHost } from "../../src/testing/index.js";
import type { TestDatabaseBackend } from "../../src/testing/index.js";
import { makeBundle, makePublisher, serviceManifest } from "../support/fixtures.js";

/**
 * One extension that uses every capability the host implements, installed in
 * each of the ways an app can run Annex; the same requests go through each
 * and must give the same answers. When the host implements a new host API
 * (kv, sql, events …), its capability, a handler and a request join here.
 */
export const EVERYTHING_SERVER = `
export function whoami(request, ctx) { return { principal: ctx.principal ?? null, tenant: ctx.install.tenant, config: ctx.install.config }; }
export async function secret(request, ctx) {
  const own = await ctx.secrets.get("API_TOKEN");
  let other;
  try { other = await ctx.secrets.get("OTHER_TOKEN"); } catch (e) { other = { code: e.code }; }
  return { own, other };
}
export async function contact(request, ctx) { return await ctx.host.call("crm.contacts.read", { id: request.params.id }); }
export async function contactBad(request, ctx) {
  try { return await ctx.host.call("crm.contacts.read", { id: 42 }); } catch (e) { return { code: e.code }; }
}
export async function partner(request, ctx) {
  const response = await ctx.http.fetch(ctx.install.config.partnerUrl + "/hello?from=" + ctx.install.tenant, { headers: { "x-ask": "hi" } });
  return { fetched: response.status, text: await response.text() };
}
export async function refusedFetch(request, ctx) {
  try { await ctx.http.fetch("https://not-granted.example.com/"); return { fetched: true }; } catch (e) { return { code: e.code }; }
}
export function logged(request, ctx) { ctx.log.info("note", request.body.note); ctx.log.warn("careful"); return { logged: true }; }
export function boom() { throw new Error("kaboom"); }
export function ping(request, ctx) { return { pong: true, principal: ctx.principal ?? null }; }
export async function publishNote(request, ctx) {
  const { id } = await ctx.events.publish("noted", { note: request.body.note });
  return { published: typeof id === "string" };
}
export async function onNoted(event, ctx) {
  await ctx.host.call("notes.record", { deliveryId: event.id, ctxEventId: ctx.event.id, type: event.type, note: event.payload.note });
}
`;

export interface Answer {
  status: number;
  body: unknown;
}

/** An app running Annex one way: requests in, answers out, what it logged and measured. */
export interface ProductionPath {
  name: string;
  host: Host;
  /** `as`: the signed-in user (api endpoints); none for anonymous requests. */
  request(method: string, path: string, options?: { as?: string; body?: unknown; headers?: Record<string, string> }): Promise<Answer>;
  logged(): LoggedRecord[];
  close(): Promise<void>;
}

const TENANT = "tenant-a";
const SECRETS_KEY = Buffer.alloc(32, 9).toString("base64");

export const crm = defineHostCapability({
  name: "crm.contacts.read",
  description: "Reads a contact of the current tenant",
  args: z.object({ id: z.string() }),
  result: z.object({ id: z.string(), name: z.string(), tenant: z.string(), greeting: z.string() }),
  handler: async ({ id }, { install }) => ({ id, name: `Contact ${id}`, tenant: install.tenant, greeting: String(install.config["greeting"]) }),
});

/** What the extension's event handler received, on every path: the effect a delivery leaves. */
export const notesRecorded: Array<{ installId: string; tenant: string; deliveryId: string; ctxEventId: string; type: string; note: string }> = [];

export const notes = defineHostCapability({
  name: "notes.record",
  description: "Records a note an event handler received",
  args: z.object({ deliveryId: z.string(), ctxEventId: z.string(), type: z.string(), note: z.string() }),
  result: z.object({ recorded: z.boolean() }),
  handler: async (args, { install }) => {
    notesRecorded.push({ ...args, installId: install.id, tenant: install.tenant });
    return { recorded: true };
  },
});

/** A partner API the extension may call, on loopback, reached by a DNS name the egress lookup resolves. */
export async function startPartner(): Promise<{ server: Server; port: number; egress: EgressOptions }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" }).end(`hello ${req.url} ${req.headers["x-ask"] ?? ""}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const egress: EgressOptions = {
    // Loopback is refused by default; this test opens exactly the partner's address.
    allowAddresses: ["127.0.0.1/32"],
    lookup: async (hostname) => (hostname === "api.partner.test" ? [{ address: "127.0.0.1", family: 4 }] : []),
  };
  return { server, port, egress };
}

export function everythingManifest(port: number): Record<string, unknown> {
  return serviceManifest({
    id: "acme.everything",
    name: "Everything",
    capabilities: [
      { name: "log", reason: "Writes request logs for debugging." },
      { name: "user.read", reason: "Greets the signed-in user by name." },
      { name: "secrets.read", names: ["API_TOKEN"], reason: "Calls the partner API." },
      { name: "http.fetch", hosts: [`api.partner.test:${port}`], reason: "Calls the partner API." },
      { name: "host:crm.contacts.read", reason: "Shows contact names." },
      { name: "events.publish", types: ["noted"], reason: "Says when a note was taken." },
      { name: "events.subscribe", types: ["ext.acme.everything.noted"], reason: "Files notes in the background." },
      { name: "host:notes.record", reason: "Files notes." },
    ],
    events: {
      publishes: [{ type: "noted" }],
      subscribes: [{ type: "ext.acme.everything.noted", handler: "onNoted" }],
    },
    secrets: ["API_TOKEN", "OTHER_TOKEN"],
    config: { greeting: { type: "string", default: "Hello" }, partnerUrl: { type: "string" } },
    endpoints: [
      { class: "api", method: "GET", path: "/whoami", handler: "whoami" },
      { class: "api", method: "GET", path: "/secret", handler: "secret" },
      { class: "api", method: "GET", path: "/contact/:id", handler: "contact" },
      { class: "api", method: "GET", path: "/contact-bad", handler: "contactBad" },
      { class: "api", method: "GET", path: "/partner", handler: "partner" },
      { class: "api", method: "GET", path: "/refused-fetch", handler: "refusedFetch" },
      { class: "api", method: "POST", path: "/logged", handler: "logged" },
      { class: "api", method: "GET", path: "/boom", handler: "boom" },
      { class: "public", method: "GET", path: "/ping", handler: "ping" },
      { class: "api", method: "POST", path: "/publish", handler: "publishNote" },
    ],
  });
}

/** kv (with compare-and-set) and an owned SQL schema: storage is one kind per extension, so two more extensions. */
export const TALLY_SERVER = `
export async function bump(request, ctx) {
  for (;;) {
    const entry = await ctx.kv.getEntry("count");
    try { await ctx.kv.set("count", (entry?.value ?? 0) + 1, { ifVersion: entry?.version ?? 0 }); return { count: (entry?.value ?? 0) + 1 }; }
    catch (e) { if (e.code !== "E_KV_VERSION_CONFLICT") throw e; }
  }
}
export async function stale(request, ctx) {
  try { await ctx.kv.set("count", 0, { ifVersion: 0 }); return { written: true }; } catch (e) { return { code: e.code }; }
}
`;
export const LEDGER_SERVER = `
export async function add(request, ctx) {
  await ctx.sql.query("INSERT INTO entries (id, amount) VALUES ($1, $2)", [request.body.id, request.body.amount]);
  return (await ctx.sql.query("SELECT id, amount FROM entries ORDER BY id", [])).rows;
}
export async function peek(request, ctx) {
  try { await ctx.sql.query("SELECT pg_read_file($1)", ["/etc/passwd"]); return { read: true }; } catch (e) { return { code: e.code }; }
}
`;
export const STORAGE_EXTENSIONS = [
  {
    id: "acme.tally",
    server: TALLY_SERVER,
    files: {} as Record<string, string>,
    manifest: serviceManifest({
      id: "acme.tally",
      name: "Tally",
      capabilities: [{ name: "storage.kv", reason: "Counts." }],
      storage: { kind: "kv", limits: { keys: 10 } },
      endpoints: [
        { class: "api", method: "POST", path: "/bump", handler: "bump" },
        { class: "api", method: "POST", path: "/stale", handler: "stale" },
      ],
    }),
  },
  {
    id: "acme.ledger",
    server: LEDGER_SERVER,
    files: { "migrations/0001_entries.sql": "CREATE TABLE entries (id text PRIMARY KEY, amount integer NOT NULL);" } as Record<string, string>,
    manifest: serviceManifest({
      id: "acme.ledger",
      name: "Ledger",
      capabilities: [{ name: "storage.sql", reason: "Keeps entries." }],
      storage: { kind: "owned-schema", migrations: "migrations", limits: { maxRows: 100 } },
      endpoints: [
        { class: "api", method: "POST", path: "/add", handler: "add" },
        { class: "api", method: "GET", path: "/peek", handler: "peek" },
      ],
    }),
  },
];

export function storageBundle(extension: (typeof STORAGE_EXTENSIONS)[number]): Promise<Uint8Array> {
  return makeBundle(extension.manifest, { "server/index.js": extension.server, ...extension.files });
}

/** Uninstalls the storage extensions with purge, so that owned schemas (and their roles) go with the test. */
async function purgeStorage(host: Host): Promise<void> {
  for (const extension of STORAGE_EXTENSIONS) {
    if ((await host.getInstall(TENANT, extension.id)) !== null) await host.uninstall(TENANT, extension.id, { purge: true });
  }
}

export function everythingGrants(manifest: Record<string, unknown>): CapabilityGrant[] {
  return (manifest["capabilities"] as Array<Record<string, unknown>>).map(({ reason: _reason, ...grant }) => grant as CapabilityGrant);
}

export function installOptions(port: number, manifest: Record<string, unknown>) {
  return {
    grants: everythingGrants(manifest),
    config: { greeting: "Hi", partnerUrl: `http://api.partner.test:${port}` },
    secrets: { API_TOKEN: "s3cr3t", OTHER_TOKEN: "never-granted" },
  };
}

/** The test host: createHost with conveniences, in-memory runner, requests without a server. */
export async function viaTestHost(backend: TestDatabaseBackend, port: number, egress: EgressOptions): Promise<ProductionPath> {
  const manifest = everythingManifest(port);
  const t: TestHost = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("path_test"), capabilities: [crm, notes], egress, tenant: TENANT });
  await t.install(await makeBundle(manifest, { "server/index.js": EVERYTHING_SERVER }), installOptions(port, manifest));
  for (const extension of STORAGE_EXTENSIONS) await t.install(await storageBundle(extension), { grants: everythingGrants(extension.manifest) });
  return {
    name: "createTestHost (in-memory runner)",
    host: t.host,
    async request(method, path, options = {}) {
      const response = await t.request(method, path, { ...(options.as === undefined ? {} : { as: principalOf(options.as) }), body: options.body, headers: options.headers });
      return { status: response.status, body: await bodyOf(response) };
    },
    logged: () => t.logged,
    async close() {
      await purgeStorage(t.host);
      await t.close();
    },
  };
}

/** Production: strict trust with a signed bundle, a real session header, an HTTP server with an adapter, and a real runner. */
export async function viaServer(
  backend: TestDatabaseBackend,
  port: number,
  egress: EgressOptions,
  kind: "express + worker pool" | "node:http + remote runner",
): Promise<ProductionPath> {
  const manifest = everythingManifest(port);
  const publisher = await makePublisher("acme", "partner");
  const records: LoggedRecord[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void records.push(JSON.parse(line) as LoggedRecord) });
  const closers: Array<() => Promise<void>> = [];
  let runner: Runner;
  if (kind === "express + worker pool") {
    const pool = createWorkerPoolRunner({ workers: 1 });
    closers.push(() => pool.close());
    runner = pool;
  } else {
    const key = "production-path-remote-key-0123456789abcdef";
    const server = createRunnerServer({ key, trustStore: publisher.trustStore, runner: (hostDispatch) => createWorkerPoolRunner({ workers: 1, hostDispatch }) });
    const url = await server.listen(0);
    const remote = createRemoteRunner({ url, key });
    closers.push(async () => {
      await remote.close();
      await server.close();
    });
    runner = remote;
  }
  const host = await createHost({
    database: await backend.connect(),
    schema: backend.freshSchema("path_prod"),
    trust: { store: publisher.trustStore },
    secrets: { keys: [{ id: "k1", key: SECRETS_KEY }] },
    capabilities: [crm, notes],
    runner,
    egress,
    logger,
    gateway: {
      // The app's own session: here a header its login would have set.
      authenticate: (request) => {
        const user = request.headers.get("x-session-user");
        return user === null ? null : principalOf(user);
      },
      resolveTenant: (request) => (new URL(request.url).searchParams.has("tenant") ? new URL(request.url).searchParams.get("tenant") : null),
    },
  });
  const bytes = await makeBundle(manifest, { "server/index.js": EVERYTHING_SERVER });
  await host.publish(bytes, await publisher.sign(bytes), { actor: "admin@example.com" });
  await host.install(TENANT, "acme.everything", { ...installOptions(port, manifest), actor: "admin@example.com" });
  for (const extension of STORAGE_EXTENSIONS) {
    const storageBytes = await storageBundle(extension);
    await host.publish(storageBytes, await publisher.sign(storageBytes), { actor: "admin@example.com" });
    await host.install(TENANT, extension.id, { grants: everythingGrants(extension.manifest), actor: "admin@example.com" });
  }

  let server: Server;
  if (kind === "express + worker pool") {
    const app = express();
    app.use(annexRouter(host));
    app.use((_req, res) => void res.status(404).json({ app: "not found" }));
    server = createServer(app);
  } else {
    server = createServer(createNodeHandler(host, { next: (_req, res) => void res.writeHead(404).end() }));
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    name: `createHost + ${kind}`,
    host,
    async request(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.as !== undefined) headers["x-session-user"] = options.as;
      if (options.body !== undefined) headers["content-type"] = "application/json";
      const separator = path.includes("?") ? "&" : "?";
      const url = path.includes("/public/") ? `${base}${path}${separator}tenant=${TENANT}` : `${base}${path}`;
      const response = await fetch(url, { method, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) });
      return { status: response.status, body: await bodyOf(response) };
    },
    logged: () => records,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await purgeStorage(host);
      await host.close();
      for (const close of closers) await close();
    },
  };
}

function principalOf(user: string): Principal {
  return { tenant: TENANT, user: { id: user, displayName: `User ${user}`, email: `${user}@example.com` }, roles: ["member"] };
}

async function bodyOf(response: Response): Promise<unknown> {
  const text = await response.text();
  const type = response.headers.get("content-type") ?? "";
  if (!type.includes("json")) return text;
  const body = JSON.parse(text) as Record<string, unknown>;
  // Problem documents name their request; everything else must match exactly.
  if (type.includes("problem+json")) return { code: body["code"], status: body["status"] };
  return body;
}

export { TENANT };
