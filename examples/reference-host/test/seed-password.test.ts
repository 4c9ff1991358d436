/**
 * The seeded users' password: the demo's ("annex-demo", in the README) on the embedded database only. A
 * reference host pointed at a PostgreSQL (DATABASE_URL) gets a random one, known to the start that seeds
 * the database and to nobody after it. On PGlite, and on PostgreSQL when ANNEX_TEST_DATABASE_URL is set.
 */
import { afterAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { Client } from "./support/http-client.js";

describe.each(backends())("the seeded password on $name", (backend) => {
  let host: ReferenceHost | undefined;
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("is the demo's on the embedded database, a random one shown only at the seeding start on PostgreSQL", async () => {
    // The suite's own options pin the demo's password; this start takes the host's default.
    const { seedPassword: _pinned, ...options } = await backend.options();
    host = await createReferenceHost(options);
    expect(host.seeded).toBe(true);
    const client = new Client(host.url);
    if (backend.name === "pglite") {
      expect(host.password).toBe("annex-demo");
    } else {
      expect(host.password).not.toBe("annex-demo");
      expect(host.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect((await client.signIn("ada@acme.test", "annex-demo")).status).toBe(401);
    }
    const seededWith = host.password;
    expect((await client.signIn("ada@acme.test", seededWith)).status).toBe(303);
    await host.close();

    // A restart seeds nothing: the users keep the password they were seeded with.
    host = await createReferenceHost(options);
    expect(host.seeded).toBe(false);
    expect((await new Client(host.url).signIn("gus@globex.test", seededWith)).status).toBe(303);
  }, 240_000);
});
