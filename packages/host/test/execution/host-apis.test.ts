import type { HostCallScope } from "@annex/runner";
import { describe, expect, it } from "vitest";
import type { HostCapabilities } from "../../src/capabilities/host-capabilities.js";
import type { ExecutionContext } from "../../src/execution/executor.js";
import { createHostApis } from "../../src/execution/host-apis.js";

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
