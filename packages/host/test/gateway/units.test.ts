import { HOST_HEADER_PREFIX, NEVER_FORWARDED_REQUEST_HEADERS, parseManifest } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import { AuditWriter } from "../../src/gateway/audit-writer.js";
import { HeaderPolicy } from "../../src/gateway/headers.js";
import { InstallCache } from "../../src/gateway/install-cache.js";
import { parseGatewayPath, DEFAULT_PREFIXES } from "../../src/gateway/paths.js";
import { RateLimiter } from "../../src/gateway/rate-limit.js";
import { RouteTable } from "../../src/gateway/routes.js";
import type { ResolvedInstall } from "../../src/installs/types.js";
import { serviceManifest } from "../support/fixtures.js";

describe("RouteTable", () => {
  const manifest = parseManifest(
    serviceManifest({
      endpoints: [
        { class: "api", method: "GET", path: "/:a/:b", handler: "params" },
        { class: "api", method: "GET", path: "/:a/fixed", handler: "half" },
        { class: "api", method: "GET", path: "/users/me", handler: "me" },
        { class: "api", method: "POST", path: "/users/:id", handler: "update" },
        { class: "api", method: "GET", path: "/", handler: "root" },
        { class: "public", method: "GET", path: "/users/me", handler: "publicMe" },
      ],
    }),
  );
  const table = new RouteTable(manifest);
  const handler = (method: string, path: string) => {
    const match = table.match("api", method, path);
    return match.kind === "match" ? match.endpoint.handler : match.kind;
  };

  it("prefers literals segment by segment", () => {
    expect(handler("GET", "/users/me")).toBe("me");
    expect(handler("GET", "/x/fixed")).toBe("half");
    expect(handler("GET", "/x/y")).toBe("params");
  });

  it("serves the root path and keeps classes apart", () => {
    expect(handler("GET", "/")).toBe("root");
    expect(table.match("public", "GET", "/users/me")).toMatchObject({ kind: "match", endpoint: { handler: "publicMe" } });
    expect(table.match("webhook", "GET", "/users/me").kind).toBe("none");
  });

  it("lists the methods of every route at a path for 405", () => {
    expect(table.match("api", "DELETE", "/users/me")).toEqual({ kind: "method", allow: ["GET", "HEAD", "POST"] });
  });

  it("never matches an empty parameter", () => {
    expect(handler("POST", "/users/")).toBe("none");
    expect(handler("GET", "//fixed")).toBe("none");
  });

  it("keeps a parameter named like an Object.prototype key a plain value", () => {
    const odd = new RouteTable(parseManifest(serviceManifest({ endpoints: [{ class: "api", method: "GET", path: "/:constructor", handler: "odd" }] })));
    const match = odd.match("api", "GET", "/x");
    expect(match.kind === "match" && match.params).toEqual({ constructor: "x" });
  });
});

describe("HeaderPolicy and the manifest agree on what never reaches a sandbox", () => {
  const webhook = (header: string) =>
    serviceManifest({
      secrets: ["HOOK_SECRET"],
      capabilities: [{ name: "secrets.read", reason: "Checks the provider's signature.", names: ["HOOK_SECRET"] }],
      endpoints: [{ class: "webhook", method: "POST", path: "/in", handler: "incoming", verify: "extension", secret: "HOOK_SECRET", headers: [header] }],
    });

  it("drops every header a webhook manifest may not ask for, and forwards the ones it may", () => {
    const policy = new HeaderPolicy();
    const never = [...NEVER_FORWARDED_REQUEST_HEADERS, `${HOST_HEADER_PREFIX}tenant`];
    const headers = new Headers(never.filter((name) => name !== "host").map((name) => [name, "x"] as [string, string]));
    headers.set("stripe-signature", "t=1,v1=abc");
    expect(policy.toSandbox(headers, [...never, "stripe-signature"])).toEqual({ "stripe-signature": "t=1,v1=abc" });
    for (const header of never) {
      expect(() => parseManifest(webhook(header)), header).toThrow(expect.objectContaining({ code: "E_MANIFEST", message: expect.stringContaining("endpoints[0].headers[0]") }));
      expect(policy.forwards(header), header).toBe(false);
      expect(() => new HeaderPolicy({ requestHeaders: [header] }), header).toThrow(expect.objectContaining({ code: "E_GATEWAY_OPTIONS" }));
    }
    expect(() => parseManifest(webhook("stripe-signature"))).not.toThrow();
  });
});

