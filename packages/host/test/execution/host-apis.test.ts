import type { HostCallScope } from "@annex/runner";
import { afterEach, describe, expect, it } from "vitest";
import type { HostCapabilities } from "../../src/capabilities/host-capabilities.js";
import type { ExecutionContext } from "../../src/execution/executor.js";
import { createHostApis } from "../../src/execution/host-apis.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

const scope: HostCallScope = { requestId: "r1", extensionId: "acme.vault", extensionVersion: "1.0.0", contentHash: "sha256:00", installId: "i1", tenant: "t1", principal: undefined };

const context = {
  resolved: { install: { id: "i1", tenant: "t1", extensionId: "acme.vault", version: "1.0.0", grants: [{ name: "secrets.read", names: ["API_KEY"] }] } },
  principal: undefined,
  trigger: "endpoint",
} as unknown as ExecutionContext;

function subject(found: ExecutionContext | undefined) {
  const revealed: string[][] = [];
  const apis = createHostApis({
    revealSecret: async (tenant, extensionId, name) => (revealed.push([tenant, extensionId, name]), `${extensionId}:${name}`),
    capabilities: { names: () => [], get: () => undefined } as unknown as HostCapabilities,
    contextOf: () => found,
  });
  return { secrets: apis.secrets!, revealed };
}

describe("ctx.secrets on the host side", () => {
  it("reads the secret of the install the host resolved, whatever extension the runner's scope names", async () => {
    const { secrets, revealed } = subject(context);
    expect(await secrets.get("API_KEY", { ...scope, extensionId: "acme.other" })).toBe("acme.vault:API_KEY");
    expect(revealed).toEqual([["t1", "acme.vault", "API_KEY"]]);
  });

  it("reads nothing for a call whose execution has ended", async () => {
    const { secrets, revealed } = subject(undefined);
    await expect(secrets.get("API_KEY", scope)).rejects.toMatchObject({ code: "E_HOST_CALL_FAILED" });
    expect(revealed).toEqual([]);
  });
});

describeBackends("ctx.secrets when the host cannot open a secret", (backend) => {
  const open: TestHost[] = [];
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
  });

  it("fails the extension's call with E_HOST_CALL_FAILED and keeps the host's reason (its keys, its options) in the host's log", async () => {
    const database = await backend.connect();
    const schema = backend.freshSchema("annex_secret_fault");
    const bundle = await makeBundle(
      serviceManifest({
        id: "acme.vault",
        capabilities: [{ name: "secrets.read", names: ["TOKEN"], reason: "Calls its API with it." }],
        secrets: ["TOKEN"],
        endpoints: [{ class: "api", method: "GET", path: "/token", handler: "token" }],
      }),
      { "server/index.js": `export async function token(request, ctx) { return { length: (await ctx.secrets.get("TOKEN")).length }; }` },
    );
    const first = await createTestHost({ database, schema });
    open.push(first);
    await first.install(bundle, { secrets: { TOKEN: "s3cr3t-value" } });
    expect(await (await first.request("GET", "/api/ext/acme.vault/token", { as: "u1" })).json()).toEqual({ length: 12 });

    // Another host on the same database whose keyring does not open that secret (each test host has a key of its own).
    const second = await createTestHost({ database, schema });
    open.push(second);
    const response = await second.request("GET", "/api/ext/acme.vault/token", { as: "u1" });
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(body).toContain("ctx.secrets.get failed on the host");
    expect(body).not.toMatch(/E_SECRET|keyring|createHost|sealed/);
    const logged = second.logged.find((line) => line.msg === "ctx.secrets.get failed on the host; the extension was told only that");
    expect(logged).toMatchObject({ level: 50, tenant: "test-tenant", extensionId: "acme.vault" });
    expect(JSON.stringify(logged)).toMatch(/E_SECRET/);
  });
});
