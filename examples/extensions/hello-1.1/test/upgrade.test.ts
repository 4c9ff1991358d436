import { createTestHost, type TestHost } from "@annex/host/testing";
import { diffCapabilities } from "@annex/manifest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// 1.1.0 next to 1.0.0 (examples/extensions/hello), as the reference host publishes both: an install of 1.0.0
// moves to 1.1.0 only with an admin's consent to ui.toast, and keeps answering as before.
let t: TestHost;
const HELLO_1_0 = new URL("../../hello", import.meta.url);
const HELLO_1_1 = new URL("..", import.meta.url);

beforeAll(async () => {
  t = await createTestHost();
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe("acme.hello 1.0.0 → 1.1.0", () => {
  it("widens exactly one capability, ui.toast, so the upgrade needs consent again; with it, the endpoints answer as before", async () => {
    const installed = await t.install(HELLO_1_0);
    expect(installed.version).toBe("1.0.0");
    const published = await t.publish(HELLO_1_1);
    const target = (await t.host.registry.getVersion("acme.hello", published.version))!;
    expect(target.version).toBe("1.1.0");
    const diff = diffCapabilities(installed.grants, target.manifest);
    expect(diff.requiresConsent).toBe(true);
    expect(diff.added.map((c) => c.name)).toEqual(["ui.toast"]);
    expect(diff.widened).toEqual([]);
    expect(diff.removed).toEqual([]);

    await expect(t.host.upgrade(installed.tenant, "acme.hello", { version: "1.1.0", actor: "test" })).rejects.toMatchObject({ code: "E_CONSENT_REQUIRED" });
    expect((await t.host.getInstall(installed.tenant, "acme.hello"))?.version).toBe("1.0.0");
    const upgraded = await t.host.upgrade(installed.tenant, "acme.hello", { version: "1.1.0", grants: [...installed.grants, { name: "ui.toast" }], actor: "test" });
    expect(upgraded).toMatchObject({ version: "1.1.0", state: "active" });
    expect(upgraded.grants.map((g) => g.name).sort()).toEqual(["log", "ui.toast", "user.read"]);

    const response = await t.request("GET", "/api/ext/acme.hello/hello/Ada", { as: { user: { id: "u1" } } });
    expect(await response.json()).toEqual({ message: "Hello, Ada!" });
  });
});
