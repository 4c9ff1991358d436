import { readFileSync } from "node:fs";
import { parseManifest } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import type { Ctx, GuestPrincipal, GuestRequest } from "@annex/runner/guest";
import * as server from "../src/server.js";

/** A small stand-in for the runner's ctx: records log lines instead of sending them. */
const GRACE = { tenant: "t1", user: { id: "u1", displayName: "Grace" }, roles: [] };

function fakeContext(principal: GuestPrincipal | null = GRACE) {
  const logs: { level: string; message: string }[] = [];
  const log = (level: string) => (message: string) => void logs.push({ level, message });
  // Only what the handlers use (see HelloCtx in src/server.ts); test/through-host.test.ts runs them with the real ctx.
  const ctx: Pick<Ctx, "log" | "principal"> = {
    ...(principal === null ? {} : { principal }),
    log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
  };
  return { ctx, logs };
}

function request(init: Partial<GuestRequest>): GuestRequest {
  return { method: "GET", path: "/", params: {}, query: {}, headers: {}, body: null, ...init };
}

describe("GET /hello/:name", () => {
  it("greets the name from the path and logs it", () => {
    const { ctx, logs } = fakeContext();
    const response = server.hello(request({ path: "/hello/Ada", params: { name: "Ada" } }), ctx);
    expect(response).toEqual({ status: 200, body: { message: "Hello, Ada!" } });
    expect(logs).toEqual([{ level: "info", message: "saying hello to Ada" }]);
  });

  it.each([["   "], ["x".repeat(65)], ["bell\u0007"]])("refuses the name %j with 400 and logs nothing", (name) => {
    const { ctx, logs } = fakeContext();
    const response = server.hello(request({ params: { name } }), ctx);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: { code: "E_BAD_REQUEST" } });
    expect(logs).toEqual([]);
  });
});

describe("POST /greetings", () => {
  it("answers 201 with the greeting, naming the signed-in user as sender", async () => {
    const { ctx, logs } = fakeContext();
    const response = await server.greet(request({ method: "POST", body: { name: " Ada ", greeting: "Welcome" } }), ctx);
    expect(response).toEqual({ status: 201, body: { message: "Welcome, Ada!", greeting: "Welcome", by: "Grace" } });
    expect(logs).toEqual([{ level: "info", message: 'Grace greets Ada with "Welcome"' }]);
  });

  it("defaults the greeting to Hello and the sender to someone", async () => {
    const { ctx } = fakeContext(null);
    const response = await server.greet(request({ method: "POST", body: { name: "Ada" } }), ctx);
    expect(response.body).toEqual({ message: "Hello, Ada!", greeting: "Hello", by: "someone" });
  });

  it.each([
    ["no body", null],
    ["an array", [{ name: "Ada" }]],
    ["a string", "Ada"],
    ["a missing name", { greeting: "Hi" }],
    ["a number as name", { name: 42 }],
    ["an unknown greeting", { name: "Ada", greeting: "<script>" }],
  ])("refuses %s with 400", async (_label, body) => {
    const { ctx, logs } = fakeContext();
    const response = await server.greet(request({ method: "POST", body }), ctx);
    expect(response.status).toBe(400);
    expect(logs).toEqual([]);
  });
});

describe("annex.json", () => {
  const manifest = parseManifest(JSON.parse(readFileSync(new URL("../annex.json", import.meta.url), "utf8")));

  it("names only handlers that src/server.ts exports", () => {
    const exported = server as Record<string, unknown>;
    expect(manifest.endpoints.map((endpoint) => endpoint.handler)).toEqual(["hello", "greet"]);
    for (const endpoint of manifest.endpoints) {
      expect(typeof exported[endpoint.handler], `handler ${endpoint.handler}`).toBe("function");
    }
  });

  it("points every UI page at a file that exists", () => {
    expect(manifest.ui.pages.length).toBeGreaterThan(0);
    for (const page of manifest.ui.pages) {
      expect(() => readFileSync(new URL(`../${page.entry}`, import.meta.url)), page.entry).not.toThrow();
    }
  });
});
