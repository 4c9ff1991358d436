/**
 * Sign-ins are audited in Annex's audit log (action `auth.sign-in`): a wrong password and an unknown email
 * write the same line (decision deny, no tenant, the submitted email made storable and bounded, the client's
 * address key), a throttled address one line per window, a throttled account (refused by its budget across
 * addresses) one line per spell of refusals, a sign-in that succeeds an allow line in the user's tenant. No line ever holds the password. On PGlite, and on PostgreSQL when ANNEX_TEST_DATABASE_URL is set.
 */
import type { AuditEntry } from "@annex/host";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AddressBudget } from "../src/auth/sign-in-throttle.js";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { ClientAt } from "./support/http-client.js";

const PASSWORD_MARK = "pw-MUST-NOT-BE-AUDITED";

describe.each(backends())("sign-in audit on $name", (backend) => {
  let host: ReferenceHost;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()), trustProxy: 1, signInLimits: { failures: { count: 3, windowMs: 60_000 }, accounts: { count: 5, windowMs: 60_000 } } });
  }, 120_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  /** The sign-in lines about `address`, oldest first. */
  const linesOf = async (address: string) =>
    (await host.annex.audit.list({ action: "auth.sign-in", limit: 1000 })).filter((line) => (line.details as { client?: string }).client === address);
  const shape = (line: AuditEntry) => ({ actor: line.actor, tenant: line.tenant, action: line.action, decision: line.decision, detailKeys: Object.keys(line.details).sort() });

  it("writes the same deny line for a wrong password and an unknown email, never the password", async () => {
    const client = new ClientAt(host.url, "198.51.100.10");
    expect((await client.signIn("ada@acme.test", `${PASSWORD_MARK}-1`)).status).toBe(401);
    expect((await client.signIn("nobody@acme.test", `${PASSWORD_MARK}-2`)).status).toBe(401);
    const [wrong, unknown, ...rest] = await linesOf("198.51.100.10");
    expect(rest).toEqual([]);
    expect(wrong).toMatchObject({ actor: "anonymous", tenant: null, action: "auth.sign-in", target: "user:ada@acme.test", decision: "deny", details: { client: "198.51.100.10", reason: "credentials" } });
    expect(unknown).toMatchObject({ target: "user:nobody@acme.test", details: { reason: "credentials" } });
    expect(shape(wrong!)).toEqual(shape(unknown!));
    expect(JSON.stringify([wrong, unknown])).not.toContain(PASSWORD_MARK);
  });

  it("writes an allow line in the user's tenant for a sign-in that succeeds", async () => {
    const client = new ClientAt(host.url, "198.51.100.11");
    expect((await client.signIn("ada@acme.test")).status).toBe(303);
    const lines = await linesOf("198.51.100.11");
    expect(lines).toEqual([
      expect.objectContaining({ actor: "user:ada@acme.test", tenant: "acme", action: "auth.sign-in", target: "user:ada@acme.test", decision: "allow", details: { client: "198.51.100.11" } }),
    ]);
    expect(JSON.stringify(lines)).not.toContain(host.password);
    // The tenant's admins read it in the console's audit log.
    const csrf = (await (await client.get("/admin/api/session", { accept: "application/json" })).json()).csrfToken as string;
    expect(csrf).toBeTruthy();
    const audit = (await (await client.get("/admin/api/audit?action=auth.sign-in", { accept: "application/json" })).json()) as { entries: AuditEntry[] };
    expect(audit.entries.some((line) => line.decision === "allow" && (line.details as { client?: string }).client === "198.51.100.11")).toBe(true);
  });

  it("makes the submitted email storable and bounded: controls replaced, NUL included, long text cut", async () => {
    const client = new ClientAt(host.url, "198.51.100.12");
    const token = await client.csrfFrom("/login");
    const forged = "eve\u0000\u202e@acme.test\n2024-01-01 admin signed in";
    expect((await client.request("POST", "/login", { form: { _csrf: token, email: forged, password: PASSWORD_MARK } })).status).toBe(401);
    expect((await client.request("POST", "/login", { form: { _csrf: token, email: `${"x".repeat(2000)}@acme.test`, password: PASSWORD_MARK } })).status).toBe(401);
    const [controls, long] = await linesOf("198.51.100.12");
    expect(controls!.target).not.toMatch(/[\u0000-\u001f\u202e]/);
    expect(controls!.target).toContain("\ufffd");
    expect(long!.target.length).toBeLessThanOrEqual(300);
    expect(long!.target.endsWith("…")).toBe(true);
    expect(JSON.stringify([controls, long])).not.toContain(PASSWORD_MARK);
  });

  it("writes one line when an address is throttled, not one per refused attempt", async () => {
    const client = new ClientAt(host.url, "198.51.100.13");
    for (let i = 0; i < 3; i += 1) expect((await client.signIn("ada@acme.test", `${PASSWORD_MARK}-${i}`)).status).toBe(401);
    for (let i = 0; i < 4; i += 1) expect((await client.signIn("ada@acme.test", `${PASSWORD_MARK}-t${i}`)).status).toBe(429);
    const lines = await linesOf("198.51.100.13");
    expect(lines.map((line) => [line.decision, (line.details as { reason: string }).reason])).toEqual([
      ["deny", "credentials"],
      ["deny", "credentials"],
      ["deny", "credentials"],
      ["deny", "throttled"],
    ]);
    expect(lines[3]).toMatchObject({ actor: "anonymous", tenant: null, target: "user:ada@acme.test", details: { client: "198.51.100.13", budget: "address", retryAfter: expect.any(Number) } });
    expect(JSON.stringify(lines)).not.toContain(PASSWORD_MARK);
  });

  it("writes one line when an account's budget refuses it, not one per refused attempt, whichever address sends them", async () => {
    const email = "target@globex.test";
    const statuses: number[] = [];
    for (const [address, attempts] of [["198.51.100.20", 3], ["198.51.100.21", 3], ["198.51.100.22", 2]] as const) {
      const client = new ClientAt(host.url, address);
      for (let i = 0; i < attempts; i += 1) statuses.push((await client.signIn(email, `${PASSWORD_MARK}-${address}-${i}`)).status);
    }
    // The account's budget (5) spent from two addresses, each within its own (3).
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const lines = (await host.annex.audit.list({ action: "auth.sign-in", target: `user:${email}`, limit: 100, order: "asc" })) as AuditEntry[];
    expect(lines.map((line) => [(line.details as { client: string }).client, (line.details as { reason: string }).reason])).toEqual([
      ...Array<[string, string]>(3).fill(["198.51.100.20", "credentials"]),
      ...Array<[string, string]>(2).fill(["198.51.100.21", "credentials"]),
      ["198.51.100.21", "throttled"],
    ]);
    expect(lines[5]).toMatchObject({ actor: "anonymous", tenant: null, decision: "deny", details: { budget: "account", retryAfter: expect.any(Number) } });
    expect(JSON.stringify(lines)).not.toContain(PASSWORD_MARK);
  });
});

describe("AddressBudget.reserve's firstRefusal", () => {
  it("is true for the first refused attempt of each window only", () => {
    let now = 1_000;
    const budget = new AddressBudget({ count: 1, windowMs: 60_000 }, () => now);
    expect(budget.reserve("a")).toMatchObject({ wait: 0, firstRefusal: false });
    expect([1, 2, 3].map(() => budget.reserve("a").firstRefusal)).toEqual([true, false, false]);
    expect(budget.reserve("b")).toMatchObject({ wait: 0, firstRefusal: false });
    expect(budget.reserve("b").firstRefusal).toBe(true);
    now += 60_000;
    expect(budget.reserve("a")).toMatchObject({ wait: 0, firstRefusal: false });
    expect([1, 2].map(() => budget.reserve("a").firstRefusal)).toEqual([true, false]);
  });
});