describe("gateway paths", () => {
  it("splits families, ids and the rest", () => {
    expect(parseGatewayPath("/api/ext/acme.x/a/b", DEFAULT_PREFIXES)).toEqual({ kind: "api", extensionId: "acme.x", route: "/a/b" });
    expect(parseGatewayPath("/api/ext/acme.x", DEFAULT_PREFIXES)).toEqual({ kind: "api", extensionId: "acme.x", route: "/" });
    expect(parseGatewayPath("/ext/acme.x/hooks", DEFAULT_PREFIXES)).toEqual({ kind: "webhook", extensionId: "acme.x", route: "/" });
    expect(parseGatewayPath("/ext-ui/acme.x/h/ui/a.js", DEFAULT_PREFIXES)).toEqual({ kind: "ui", extensionId: "acme.x", hash: "h", file: "ui/a.js" });
    expect(parseGatewayPath("/ext/acme.x/admin/a", DEFAULT_PREFIXES)).toEqual({ kind: "unknown", extensionId: "acme.x" });
    expect(parseGatewayPath("/apix/ext/acme.x", DEFAULT_PREFIXES)).toBeNull();
  });
});

describe("RateLimiter", () => {
  it("refills continuously and says when the next request will pass", () => {
    let now = 0;
    const limiter = new RateLimiter({ now: () => now });
    const limit = { requests: 2, perSeconds: 10 };
    expect(limiter.take("k", limit).ok).toBe(true);
    expect(limiter.take("k", limit).ok).toBe(true);
    expect(limiter.take("k", limit)).toMatchObject({ ok: false, retryAfterSeconds: 5 });
    now = 4000;
    expect(limiter.take("k", limit)).toMatchObject({ ok: false, retryAfterSeconds: 1 });
    now = 5000;
    expect(limiter.take("k", limit).ok).toBe(true);
  });

  it("when full, drops the bucket used least recently: a stream of new keys does not free a client that keeps asking", () => {
    let now = 0;
    const limit = { requests: 2, perSeconds: 60 };
    const limiter = new RateLimiter({ now: () => now, maxBuckets: 1000 });
    // The first key in: it has used its budget and keeps asking, refused each time.
    expect([limiter.take("persistent", limit).ok, limiter.take("persistent", limit).ok]).toEqual([true, true]);
    for (let i = 0; i < 5000; i++) {
      now += 1;
      limiter.take(`new-address-${i}`, limit);
      if (i % 100 === 0) expect(limiter.take("persistent", limit).ok).toBe(false);
    }
    expect(limiter.size).toBe(1000);
    expect(limiter.take("persistent", limit).ok).toBe(false);
  });

  it("stays bounded under many keys, dropping idle buckets first", () => {
    let now = 0;
    const limiter = new RateLimiter({ now: () => now, maxBuckets: 100 });
    for (let i = 0; i < 100; i++) limiter.take(`idle${i}`, { requests: 1, perSeconds: 1 });
    now = 120_000;
    for (let i = 0; i < 1000; i++) limiter.take(`busy${i}`, { requests: 1, perSeconds: 1 });
    expect(limiter.size).toBeLessThanOrEqual(100);
  });
});

