import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { createTestHost } from "../../src/testing/index.js";

/** The example of docs/storage-sql.md, whose files are in ./notes-extension: the doc quotes them, this test runs them. */
it("runs the example of docs/storage-sql.md", async () => {
  const doc = readFileSync(new URL("../../docs/storage-sql.md", import.meta.url), "utf8");
  for (const file of ["annex.json", "migrations/0001_notes.sql", "server/index.js"]) {
    const text = readFileSync(new URL(`./notes-extension/${file}`, import.meta.url), "utf8").trim();
    expect(doc, `docs/storage-sql.md quotes notes-extension/${file}`).toContain(text);
  }

  const t = await createTestHost();
  try {
    const install = await t.install(new URL("./notes-extension/", import.meta.url));
    const added = await t.request("POST", "/api/ext/acme.notes/notes", { as: "u1", body: { id: "n1", body: "hello" } });
    expect(added.status).toBe(200);
    const { rows } = await t.sql(install.id).query("SELECT body FROM notes WHERE id = $1", ["n1"]);
    expect(rows).toEqual([{ body: "hello" }]);
    expect(install.sql).toMatchObject({ schema: expect.stringMatching(/^ext_acme_notes_[0-9a-f]{12}$/), version: "0001", status: "ready", lastError: null });
    const got = await t.request("GET", "/api/ext/acme.notes/notes/n1", { as: "u1" });
    expect(await got.json()).toEqual({ note: { id: "n1", body: "hello" } });
    expect(await added.json()).toEqual({ note: { id: "n1", created_at: expect.any(String) } });
    expect((await t.request("GET", "/api/ext/acme.notes/notes/nope", { as: "u1" })).status).toBe(404);
  } finally {
    await t.close();
  }
  // A fresh PGlite takes seconds, more on a busy machine.
}, 120_000);
