import { expect, it } from "vitest";
import { AuditError, type InstallOptions } from "../src/index.js";
import { describeBackends } from "./support/backends.js";
import { world } from "./support/world.js";

const BASE = { version: "1.0.0", grants: [{ name: "log" as const }], config: { region: "eu" } } satisfies Partial<InstallOptions>;

describeBackends("audit log", (backend) => {
  it("filters by tenant, actor, action prefix, target and decision, and pages by id", async () => {
    const { host } = await world(backend);
    await host.install("t1", "acme.hello", { ...BASE, actor: "alice" });
    await host.install("t2", "acme.hello", { ...BASE, actor: "bob" });
    await host.disable("t1", "acme.hello", { actor: "alice" });
    await host.enable("t2", "acme.hello", { actor: "bob" }).catch(() => undefined);

    const all = await host.audit.list({ limit: 1000 });
    expect(all.map((entry) => Number(entry.id))).toEqual([...all.map((entry) => Number(entry.id))].sort((a, b) => a - b));
    expect(all.filter((entry) => entry.action === "registry.publish")).toHaveLength(4);

    expect((await host.audit.list({ tenant: "t1" })).map((entry) => entry.action)).toEqual(["install.install", "install.complete", "install.disable"]);
    expect((await host.audit.list({ actor: "bob" })).map((entry) => [entry.action, entry.decision])).toEqual([
      ["install.install", "allow"],
      ["install.complete", "allow"],
      ["install.enable", "deny"],
    ]);
    expect((await host.audit.list({ action: "install." })).every((entry) => entry.action.startsWith("install."))).toBe(true);
    expect(await host.audit.list({ action: "install" })).toEqual([]);
    expect((await host.audit.list({ target: "acme.hello@1.1.0" })).map((entry) => entry.action)).toEqual(["registry.publish"]);
    expect((await host.audit.list({ decision: "deny" })).map((entry) => entry.tenant)).toEqual(["t2"]);

    const firstPage = await host.audit.list({ limit: 3 });
    const secondPage = await host.audit.list({ limit: 3, afterId: firstPage[2]!.id });
    expect(secondPage[0]!.id).toBe(all[3]!.id);
    expect((await host.audit.list({ order: "desc", limit: 1 }))[0]!.id).toBe(all.at(-1)!.id);

    const at = all[5]!.at;
    expect((await host.audit.list({ since: at, limit: 1000 })).every((entry) => entry.at >= at)).toBe(true);
    expect((await host.audit.list({ until: at, limit: 1000 })).every((entry) => entry.at < at)).toBe(true);
    await host.close();
  });

  it("treats LIKE wildcards in an action prefix literally", async () => {
    const { host } = await world(backend);
    expect(await host.audit.list({ action: "%." })).toEqual([]);
    expect(await host.audit.list({ action: "registry_publish" })).toEqual([]);
    await host.close();
  });

  it("refuses bad filters with a typed error", async () => {
    const { host } = await world(backend);
    for (const filter of [{ limit: 0 }, { limit: 5000 }, { limit: 1.5 }, { afterId: "1 OR 1=1" }, { actor: "a\u0000" }, { tenant: "t\u0000" }, { target: "x".repeat(2000) }, { action: 5 as unknown as string }]) {
      const error = await host.audit.list(filter).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AuditError);
      expect(error).toMatchObject({ code: "E_AUDIT_FILTER" });
    }
    await host.close();
  });
});
