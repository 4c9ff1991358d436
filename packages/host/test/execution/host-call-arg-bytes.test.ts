import { createWorkerPoolRunner, type WorkerPoolRunner } from "@annex/runner";
import { afterAll, beforeAll, expect, it } from "vitest";
import { MAX_EVENT_PAYLOAD_BYTES } from "../../src/events/event-types.js";
import { DEFAULT_KV_LIMITS } from "../../src/storage/kv/policy.js";
import { createTestHost, type TestHost } from "../../src/testing/test-host.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

/**
 * A host call the host would refuse for its size is refused inside the sandbox, before its arguments reach the
 * host's thread: an array of a million empty objects is cheap for a guest to make and took the host's thread
 * seconds to copy, measure and refuse. Near the limit the host's own check still decides, with the same code.
 * Through createTestHost on the worker pool, as production runs it.
 */
const SERVER = `
const codeOf = (p) => p.then(() => "ok", (e) => e.code + ": " + e.message);
export async function probe(request, ctx) {
  const { what, n } = request.body;
  if (what === "wide") return { kv: await codeOf(ctx.kv.set("big", new Array(n).fill({}))) };
  if (what === "near") return { kv: await codeOf(ctx.kv.set("near", "x".repeat(n))) };
  return { event: await codeOf(ctx.events.publish("note.saved", { items: new Array(n).fill(0) })) };
}`;

let runner: WorkerPoolRunner;
let t: TestHost;
let installId: string;

beforeAll(async () => {
  runner = createWorkerPoolRunner({ workers: 1 });
  t = await createTestHost({ runner });
  const manifest = serviceManifest({
    id: "acme.bigargs",
    capabilities: [
      { name: "storage.kv", reason: "Keeps notes between requests." },
      { name: "events.publish", types: ["note.saved"], reason: "Tells others about notes." },
    ],
    storage: { kind: "kv" },
    events: { publishes: [{ type: "note.saved" }], subscribes: [] },
    endpoints: [{ class: "api", method: "POST", path: "/probe", handler: "probe" }],
  });
  installId = (await t.install(await makeBundle(manifest, { "server/index.js": SERVER }))).id;
}, 60_000);

afterAll(async () => {
  await t?.close();
  await runner?.close();
});

const probe = async (body: Record<string, unknown>) => {
  const response = await t.request("POST", "/api/ext/acme.bigargs/probe", { as: "u1", body });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, string>;
};

it("refuses a kv value far over valueBytes inside the sandbox with E_KV_QUOTA_EXCEEDED, and stores nothing", async () => {
  const bound = DEFAULT_KV_LIMITS.valueBytes + 8 * 1024;
  const answer = await probe({ what: "wide", n: 1_000_000 });
  expect(answer["kv"]).toBe(`E_KV_QUOTA_EXCEEDED: ctx.kv.set arguments are larger than ${bound} bytes as JSON, the most this host accepts in one kv.set call; send less`);
  expect(await t.kv(installId).get("big")).toBeNull();
});

it("leaves a value just over valueBytes to the host's own check: the same code, the host's message", async () => {
  const answer = await probe({ what: "near", n: DEFAULT_KV_LIMITS.valueBytes + 100 });
  expect(answer["kv"]).toMatch(/^E_KV_QUOTA_EXCEEDED: kv value is 262246 bytes as JSON, over the valueBytes limit of 262144/);
  expect((await probe({ what: "near", n: 1000 }))["kv"]).toBe("ok");
});

it("refuses an event payload far over its limit inside the sandbox with E_PAYLOAD_TOO_LARGE", async () => {
  const answer = await probe({ what: "event", n: 1_000_000 });
  expect(answer["event"]).toBe(`E_PAYLOAD_TOO_LARGE: ctx.events.publish arguments are larger than ${MAX_EVENT_PAYLOAD_BYTES + 8 * 1024} bytes as JSON, the most this host accepts in one events.publish call; send less`);
  expect((await probe({ what: "event", n: 10 }))["event"]).toBe("ok");
});
