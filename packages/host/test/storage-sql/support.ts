import { createTestHost, type TestDatabaseBackend, type TestHost } from "../../src/testing/index.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

/** A handler that runs whatever SQL the request carries, as a hostile extension would, and reports the error code it got. */
export const SQL_SERVER = `
export async function run(request, ctx) {
  try {
    const result = await ctx.sql.query(request.body.text, request.body.params ?? []);
    return { ok: true, rows: result.rows, rowCount: result.rowCount };
  } catch (e) {
    return { ok: false, code: e.code, message: e.message };
  }
}
export async function noGrant(request, ctx) {
  try { await ctx.sql.query("SELECT 1"); return { ok: true }; } catch (e) { return { ok: false, code: e.code }; }
}
export async function burst(request, ctx) {
  // n calls at once, awaited together: the code each one ended with.
  const calls = [];
  for (let i = 0; i < request.body.n; i++) calls.push(ctx.sql.query(request.body.text, request.body.params ?? []).then(() => "ok", (e) => e.code));
  return { settled: await Promise.all(calls) };
}
export async function fire(request, ctx) {
  // n calls, the i-th with [prefix + i]; the handler answers once the first is done, leaving the others to the host.
  const calls = [];
  for (let i = 0; i < request.body.n; i++) calls.push(ctx.sql.query(request.body.text, [request.body.prefix + i]).catch(() => {}));
  await calls[0];
  return { fired: request.body.n };
}
`;

export const FIRST_MIGRATION = `-- the items of a note list
CREATE TABLE items (id text PRIMARY KEY, name text NOT NULL, n integer NOT NULL DEFAULT 0);
INSERT INTO items (id, name, n) VALUES ('a', 'apple', 1), ('b', 'banana', 2);
`;

export function sqlManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return serviceManifest({
    id: "acme.notes",
    name: "Notes",
    capabilities: [{ name: "storage.sql", reason: "Keeps notes in its own tables." }],
    storage: { kind: "owned-schema", migrations: "migrations" },
    endpoints: [
      { class: "api", method: "POST", path: "/run", handler: "run" },
      { class: "api", method: "POST", path: "/burst", handler: "burst" },
      { class: "api", method: "POST", path: "/fire", handler: "fire" },
    ],
    ...overrides,
  });
}

/** A bundle of the SQL extension with the given migration files (`migrations/<name>` → text). */
export async function sqlBundle(migrations: Record<string, string> = { "0001_items.sql": FIRST_MIGRATION }, overrides: Record<string, unknown> = {}): Promise<Uint8Array> {
  const files: Record<string, string> = { "server/index.js": SQL_SERVER };
  for (const [name, text] of Object.entries(migrations)) files[`migrations/${name}`] = text;
  return makeBundle(sqlManifest(overrides), files);
}

export interface SqlResult {
  ok: boolean;
  rows?: Record<string, unknown>[];
  rowCount?: number;
  code?: string;
  message?: string;
}

/** Sends SQL to the extension's `run` handler for a tenant; answers what the handler saw. */
export async function runSql(t: TestHost, text: string, params: unknown[] = [], tenant?: string, extensionId = "acme.notes"): Promise<SqlResult> {
  const response = await t.request("POST", `/api/ext/${extensionId}/run`, { as: { user: { id: "u1" }, tenant }, tenant, body: { text, params } });
  if (response.status !== 200) throw new Error(`run answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as SqlResult;
}

/** POSTs a body to one of the extension's endpoints (`/burst`, `/fire` …) for a tenant; answers the handler's JSON. */
export async function callSql(t: TestHost, path: string, body: unknown, tenant?: string, extensionId = "acme.notes"): Promise<any> {
  const response = await t.request("POST", `/api/ext/${extensionId}${path}`, { as: { user: { id: "u1" }, tenant }, tenant, body });
  if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/** A test host on the backend, in a fresh Annex schema; `purgeAll` removes every install's schema (and role) it made. */
export async function sqlTestHost(backend: TestDatabaseBackend): Promise<TestHost & { purgeAll(): Promise<void> }> {
  const t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqltest") });
  return Object.assign(t, {
    async purgeAll() {
      for (const tenant of ["test-tenant", "tenant-b"]) {
        for (const install of await t.host.listInstalls(tenant)) await t.host.uninstall(tenant, install.extensionId, { purge: true });
      }
    },
  });
}
