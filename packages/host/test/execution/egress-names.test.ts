import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestHost, type TestHost } from "../../src/testing/test-host.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

/**
 * ctx.http.fetch of an extension granted a wildcard, `*.corp.test`, on a host whose resolver answers internal names
 * (split-horizon DNS): an internal name and a name that does not exist must get the same answer, or the guest learns
 * which internal names exist (db, vault, jenkins …) by asking, without a connection anything on the network would see.
 * (Found by a red-team pass: the address was hidden, but the two answers differed in code and text.)
 */
const SERVER = `
export async function probe(request, ctx) {
  const out = {};
  for (const name of request.body.names) {
    try { await ctx.http.fetch("https://" + name + "/"); out[name] = "reached"; }
    catch (e) { out[name] = { code: e.code, message: String(e.message).split(name).join("<name>") }; }
  }
  return out;
}`;

const INTERNAL: Record<string, string> = { "db.corp.test": "10.20.30.40", "vault.corp.test": "10.20.30.41", "meta.corp.test": "169.254.169.254" };

let t: TestHost;
beforeAll(async () => {
  t = await createTestHost({
    egress: {
      // The company's resolver: internal names answer private addresses, others do not exist.
      lookup: async (hostname) => {
        const address = INTERNAL[hostname];
        if (address === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
        return [{ address, family: 4 }];
      },
    },
  });
  const manifest = serviceManifest({
    id: "acme.sync",
    capabilities: [{ name: "http.fetch", hosts: ["*.corp.test"], reason: "Syncs records with the customer's own services under corp.test." }],
    endpoints: [{ class: "api", method: "POST", path: "/probe", handler: "probe" }],
  });
  await t.install(await makeBundle(manifest, { "server/index.js": SERVER }));
}, 60_000);
afterAll(async () => {
  await t?.close();
});

it("answers a wildcard-granted name that resolves to an internal address exactly as one that does not resolve (no existence oracle for internal DNS)", async () => {
  const names = ["db.corp.test", "vault.corp.test", "meta.corp.test", "nosuch.corp.test", "jenkins.corp.test"];
  const response = await t.request("POST", "/api/ext/acme.sync/probe", { as: "u1", body: { names } });
  expect(response.status).toBe(200);
  const answers = (await response.json()) as Record<string, unknown>;
  // Nothing was reached either way.
  expect(Object.values(answers)).not.toContain("reached");
  // What the guest sees for an existing internal name must not differ from what it sees for a name that does not exist.
  const distinct = new Set(Object.values(answers).map((answer) => JSON.stringify(answer)));
  expect({ distinctAnswers: distinct.size, answers }).toEqual({ distinctAnswers: 1, answers });
});
