import { describe, expect, it } from "vitest";
import { AuditSampler } from "../../src/gateway/audit-sampler.js";
import { clientKey } from "../../src/gateway/client-address.js";
import { RateLimiter } from "../../src/gateway/rate-limit.js";
import { deliveryKey } from "../../src/gateway/webhook-signature.js";
import { ReplayCache } from "../../src/gateway/replay-store.js";

describe("client keys", () => {
  it.each([
    ["192.0.2.1", "192.0.2.1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["::ffff:c000:201", "192.0.2.1"],
    ["2001:db8:1:2::1", "2001:db8:1:2::/64"],
    ["2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"],
    ["[2001:db8:1:2::9]", "2001:db8:1:2::/64"],
    // With the source port, as some proxies write X-Forwarded-For: the port is the client's to pick, not a new client.
    ["192.0.2.1:40000", "192.0.2.1"],
    ["192.0.2.1:40001", "192.0.2.1"],
    ["[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"],
    ["[::ffff:192.0.2.1]:8080", "192.0.2.1"],
    ["host.example:80", "label:host.example:80"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    [undefined, "?"],
    ["", "?"],
    ["unix-socket", "label:unix-socket"],
  ])("%s → %s", (address, key) => {
    expect(clientKey(address)).toBe(key);
  });

  it("answers the same from its memo, and stays right after a flood of distinct addresses", () => {
    expect(clientKey("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    for (let i = 0; i < 3000; i++) expect(clientKey(`10.${(i >> 8) & 255}.${i & 255}.1`)).toBe(`10.${(i >> 8) & 255}.${i & 255}.1`);
    expect(clientKey("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    expect(clientKey("::ffff:192.0.2.1")).toBe("192.0.2.1");
  });

  it("bounds a label", () => {
    expect(clientKey("x".repeat(1000))).toHaveLength("label:".length + 64);
  });
});

describe("rate limiter refunds", () => {
  it("gives a token back, never above the bucket's size", () => {
    const limiter = new RateLimiter({ now: () => 0 });
    const limit = { requests: 2, perSeconds: 60 };
    expect(limiter.take("k", limit).ok).toBe(true);
    expect(limiter.take("k", limit).ok).toBe(true);
    expect(limiter.peek("k", limit)).toBe(false);
    limiter.refund("k", limit);
    limiter.refund("k", limit);
    limiter.refund("k", limit);
    expect(limiter.take("k", limit).ok).toBe(true);
    expect(limiter.take("k", limit).ok).toBe(true);
    expect(limiter.take("k", limit).ok).toBe(false);
  });
});

describe("AuditSampler", () => {
  it("writes a client's lines up to its budget, then tells the next written line how many it skipped", () => {
    let now = 0;
    const sampler = new AuditSampler({ perClient: { requests: 2, perSeconds: 60 }, anonymous: false, now: () => now });
    expect(sampler.admit("a", true)).toEqual({ write: true, skipped: 0 });
    expect(sampler.admit("a", true)).toEqual({ write: true, skipped: 0 });
    expect(sampler.admit("a", true)).toEqual({ write: false });
    expect(sampler.admit("a", true)).toEqual({ write: false });
    expect(sampler.admit("b", true)).toEqual({ write: true, skipped: 0 });
    now += 30_000;
    expect(sampler.admit("a", true)).toEqual({ write: true, skipped: 2 });
    expect(sampler.skipped).toBe(2);
  });

  it("keeps the anonymous budget however many clients come and go", () => {
    const sampler = new AuditSampler({ perClient: { requests: 1, perSeconds: 60 }, anonymous: { requests: 10, perSeconds: 60 }, now: () => 0, maxClients: 5 });
    let written = 0;
    for (let i = 0; i < 1000; i++) if (sampler.admit(`c${i}`, true).write) written++;
    expect(written).toBe(10);
    expect(sampler.skipped).toBe(990);
    // Signed-in users are not in the anonymous budget.
    expect(sampler.admit("user:t/ada", false).write).toBe(true);
  });
});

describe("replay cache", () => {
  it("knows a delivery by timestamp and body, whatever signed it", () => {
    const cache = new ReplayCache();
    const body = new TextEncoder().encode('{"id":1}');
    const key = deliveryKey(100, body);
    expect(cache.remember("i1", key, 400, 100)).toBe(true);
    expect(cache.seen("i1", deliveryKey(100, new TextEncoder().encode('{"id":1}')), 101)).toBe(true);
    expect(cache.seen("i2", key, 101)).toBe(false);
    expect(cache.seen("i1", deliveryKey(101, body), 101)).toBe(false);
    expect(cache.seen("i1", deliveryKey(100, null), 101)).toBe(false);
    expect(cache.seen("i1", key, 401)).toBe(false);
  });
});
