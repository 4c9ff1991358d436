import { createTestHost, type TestHost } from "@annex/host/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The same handlers as server.test.ts, but bundled from src/ and run in Annex's sandbox behind the
// gateway, with the grants annex.json requests: what the unit tests' fake ctx cannot show.
let t: TestHost;

beforeAll(async () => {
  t = await createTestHost();
  await t.install(new URL("..", import.meta.url));
}, 60_000);

afterAll(async () => {
  await t?.close();
});

const grace = { user: { id: "u1", displayName: "Grace" } };

describe("acme.hello through the test host", () => {
  it("greets by path and logs the greeting from inside the sandbox", async () => {
    const response = await t.request("GET", "/api/ext/acme.hello/hello/Ada", { as: grace });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ message: "Hello, Ada!" });
    expect(t.logs.map(({ level, message, handler }) => ({ level, message, handler }))).toContainEqual({ level: "info", message: "saying hello to Ada", handler: "hello" });
  });

  it("answers POST /greetings with 201, naming the signed-in user from the gateway's principal", async () => {
    const response = await t.request("POST", "/api/ext/acme.hello/greetings", { as: grace, body: { name: "Ada", greeting: "Welcome" } });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ message: "Welcome, Ada!", greeting: "Welcome", by: "Grace" });
  });

  it("turns the handler's refusal into a 400 and refuses anonymous callers with 401", async () => {
    expect((await t.request("POST", "/api/ext/acme.hello/greetings", { as: grace, body: ["not", "an", "object"] })).status).toBe(400);
    expect((await t.request("GET", "/api/ext/acme.hello/hello/Ada")).status).toBe(401);
  });

  it("audits every decision: the requests it let through and the one it refused", async () => {
    const lines = await t.audit.list({ target: "acme.hello", action: "gateway.request" });
    const allowed = lines.filter((line) => line.decision === "allow");
    expect(allowed).toHaveLength(3);
    expect(allowed.every((line) => line.tenant === "test-tenant" && line.actor === "user:u1")).toBe(true);
    expect(lines.filter((line) => line.decision === "deny").map((line) => line.details["code"])).toEqual(["E_UNAUTHENTICATED"]);
  });
});
