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

  it("writes the product's own lines beside Annex's, sanitised and bounded the same way", async () => {
    const { host } = await world(backend);
    await host.audit.write({
      actor: "anonymous",
      tenant: null,
      action: "auth.sign-in",
      target: `user:ev\u202eil\u0000${"x".repeat(1000)}`,
      decision: "deny",
      details: { client: "203.0.113.7", reason: "credentials", note: "line\nbreak" },
    });
    await host.audit.write({ actor: "user:ada", tenant: "t1", action: "auth.sign-in", target: "user:ada@acme.test", decision: "allow", details: {} });
    const lines = await host.audit.list({ action: "auth." });
    expect(lines.map((line) => [line.decision, line.tenant])).toEqual([
      ["deny", null],
      ["allow", "t1"],
    ]);
    const [denied] = lines;
    expect(denied!.target.length).toBeLessThanOrEqual(512);
    expect(denied!.target).not.toMatch(/[\u0000\u202e]/);
    expect(denied!.details).toEqual({ client: "203.0.113.7", reason: "credentials", note: "line\ufffdbreak" });
    // A tenant's admins see their tenant's lines.
    expect((await host.audit.list({ tenant: "t1", action: "auth." })).map((line) => line.actor)).toEqual(["user:ada"]);
    await host.close();
  });

  it("refuses a product line in Annex's namespaces or with a bad field, naming the field, and writes nothing", async () => {
    const { host } = await world(backend);
    const good = { actor: "user:ada", tenant: "t1", action: "auth.sign-in", target: "user:ada", decision: "allow" as const, details: {} };
    const cases: [Record<string, unknown>, string][] = [
      [{ action: "install.complete" }, "action"],
      [{ action: "gateway.request" }, "action"],
      [{ action: "registry.publish" }, "action"],
      [{ action: "signin" }, "action"],
      [{ action: "Auth.Sign-In" }, "action"],
      [{ actor: "" }, "actor"],
      [{ tenant: "" }, "tenant"],
      [{ target: 7 }, "target"],
      [{ decision: "maybe" }, "decision"],
      [{ details: ["x"] }, "details"],
    ];
    for (const [change, field] of cases) {
      const error = await host.audit.write({ ...good, ...change } as never).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AuditError);
      expect({ change, error }).toMatchObject({ change, error: { code: "E_AUDIT_ENTRY", details: { field } } });
    }
    expect(await host.audit.list({ actor: "user:ada" })).toEqual([]);
    await host.close();
  });
});
