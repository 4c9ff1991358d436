/**
 * What an anonymous or a formerly privileged caller can do to the reference
 * host over HTTP: bodies it cannot read and paths with a malformed
 * percent-escape are the caller's 4xx (never a 500 with a stack in the error
 * log), paths that name no extension are 404, a user's role is read on every
 * request (a demoted admin loses the console at once), and sign-in is
 * throttled per client address and per account (from all addresses
 * together), parallel bursts included. On PGlite, and on PostgreSQL when
 * ANNEX_TEST_DATABASE_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountBudget } from "../src/auth/account-budget.js";
import { AddressBudget } from "../src/auth/sign-in-throttle.js";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { ClientAt } from "./support/http-client.js";

describe.each(backends())("reference host hardening on $name", (backend) => {
  let host: ReferenceHost;
  let addresses = 0;
  /** The host's error-level log lines: a caller's mistake must never write one. */
  const errorLines: string[] = [];
  const noop = () => {};
  const logger = { debug: noop, info: noop, warn: noop, error: (obj: unknown, msg?: string) => void errorLines.push(`${msg ?? ""} ${JSON.stringify(obj).slice(0, 300)}`) };
  /** Each test's requests from an address of its own, so that the throttles of one do not reach another. */
  const client = () => new ClientAt(host.url, `203.0.113.${(addresses += 1)}`);

  beforeAll(async () => {
    host = await createReferenceHost({
      ...(await backend.options()),
      logger,
      demoInstalls: true,
      trustProxy: 1,
      signInLimits: { failures: { count: 3, windowMs: 60_000 }, pages: { count: 5, windowMs: 60_000 } },
    });
  }, 120_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("answers a body it cannot read with 400 or 413, for anyone, before anything else runs", async () => {
    for (const [body, status, code] of [
      ["{", 400, "E_BAD_REQUEST"],
      [JSON.stringify({ text: "x".repeat(300 * 1024) }), 413, "E_PAYLOAD_TOO_LARGE"],
    ] as const) {
      const answer = await fetch(`${host.url}/admin/api/installs`, { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body });
      expect(answer.status, body.slice(0, 20)).toBe(status);
      expect(await answer.json()).toMatchObject({ code });
    }
    const form = await fetch(`${host.url}/login`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html" }, body: `email=${"a".repeat(20_000)}` });
    expect(form.status).toBe(413);
    expect(await form.text()).toContain("too large");
  });

  it("answers a malformed percent-escape in a path parameter with 400 E_BAD_REQUEST, without an error log line", async () => {
    const ada = client();
    await ada.signIn("ada@acme.test");
    const before = errorLines.length;
    for (const path of ["/public/%ff/acme.hello", "/public/acme/%E0%A4%A", "/assets/%ff", "/apps/%ff", "/admin/apps/%ff", "/admin/api/installs/%ff", "/admin/api/extensions/%ff/versions"]) {
      const caller = path.startsWith("/public") || path.startsWith("/assets") ? client() : ada;
      const answer = await caller.get(path, { accept: "application/json" });
      expect(answer.status, path).toBe(400);
      expect(await answer.json(), path).toEqual({ code: "E_BAD_REQUEST", message: expect.any(String) });
    }
    // A browser gets a page, which does not echo the path back.
    const page = await client().get("/public/%3Cb%3E%ff/acme.hello", { accept: "text/html" });
    expect(page.status).toBe(400);
    expect(await page.text()).not.toContain("<b>");
    expect(errorLines.slice(before)).toEqual([]);
  });

  it("answers 404 for a path segment that is no extension id, signed in or not", async () => {
    for (const path of ["/public/acme/x", "/public/acme/ACME.HELLO", "/public/acme/a..b"]) {
      expect((await fetch(`${host.url}${path}`)).status, path).toBe(404);
    }
    const ada = client();
    await ada.signIn("ada@acme.test");
    for (const path of [`/apps/${"a".repeat(8000)}`, "/admin/apps/not-an-id"]) {
      expect((await ada.get(path)).status, path).toBe(404);
    }
    // A NUL is refused before any route, as in every string of a request (nul-strings.test.ts).
    expect((await ada.get("/apps/acme.hello%00")).status).toBe(400);
  });

  it("reads the user's role and existence on every request: a demoted admin loses the console at once, a deleted user everything", async () => {
    const { password_hash } = await host.database.app.selectFrom("users").select("password_hash").where("id", "=", "u-ada").executeTakeFirstOrThrow();
    await host.database.app.insertInto("users").values({ id: "u-eve", tenant: "acme", email: "eve@acme.test", display_name: "Eve", password_hash, role: "admin" }).execute();
    const eve = client();
    expect((await eve.signIn("eve@acme.test")).status).toBe(303);
    expect((await eve.get("/admin/api/installs")).status).toBe(200);
    expect((await eve.get("/admin")).status).toBe(200);

    await host.database.app.updateTable("users").set({ role: "member" }).where("id", "=", "u-eve").execute();
    expect((await eve.get("/admin/api/installs")).status).toBe(403);
    expect((await eve.get("/admin")).status).toBe(403);
    expect((await eve.get("/")).status).toBe(200);
    expect((await eve.get("/api/ext/acme.hello/hello/Eve")).status).toBe(200);

    await host.database.app.deleteFrom("users").where("id", "=", "u-eve").execute();
    expect((await eve.get("/admin/api/installs")).status).toBe(401);
    expect((await eve.get("/")).status).toBe(303);
    expect((await eve.get("/api/ext/acme.hello/hello/Eve")).status).toBe(401);
  });

  it("throttles wrong passwords per client address: past the limit even the right one waits, other addresses do not", async () => {
    const guesser = client();
    for (let i = 0; i < 3; i++) expect((await guesser.signIn("ada@acme.test", `guess-${i}`)).status).toBe(401);
    const blocked = await guesser.signIn("ada@acme.test");
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await client().signIn("ada@acme.test")).status).toBe(303);
  });

  it("counts wrong passwords sent at once against the budget before checking them: past it the rest wait unchecked", async () => {
    const guesser = client();
    const token = await guesser.csrfFrom("/login");
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => guesser.request("POST", "/login", { form: { _csrf: token, email: "ada@acme.test", password: `burst-${i}`, next: "/" } })),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([...Array<number>(3).fill(401), ...Array<number>(9).fill(429)]);
    // The budget is spent: the right password waits too.
    expect((await guesser.signIn("ada@acme.test")).status).toBe(429);
  });

  it("refuses the right password sent in a burst of wrong ones once the burst has taken the budget", async () => {
    const guesser = client();
    const token = await guesser.csrfFrom("/login");
    const wrong = Array.from({ length: 8 }, (_, i) => guesser.request("POST", "/login", { form: { _csrf: token, email: "ada@acme.test", password: `nope-${i}`, next: "/" } }));
    // Sent while the wrong ones are still being checked (scrypt): it must not slip in before they count.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const right = await guesser.request("POST", "/login", { form: { _csrf: token, email: "ada@acme.test", password: "annex-demo", next: "/" } });
    const statuses = (await Promise.all(wrong)).map((a) => a.status);
    expect(right.status).toBe(429);
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
  });

  it("gives a right password's attempt back: signing in again and again does not use up the budget", async () => {
    const user = client();
    for (let i = 0; i < 5; i++) expect((await user.signIn("max@acme.test")).status).toBe(303);
    for (let i = 0; i < 3; i++) expect((await user.signIn("max@acme.test", `guess-${i}`)).status).toBe(401);
    expect((await user.signIn("max@acme.test")).status).toBe(429);
  });

  it("throttles sign-in pages opened without a session per address (each would store one), not the reloads of a session that has its token", async () => {
    const address = `203.0.113.${(addresses += 1)}`;
    const visitor = new ClientAt(host.url, address);
    const first = await visitor.get("/login");
    await first.text();
    expect(first.status).toBe(200);
    // Fresh clients from the same address, no cookie: a new session each, up to the limit (5, one spent above).
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      const page = await new ClientAt(host.url, address).get("/login");
      // express-session sends all but the body's last byte before its store has the session: read it all, so the count below is settled.
      await page.text();
      statuses.push(page.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    const countSessions = async () => Number((await host.database.app.selectFrom("sessions").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow()).n);
    const before = await countSessions();
    const refused = await new ClientAt(host.url, address).get("/login");
    await refused.text();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await countSessions()).toBe(before);
    // The visitor's own session has its token: a reload costs nothing and is served, and it can still sign in.
    expect((await visitor.get("/login")).status).toBe(200);
    expect((await visitor.signIn("max@acme.test")).status).toBe(303);
  });
});

