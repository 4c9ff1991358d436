import { readFileSync } from "node:fs";
import { createTestHost, type TestHost } from "@annex/host/testing";
import { parseManifest } from "@annex/manifest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as server from "../src/server.js";

// The whole platform in memory: src/server.ts is bundled as `annex pack` does and runs in
// Annex's sandbox, behind its gateway, with only the capabilities annex.json requests.
let t: TestHost;

beforeAll(async () => {
  t = await createTestHost();
  await t.install(new URL("..", import.meta.url));
});

afterAll(async () => {
  await t?.close();
});

describe("GET /hello/:name", () => {
  it("greets the name from the path and logs it", async () => {
    const response = await t.request("GET", "/api/ext/{{id}}/hello/Ada", { as: "ada" });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ message: "Hello, Ada!" });
    expect(t.logs.map(({ level, message }) => ({ level, message }))).toContainEqual({ level: "info", message: "saying hello to Ada" });
  });

  it("answers only signed-in users (an api endpoint)", async () => {
    const response = await t.request("GET", "/api/ext/{{id}}/hello/Ada");
    expect(response.status).toBe(401);
  });
});

describe("annex.json", () => {
  const manifest = parseManifest(JSON.parse(readFileSync(new URL("../annex.json", import.meta.url), "utf8")));

  it("names only handlers that src/server.ts exports (endpoints, jobs, event subscriptions)", () => {
    const exported = server as Record<string, unknown>;
    const handlers = [
      ...manifest.endpoints.map((endpoint) => ({ handler: endpoint.handler, of: `endpoint ${endpoint.method} ${endpoint.path}` })),
      ...manifest.jobs.map((job) => ({ handler: job.handler, of: `job ${job.name}` })),
      ...manifest.events.subscribes.map((subscription) => ({ handler: subscription.handler, of: `subscription to ${subscription.type}` })),
    ];
    for (const { handler, of } of handlers) {
      expect(typeof exported[handler], `handler ${handler} (${of})`).toBe("function");
    }
  });

  it("points every UI page at a file that exists", () => {
    for (const page of manifest.ui?.pages ?? []) {
      expect(() => readFileSync(new URL(`../${page.entry}`, import.meta.url)), page.entry).not.toThrow();
    }
  });
});
