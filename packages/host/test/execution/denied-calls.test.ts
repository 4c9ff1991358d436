import { createWorkerPoolRunner, type WorkerPoolRunner } from "@annex/runner";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DENIED_CALLS_ACTION } from "../../src/audit/denied-calls.js";
import { createTestHost, type TestHost } from "../../src/testing/test-host.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

/**
 * Host calls refused for want of a grant are a decision of the host's, audited even when the guest catches the
 * errors: one line per execution, the install as actor, the refusals counted by capability. Through createTestHost
 * on the worker pool, as production runs it.
 */
const SERVER = `
export async function probe(request, ctx) {
  const codes = [];
  const attempts = [
    () => ctx.kv.get("x"),
    () => ctx.kv.set("x", 1),
    () => ctx.http.fetch("http://169.254.169.254/latest/meta-data/"),
    () => ctx.events.publish("order.created", {}),
  ];
  for (const attempt of attempts) {
    try { await attempt(); codes.push("ok"); } catch (error) { codes.push(error.code); }
  }
  return { codes };
}
export function quiet() { return { quiet: true }; }`;

let runner: WorkerPoolRunner;
let t: TestHost;
let installId: string;

beforeAll(async () => {
  runner = createWorkerPoolRunner({ workers: 1 });
  t = await createTestHost({ runner });
  const manifest = serviceManifest({
    id: "acme.probe",
    endpoints: [
      { class: "api", method: "GET", path: "/probe", handler: "probe" },
      { class: "api", method: "GET", path: "/quiet", handler: "quiet" },
    ],
  });
  installId = (await t.install(await makeBundle(manifest, { "server/index.js": SERVER }))).id;
}, 60_000);

afterAll(async () => {
  await t?.close();
  await runner?.close();
});

const deniedLines = async () => {
  // The line is written once the execution is reported, just after its answer.
  for (let i = 0; i < 50; i++) {
    const lines = await t.host.audit.list({ action: DENIED_CALLS_ACTION });
    if (lines.length > 0) return lines;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return t.host.audit.list({ action: DENIED_CALLS_ACTION });
};

it("audits the host calls an extension made without their grants, though it caught every refusal and answered 200", async () => {
  const quiet = await t.request("GET", "/api/ext/acme.probe/quiet", { as: "u1" });
  expect(quiet.status).toBe(200);
  const probe = await t.request("GET", "/api/ext/acme.probe/probe", { as: "u1" });
  expect(probe.status).toBe(200);
  expect(await probe.json()).toEqual({ codes: ["E_CAPABILITY_DENIED", "E_CAPABILITY_DENIED", "E_CAPABILITY_DENIED", "E_CAPABILITY_DENIED"] });
  const lines = await deniedLines();
  // One line, for the execution that was refused: none for the one that asked for nothing.
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({
    actor: `install:${installId}`,
    tenant: "test-tenant",
    target: "acme.probe",
    decision: "deny",
    details: { handler: "probe", trigger: "endpoint", denied: { "storage.kv": 2, "http.fetch": 1, "events.publish": 1 } },
  });
});