describe.each(backends().slice(0, 1))("sign-in throttled per account on $name", (backend) => {
  let host: ReferenceHost;
  let addresses = 0;
  /** A client from an address of its own, each with a fresh budget of its address's: what an attacker with many addresses has. */
  const client = () => new ClientAt(host.url, `198.51.100.${(addresses += 1)}`);

  beforeAll(async () => {
    host = await createReferenceHost({
      ...(await backend.options()),
      trustProxy: 1,
      signInLimits: { failures: { count: 3, windowMs: 60_000 }, accounts: { count: 5, windowMs: 60_000 } },
    });
  }, 120_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("checks at most the account's budget of wrong passwords from many addresses; past it even the right one waits, other accounts do not", async () => {
    const statuses: number[] = [];
    // 4 addresses, 2 wrong passwords each: within every address's budget (3), past the account's (5).
    for (let i = 0; i < 4; i += 1) {
      const guesser = client();
      for (let j = 0; j < 2; j += 1) statuses.push((await guesser.signIn("ada@acme.test", `guess-${i}-${j}`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const blocked = await client().signIn("ada@acme.test");
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(blocked.headers.get("retry-after"))).toBeLessThanOrEqual(60);
    // The email as the sign-in reads it (trimmed, any case) is the same account.
    expect((await client().signIn("  ADA@acme.test ")).status).toBe(429);
    expect((await client().signIn("max@acme.test")).status).toBe(303);
  });

  it("does not charge the address for an attempt the account's budget refused: it still signs in elsewhere", async () => {
    const guesser = client();
    // ada's budget is spent (above): these cost guesser's address nothing, nothing is checked.
    for (let i = 0; i < 4; i += 1) expect((await guesser.signIn("ada@acme.test", `more-${i}`)).status).toBe(429);
    expect((await guesser.signIn("gus@globex.test")).status).toBe(303);
  });

  it("counts an email no account has the same way: the refusals say nothing about which emails have accounts", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const guesser = client();
      for (let j = 0; j < 2; j += 1) statuses.push((await guesser.signIn("nobody@acme.test", `guess-${i}-${j}`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
  });

  it("counts wrong passwords sent at once from many addresses before checking them", async () => {
    const guessers = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const guesser = client();
        return { guesser, token: await guesser.csrfFrom("/login") };
      }),
    );
    const answers = await Promise.all(
      guessers.flatMap(({ guesser, token }, i) =>
        [0, 1].map((j) => guesser.request("POST", "/login", { form: { _csrf: token, email: "gus@globex.test", password: `burst-${i}-${j}`, next: "/" } })),
      ),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([...Array<number>(5).fill(401), ...Array<number>(7).fill(429)]);
  });

  it("gives a right password's attempt back: the account's own sign-ins never use up its budget", async () => {
    for (let i = 0; i < 8; i += 1) expect((await client().signIn("max@acme.test")).status).toBe(303);
  });
});

describe("AccountBudget", () => {
  it("counts failures per normalised email in a sliding window; a reservation given back is not spent", () => {
    let now = 1_000;
    const budget = new AccountBudget({ count: 3, windowMs: 60_000 }, () => now);
    const first = budget.reserve("ada@acme.test");
    now += 20_000;
    budget.reserve("ADA@acme.test ");
    now += 20_000;
    const third = budget.reserve(" ada@ACME.test");
    expect(budget.reserve("ada@acme.test")).toMatchObject({ wait: 20, firstRefusal: true });
    expect(budget.reserve("ada@acme.test")).toMatchObject({ wait: 20, firstRefusal: false });
    expect(budget.reserve("gus@globex.test").wait).toBe(0);
    third.giveBack();
    third.giveBack(); // twice is once
    expect(budget.retryAfter("ada@acme.test")).toBe(0);
    const again = budget.reserve("ada@acme.test");
    expect(again.wait).toBe(0);
    expect(budget.retryAfter("ada@acme.test")).toBe(20);
    // Sliding: the first failure leaves the window 60 s after it was counted, the others stay (a fixed window
    // would forget them all at once, and allow twice the budget across its boundary).
    now = 1_000 + 60_000;
    expect(budget.retryAfter("ada@acme.test")).toBe(0);
    expect(budget.reserve("ada@acme.test")).toMatchObject({ wait: 0, firstRefusal: false });
    expect(budget.reserve("ada@acme.test")).toMatchObject({ wait: 20, firstRefusal: true });
    // A reservation whose failure already left the window takes nothing back from the others.
    first.giveBack();
    expect(budget.reserve("ada@acme.test").wait).toBe(20);
    again.giveBack();
    expect(budget.reserve("ada@acme.test").wait).toBe(0);
  });
});

describe("AddressBudget", () => {
  it("reserves an attempt at once, so that attempts under way count; a reservation given back is not spent", () => {
    let now = 1_000;
    const budget = new AddressBudget({ count: 2, windowMs: 60_000 }, () => now);
    const first = budget.reserve("a");
    const second = budget.reserve("a");
    expect([first, second].map((r) => r.wait)).toEqual([0, 0]);
    // Both still under way: a third is refused before anything is checked.
    expect(budget.reserve("a").wait).toBe(60);
    expect(budget.reserve("b").wait).toBe(0);
    first.giveBack();
    first.giveBack(); // twice is once
    expect(budget.retryAfter("a")).toBe(0);
    expect(budget.reserve("a").wait).toBe(0);
    expect(budget.retryAfter("a")).toBe(60);
    now += 60_000;
    expect(budget.retryAfter("a")).toBe(0);
    // A reservation of an expired window given back does not touch the new one.
    const late = budget.reserve("a");
    second.giveBack();
    expect(budget.reserve("a").wait).toBe(0);
    expect(budget.reserve("a").wait).toBeGreaterThan(0);
    late.giveBack();
    expect(budget.reserve("a").wait).toBe(0);
  });
});
