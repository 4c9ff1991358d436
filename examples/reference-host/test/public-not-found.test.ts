/**
 * The public pages' 404 (`/public/{tenant}/{extensionId}`) names a tenant only by its own name, and only
 * when the tenant exists: the `{tenant}` segment is anyone's text, and echoed in the product's layout under
 * its name it lets any link make a page of the product say what the link says (content spoofing:
 * "…enabled for Your account is locked. Call +1 555 0100 to restore access.").
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";

describe.each(backends().slice(0, 1))("public 404 page on $name", (backend) => {
  let host: ReferenceHost;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()) });
  }, 120_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("does not echo an arbitrary tenant segment into the product's page", async () => {
    const text = "Your account is locked. Call +1 555 0100 to restore access";
    const answer = await fetch(`${host.url}/public/${encodeURIComponent(text)}/acme.ats/careers`, { headers: { accept: "text/html" } });
    expect(answer.status).toBe(404);
    expect(await answer.text()).not.toContain("Call +1 555 0100");
  });

  it("does not echo a tenant that does not exist either", async () => {
    const answer = await fetch(`${host.url}/public/call-555-0100-your-account-is-locked/acme.ats/careers`, { headers: { accept: "text/html" } });
    expect(answer.status).toBe(404);
    expect(await answer.text()).not.toContain("call-555-0100-your-account-is-locked");
  });

  it("names a tenant that exists by its name", async () => {
    const answer = await fetch(`${host.url}/public/acme/acme.ats/careers`, { headers: { accept: "text/html" } });
    expect(answer.status).toBe(404);
    expect(await answer.text()).toContain("not installed and enabled for Acme Corp.");
  });
});
