/**
 * A public page (`/public/{tenant}/{id}{path}`, anyone, no sign-in) carries in its HTML only what the
 * extension's frame needs of the install: id, tenant, version, content hash, state, grants and settings.
 * Nothing else of InstallInfo reaches anonymous visitors: not the install's id or last error, nor its owned
 * schema's status (schema name, applied migrations, the database's error text of a failed migration).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, loadDemoKeys, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { releaseVariant } from "./support/variants.js";

const WEB_ANALYTICS = join(fileURLToPath(new URL(".", import.meta.url)), "../../extensions/web-analytics");

describe.each(backends().slice(0, 1))("what a public page tells anyone about the install on $name", (backend) => {
  let host: ReferenceHost;
  let schema: string;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()) });
    const key = (await loadDemoKeys((await backend.options()).dataDir!, ["acme"])).publisherKeys.get("acme")!;
    // web-analytics with a public page too (say, a public traffic counter), as its publisher might release it.
    const release = await releaseVariant(WEB_ANALYTICS, key, (m) => {
      m["version"] = "1.0.1";
      ((m["ui"] as { pages: unknown[] }).pages).push({ slot: "public", path: "/traffic", entry: "ui/index.html", title: "Traffic" });
    });
    await host.annex.publish(release.bytes, release.signature, { actor: "test" });
    const install = await host.annex.install("acme", "acme.web-analytics", { version: "1.0.1", grants: [{ name: "log" }, { name: "storage.sql" }], actor: "test" });
    schema = install.sql!.schema;
  }, 180_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("gives an anonymous visitor no database schema name, migrations or schema errors of the install", async () => {
    const page = await fetch(`${host.url}/public/acme/acme.web-analytics/traffic`);
    expect(page.status).toBe(200);
    const text = await page.text();
    const data = JSON.parse(/<script type="application\/json" id="page-data">([\s\S]*?)<\/script>/.exec(text)![1]!) as { install: Record<string, unknown> };
    expect(data.install["extensionId"]).toBe("acme.web-analytics");
    expect(text).not.toContain(schema);
    expect(data.install["sql"]).toBeUndefined();
    expect(Object.keys(data.install).sort()).toEqual(["config", "contentHash", "extensionId", "grants", "state", "tenant", "version"]);
  });
});
