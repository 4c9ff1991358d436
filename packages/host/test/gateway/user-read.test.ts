import { createInMemoryRunner, createWorkerPoolRunner, type Runner } from "@annex/runner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineHostCapability } from "../../src/index.js";
import { createTestHost, type TestHost } from "../../src/testing/test-host.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";
import { scriptedRunner } from "./support.js";

/**
 * `user.read` decides whether the signed-in user's identity reaches an
 * extension's handler (ctx.principal.user) and the host capabilities it
 * calls. The gateway keeps the whole principal for itself: authorize and the
 * audit line's actor see the user either way.
 */
const SERVER = `
export function whoami(request, ctx) { return { principal: ctx.principal ?? null }; }
export async function viaHost(request, ctx) { return await ctx.host.call("crm.whoami", {}); }
`;

const ADA = { tenant: "test-tenant", user: { id: "ada", displayName: "Ada Lovelace", email: "ada@example.com" }, roles: ["admin"] };

function manifest(id: string, capabilities: Array<Record<string, unknown>>) {
  return serviceManifest({
    id,
    capabilities: [{ name: "host:crm.whoami", reason: "Shows the caller's CRM record." }, ...capabilities],
    endpoints: [
      { class: "api", method: "GET", path: "/whoami", handler: "whoami" },
      { class: "api", method: "GET", path: "/via-host", handler: "viaHost" },
    ],
  });
}

const seen: unknown[] = [];
const crm = defineHostCapability({
  name: "crm.whoami",
  args: z.object({}),
  result: z.object({ user: z.string().nullable() }),
  handler: (_args, { principal }) => {
    seen.push(principal);
    return { user: principal?.user?.id ?? null };
  },
});

async function principalOf(t: TestHost, extensionId: string): Promise<unknown> {
  const response = await t.request("GET", `/api/ext/${extensionId}/whoami`, { as: ADA });
  expect(response.status).toBe(200);
  return ((await response.json()) as { principal: unknown }).principal;
}

describeBackends("user.read", (backend) => {
  describe.each([
    { runnerKind: "in-memory runner", makeRunner: (): Runner => createInMemoryRunner() },
    { runnerKind: "worker pool", makeRunner: (): Runner => createWorkerPoolRunner({ workers: 1 }) },
  ])("through createTestHost and the $runnerKind", ({ makeRunner }) => {
    let t: TestHost;
    let runner: Runner;
    // Records what the gateway sends, then runs it for real.
    let recorder: ReturnType<typeof scriptedRunner>;

    beforeAll(async () => {
      runner = makeRunner();
      recorder = scriptedRunner(runner, (envelope, options) => runner.execute(envelope, options));
      t = await createTestHost({ capabilities: [crm], database: await backend.connect(), schema: backend.freshSchema(), runner: recorder });
      const server = { "server/index.js": SERVER };
      await t.install(await makeBundle(manifest("acme.reader", [{ name: "user.read", reason: "Names the caller on reports." }]), server));
      await t.install(await makeBundle(manifest("acme.blind", []), server));
      // The admin grants user.read, the signed manifest never asked for it: still nothing.
      await t.install(await makeBundle(manifest("acme.extra", []), server), { grants: [{ name: "host:crm.whoami" }, { name: "user.read" }] });
    });
    afterAll(async () => {
      await t.close();
      await runner.close();
    });

    it("gives ctx.principal the user's id, display name and email with user.read, and nothing else of the host's user object", async () => {
      expect(await principalOf(t, "acme.reader")).toEqual(ADA);
      const response = await t.request("GET", "/api/ext/acme.reader/whoami", { as: { ...ADA, user: { ...ADA.user, sessionToken: "tok_1" } as typeof ADA.user } });
      expect(await response.json()).toEqual({ principal: ADA });
    });

    it("without user.read, ctx.principal has the tenant and roles only, and the envelope never carried the user", async () => {
      recorder.envelopes.length = 0;
      const principal = await principalOf(t, "acme.blind");
      expect(principal).toEqual({ tenant: "test-tenant", roles: ["admin"] });
      expect(await principalOf(t, "acme.extra")).toEqual({ tenant: "test-tenant", roles: ["admin"] });
      expect(recorder.envelopes.map((envelope) => envelope.principal)).toEqual([
        { tenant: "test-tenant", roles: ["admin"] },
        { tenant: "test-tenant", roles: ["admin"] },
      ]);
      expect(JSON.stringify(recorder.envelopes)).not.toMatch(/"ada"|Lovelace|ada@example/);
    });

    it("keeps the user for the gateway itself: the audit line names the actor either way", async () => {
      await principalOf(t, "acme.blind");
      const [line] = await t.audit.list({ action: "gateway.request", order: "desc", limit: 1 });
      expect(line).toMatchObject({ actor: "user:ada", tenant: "test-tenant", details: { handler: "whoami" } });
    });
  });

  describe("host capabilities", () => {
    let t: TestHost;
    beforeAll(async () => {
      t = await createTestHost({ capabilities: [crm], database: await backend.connect(), schema: backend.freshSchema() });
      const server = { "server/index.js": SERVER };
      await t.install(await makeBundle(manifest("acme.reader", [{ name: "user.read", reason: "Names the caller on reports." }]), server));
      await t.install(await makeBundle(manifest("acme.blind", []), server));
    });
    afterAll(() => t.close());

    it("see the principal as the extension may: the user only with user.read", async () => {
      seen.length = 0;
      const reader = await t.request("GET", "/api/ext/acme.reader/via-host", { as: ADA });
      expect(await reader.json()).toEqual({ user: "ada" });
      const blind = await t.request("GET", "/api/ext/acme.blind/via-host", { as: ADA });
      expect(await blind.json()).toEqual({ user: null });
      expect(seen).toEqual([ADA, { tenant: "test-tenant", roles: ["admin"] }]);
    });
  });
});
