import { expect } from "vitest";
import type { TestHost } from "../../src/testing/index.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

/** A handler that runs one ctx.kv call named in the body and answers its result or its error code and message. */
export const KV_SERVER = `
export async function op(request, ctx) {
  const { op, args } = request.body;
  try { return { result: await ctx.kv[op](...args) }; } catch (e) { return { code: e.code ?? null, message: String(e.message) }; }
}
export async function increment(request, ctx) {
  let conflicts = 0;
  for (let i = 0; i < request.body.times; i++) {
    for (;;) {
      const entry = await ctx.kv.getEntry("counter");
      try { await ctx.kv.set("counter", (entry?.value ?? 0) + 1, { ifVersion: entry?.version }); break; }
      catch (e) { if (e.code !== "E_KV_VERSION_CONFLICT") throw e; conflicts += 1; }
    }
  }
  return { conflicts };
}
export async function deep(request, ctx) {
  let value = 1;
  for (let i = 0; i < request.body.depth; i++) value = [value];
  try { return { result: await ctx.kv.set("deep", value) }; } catch (e) { return { code: e.code ?? null, message: String(e.message) }; }
}
`;

export const KV_CAPABILITY = { name: "storage.kv", reason: "Keeps counters between requests." };

export function kvManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return serviceManifest({
    id: "acme.store",
    name: "Store",
    capabilities: [KV_CAPABILITY],
    storage: { kind: "kv" },
    endpoints: [
      { class: "api", method: "POST", path: "/op", handler: "op" },
      { class: "api", method: "POST", path: "/deep", handler: "deep" },
      { class: "api", method: "POST", path: "/increment", handler: "increment" },
    ],
    ...overrides,
  });
}

export function kvBundle(manifest: Record<string, unknown> = kvManifest()): Promise<Uint8Array> {
  return makeBundle(manifest, { "server/index.js": KV_SERVER });
}

export interface KvAnswer {
  result?: unknown;
  code?: string | null;
  message?: string;
}

/** Runs `ctx.kv[op](...args)` in a handler of `extensionId` for `tenant`, through the gateway. */
export async function kvCall(t: TestHost, op: string, args: unknown[], options: { tenant?: string; extensionId?: string } = {}): Promise<KvAnswer> {
  const tenant = options.tenant ?? "test-tenant";
  const response = await t.request("POST", `/api/ext/${options.extensionId ?? "acme.store"}/op`, { as: { user: { id: "u1" }, tenant }, tenant, body: { op, args } });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as KvAnswer;
}
