import { readFileSync } from "node:fs";
import { parseManifest } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import type { AnnexContext, AnnexRequest } from "../src/annex-types.js";
import * as server from "../src/server.js";

/** A small stand-in for the runner's ctx: records log lines instead of sending them. */
function fakeContext() {
  const logs: { level: string; message: string }[] = [];
  const log = (level: string) => (message: string) => void logs.push({ level, message });
  const ctx: AnnexContext = {
    install: { id: "inst_test", tenant: "tenant_test", config: {} },
    principal: { tenant: "tenant_test", user: { id: "u1", displayName: "Ada" }, roles: [] },
    log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
  };
  return { ctx, logs };
}

function request(init: Partial<AnnexRequest>): AnnexRequest {
  return { method: "GET", path: "/", params: {}, query: {}, headers: {}, body: null, ...init };
}

describe("hello", () => {
  it("greets the name from the path and logs it", () => {
    const { ctx, logs } = fakeContext();
    const response = server.hello(request({ path: "/hello/Ada", params: { name: "Ada" } }), ctx);
    expect(response).toEqual({ status: 200, body: { message: "Hello, Ada!" } });
    expect(logs).toEqual([{ level: "info", message: "saying hello to Ada" }]);
  });
});

describe("annex.json", () => {
  const manifest = parseManifest(JSON.parse(readFileSync(new URL("../annex.json", import.meta.url), "utf8")));

  it("names only handlers that src/server.ts exports", () => {
    const exported = server as Record<string, unknown>;
    for (const endpoint of manifest.endpoints) {
      expect(typeof exported[endpoint.handler], `handler ${endpoint.handler}`).toBe("function");
    }
  });

  it("points every UI page at a file that exists", () => {
    for (const page of manifest.ui?.pages ?? []) {
      expect(() => readFileSync(new URL(`../${page.entry}`, import.meta.url)), page.entry).not.toThrow();
    }
  });
});
