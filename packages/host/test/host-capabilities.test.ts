import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineHostCapability, HostCapabilities, HostCapabilityError } from "../src/index.js";

const install = { id: "i-1", tenant: "t", extensionId: "acme.crm", version: "1.0.0", config: {} };

const lookup = defineHostCapability({
  name: "crm.contacts.read",
  description: "Reads contacts",
  params: z.object({ fields: z.array(z.string()) }),
  args: z.object({ id: z.string().min(1) }),
  result: z.object({ id: z.string(), name: z.string() }),
  handler: (args, context) => ({ id: args.id, name: `${context.install.tenant}:${(context.params?.fields ?? []).join(",")}:${context.principal?.user?.id ?? "-"}` }),
});

const broken = defineHostCapability({
  name: "crm.broken",
  args: z.object({}),
  result: z.object({ ok: z.literal(true) }),
  handler: () => ({ ok: false }) as never,
});

async function failure(promise: Promise<unknown>): Promise<HostCapabilityError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(HostCapabilityError);
  return error as HostCapabilityError;
}

describe("host capabilities", () => {
  const capabilities = new HostCapabilities([lookup, broken]);
  const grants = [{ name: "host:crm.contacts.read" as const, params: { fields: ["name"] } }];

  it("invokes a granted capability with validated args, the grant's params, the install and the principal", async () => {
    const principal = { tenant: "t", user: { id: "u-1" }, roles: [] };
    await expect(capabilities.invoke("crm.contacts.read", { id: "c-9" }, { install, grants, principal })).resolves.toEqual({ id: "c-9", name: "t:name:u-1" });
    await expect(capabilities.invoke("host:crm.contacts.read", { id: "c-9" }, { install, grants })).resolves.toEqual({ id: "c-9", name: "t:name:-" });
  });

  it("denies what was not granted, unknown names, bad arguments and bad results, each with its code", async () => {
    expect((await failure(capabilities.invoke("crm.contacts.read", { id: "x" }, { install, grants: [] }))).code).toBe("E_CAPABILITY_DENIED");
    expect((await failure(capabilities.invoke("crm.contacts.read", { id: "x" }, { install, grants: [{ name: "log" }] }))).code).toBe("E_CAPABILITY_DENIED");
    expect((await failure(capabilities.invoke("crm.unknown", {}, { install, grants }))).code).toBe("E_HOST_CAPABILITY_UNKNOWN");
    const args = await failure(capabilities.invoke("crm.contacts.read", { id: "" }, { install, grants }));
    expect(args.code).toBe("E_HOST_CAPABILITY_ARGS");
    expect(args.details).toMatchObject({ issues: [expect.objectContaining({ path: "id" })] });
    const result = await failure(capabilities.invoke("crm.broken", {}, { install, grants: [{ name: "host:crm.broken" }] }));
    expect(result.code).toBe("E_HOST_CAPABILITY_RESULT");
    expect(result.message).toContain("fix the implementation");
  });

  it("bounds the error for arguments with thousands of bad items", async () => {
    const bulk = defineHostCapability({
      name: "crm.contacts.bulk",
      args: z.object({ ids: z.array(z.string()) }),
      result: z.object({}),
      handler: () => ({}),
    });
    const host = new HostCapabilities([bulk]);
    const ids = Array.from({ length: 50_000 }, (_, i) => i);
    const error = await failure(host.invoke("crm.contacts.bulk", { ids }, { install, grants: [{ name: "host:crm.contacts.bulk" }] }));
    expect(error.code).toBe("E_HOST_CAPABILITY_ARGS");
    expect(error.message.length).toBeLessThan(4096);
    expect(error.message).toContain("ids[0]: ");
    expect(error.message).toMatch(/… and 49980 more$/);
    expect((error.details as { issues: unknown[] }).issues).toHaveLength(100);
  });

  it("does not echo argument values in errors", async () => {
    const error = await failure(capabilities.invoke("crm.contacts.read", { id: 12345678901 }, { install, grants }));
    expect(error.message).not.toContain("12345678901");
    expect(JSON.stringify(error)).not.toContain("12345678901");
  });

  it("refuses malformed and duplicate definitions when the host is created", () => {
    expect(() => new HostCapabilities([{ ...lookup, name: "Bad Name" }])).toThrow(/dotted lowercase/);
    expect(() => new HostCapabilities([lookup, { ...lookup, name: "host:crm.contacts.read" }])).toThrow(/registered twice/);
    expect(() => new HostCapabilities([{ ...lookup, handler: undefined as never }])).toThrow(/handler/);
  });

  it("exposes the registry shape the manifest parser checks against", () => {
    const registry = capabilities.toManifestRegistry();
    expect([...registry.keys()]).toEqual(["crm.contacts.read", "crm.broken"]);
    expect(registry.get("crm.contacts.read")).toMatchObject({ name: "crm.contacts.read", description: "Reads contacts" });
    expect(capabilities.names()).toEqual(["crm.broken", "crm.contacts.read"]);
  });
});