describe("InstallCache", () => {
  const resolved = (version: string) => ({ install: { version } }) as unknown as ResolvedInstall;

  it("shares one lookup among concurrent requests and keeps the result for the TTL", async () => {
    let now = 0;
    let loads = 0;
    const cache = new InstallCache({ ttlMs: 1000, now: () => now });
    const load = async () => {
      loads += 1;
      return resolved(`v${loads}`);
    };
    const results = await Promise.all([cache.get("t", "e", load), cache.get("t", "e", load), cache.get("t", "e", load)]);
    expect(loads).toBe(1);
    expect(new Set(results).size).toBe(1);
    now = 999;
    await cache.get("t", "e", load);
    expect(loads).toBe(1);
    now = 1001;
    expect((await cache.get("t", "e", load))?.install.version).toBe("v2");
  });

  it("never keeps 'not serving', and drops what a lookup found if an invalidation happened meanwhile", async () => {
    let loads = 0;
    const cache = new InstallCache({ ttlMs: 60_000, now: () => 0 });
    await cache.get("t", "e", async () => (loads++, null));
    await cache.get("t", "e", async () => (loads++, null));
    expect(loads).toBe(2);
    let release!: (value: ResolvedInstall) => void;
    const slow = cache.get("t", "x", () => new Promise<ResolvedInstall>((resolve) => (release = resolve)));
    cache.invalidate("t", "x");
    release(resolved("stale"));
    await slow;
    let fresh = 0;
    await cache.get("t", "x", async () => (fresh++, resolved("fresh")));
    expect(fresh).toBe(1);
  });
});

describe("AuditWriter", () => {
  function recorder(delayMs = 5) {
    const batches: number[] = [];
    const insert = async (entries: unknown[]) => {
      batches.push(entries.length);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    };
    return { insert, batches };
  }
  const entry = { actor: "a", tenant: null, action: "gateway.request", target: "x", decision: "allow" as const, details: {} };

  it("writes lines that arrive together in one insert, and those arriving during it in the next", async () => {
    const { insert, batches } = recorder();
    const writer = new AuditWriter(insert);
    const first = Array.from({ length: 5 }, () => writer.write(entry));
    // The first insert has started (and takes 5 ms): what comes now waits for the next.
    while (batches.length === 0) await new Promise((resolve) => setImmediate(resolve));
    const second = Array.from({ length: 3 }, () => writer.write(entry));
    await Promise.all([...first, ...second]);
    expect(batches).toEqual([5, 3]);
  });

  it("waits `turns` turns of the event loop, so lines written in the turns between share the insert", async () => {
    const { insert, batches } = recorder(0);
    const writer = new AuditWriter(insert, { turns: 3 });
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    const written = [writer.write(entry), writer.write(entry)];
    await turn();
    written.push(writer.write(entry));
    await turn();
    written.push(writer.write(entry));
    expect(batches).toEqual([]);
    await Promise.all(written);
    expect(batches).toEqual([4]);

    // With one turn, the line of the next turn goes in the next insert.
    const eager = recorder(0);
    const one = new AuditWriter(eager.insert, { turns: 1 });
    const first = one.write(entry);
    await turn();
    await Promise.all([first, one.write(entry)]);
    expect(eager.batches).toEqual([1, 1]);
  });

  it("refuses a turn count that is not a whole number of at least 1", () => {
    for (const turns of [0, -1, 1.5, Number.NaN, Infinity]) {
      expect(() => new AuditWriter(async () => {}, { turns })).toThrow(expect.objectContaining({ code: "E_GATEWAY_OPTIONS", details: { field: "turns" } }));
    }
  });

  it("rejects the writes of a failed insert, and goes on with the next ones", async () => {
    let fail = true;
    const writer = new AuditWriter(async () => {
      if (fail) {
        fail = false;
        throw new Error("disk full");
      }
    });
    await expect(writer.write(entry)).rejects.toThrow("disk full");
    await expect(writer.write(entry)).resolves.toBeUndefined();
  });
});
