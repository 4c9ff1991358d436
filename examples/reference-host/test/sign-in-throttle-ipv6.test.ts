/**
 * Sign-in budgets count an IPv6 client by its /64. One IPv6 client holds a whole /64 (2^64 addresses;
 * SLAAC privacy addresses change anyway), so budgets per full address would give an attacker a fresh budget
 * of wrong passwords, and of sign-in pages (one session row each), with every address of its own prefix.
 * IPv4-mapped addresses count as their IPv4 address.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { clientAddressKey } from "../src/auth/sign-in-throttle.js";
import { backends } from "./support/backends.js";
import { ClientAt } from "./support/http-client.js";

describe.each(backends().slice(0, 1))("sign-in throttle over IPv6 on $name", (backend) => {
  let host: ReferenceHost;

  beforeAll(async () => {
    host = await createReferenceHost({
      ...(await backend.options()),
      trustProxy: 1,
      signInLimits: { failures: { count: 3, windowMs: 60_000 }, pages: { count: 12, windowMs: 60_000 } },
    });
  }, 120_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("counts wrong passwords from the addresses of one IPv6 /64 against one budget", async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 8; i += 1) {
      // Each attempt from another address of the attacker's own /64.
      const client = new ClientAt(host.url, `2001:db8:1:2::${i.toString(16)}`);
      const token = await client.csrfFrom("/login");
      const answer = await client.request("POST", "/login", { form: { _csrf: token, email: "ada@acme.test", password: `guess-${i}`, next: "/" } });
      statuses.push(answer.status);
    }
    // 3 wrong passwords may be checked; the rest must be refused.
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(3);
    expect(statuses.slice(3).every((status) => status === 429)).toBe(true);
  });

  it("counts sign-in pages opened from the addresses of one IPv6 /64 against one budget, and another /64 against its own", async () => {
    // The test above opened 8 of the 12 pages of 2001:db8:1:2::/64.
    const statuses: number[] = [];
    for (let i = 0x100; i < 0x106; i += 1) statuses.push((await new ClientAt(host.url, `2001:db8:1:2:${i.toString(16)}::1`).get("/login")).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    expect((await new ClientAt(host.url, "2001:db8:1:3::1").get("/login")).status).toBe(200);
  });
});

describe("clientAddressKey", () => {
  it.each([
    ["2001:db8:1:2::1", "2001:db8:1:2::/64"],
    ["2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"],
    ["[2001:db8:1:2::1]", "2001:db8:1:2::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["::ffff:198.51.100.7", "198.51.100.7"],
    ["::ffff:c633:6407", "198.51.100.7"],
    ["198.51.100.7", "198.51.100.7"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4::/64"],
    ["", "?"],
    [undefined, "?"],
    ["not an address", "label:not an address"],
  ])("keys %j as %j", (address, key) => {
    expect(clientAddressKey(address)).toBe(key);
  });
});
