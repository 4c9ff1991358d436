/**
 * A NUL character in any string a request carries is the caller's 4xx, never a 500: PostgreSQL refuses NUL
 * in text, so a NUL reaching a query would be a 500 with the database's stack in the error log, on demand,
 * for anyone. Every product route refuses one with 400 before any query (the URL, the query, a form or JSON
 * body, keys included); sign-in answers it as a wrong sign-in (401), counted against the address's budget.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { Client } from "./support/http-client.js";

describe.each(backends().slice(0, 1))("NUL in request strings on $name", (backend) => {
  let host: ReferenceHost;
  const errorLines: string[] = [];
  const noop = () => {};
  const logger = { debug: noop, info: noop, warn: noop, error: (obj: unknown, msg?: string) => void errorLines.push(`${msg ?? ""} ${JSON.stringify(obj).slice(0, 300)}`) };

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()), logger, signInLimits: { failures: { count: 2, windowMs: 60_000 } } });
  }, 120_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("answers a sign-in whose email holds a NUL as a wrong sign-in (401), without an error log line", async () => {
    const anyone = new Client(host.url);
    const token = await anyone.csrfFrom("/login");
    const before = errorLines.length;
    const answer = await anyone.request("POST", "/login", { form: { _csrf: token, email: "ada\u0000@acme.test", password: "x" }, headers: { accept: "text/html" } });
    expect(answer.status).toBe(401);
    expect(errorLines.slice(before)).toEqual([]);
  });

  it("answers an admin's NUL in a token label or a dead letter id with a 4xx, without an error log line", async () => {
    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    const csrf = ((await (await ada.get("/admin/api/session")).json()) as { csrfToken: string }).csrfToken;
    const headers = { "x-csrf-token": csrf, accept: "application/json" };
    const before = errorLines.length;
    const label = await ada.request("POST", "/admin/api/tokens", { json: { label: "ci\u0000" }, headers });
    const replay = await ada.request("POST", "/admin/api/dead-letters/a%00/replay", { headers });
    for (const status of [label.status, replay.status]) expect(status >= 400 && status < 500, `status ${status}`).toBe(true);
    expect(errorLines.slice(before)).toEqual([]);
  });

  it("refuses a NUL in a path, a query, a JSON value or key and a form with 400 E_BAD_REQUEST, before any query", async () => {
    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    const csrf = ((await (await ada.get("/admin/api/session")).json()) as { csrfToken: string }).csrfToken;
    const headers = { "x-csrf-token": csrf, accept: "application/json" };
    const before = errorLines.length;
    const answers = [
      await ada.request("GET", "/admin/api/audit?actor=a%00b", { headers }),
      await ada.request("GET", "/admin/api/installs/acme.hello%00", { headers }),
      await ada.request("POST", "/admin/api/tokens", { json: { ["la\u0000bel"]: "x" }, headers }),
      await ada.request("PUT", "/admin/api/installs/acme.hello/config", { json: { config: { greeting: ["hi\u0000"] } }, headers }),
      await ada.request("POST", "/logout", { form: { _csrf: csrf, x: "\u0000" }, headers: { accept: "text/html" } }),
      await ada.request("GET", "/apps/acme.hello%00", { headers: { accept: "text/html" } }),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([400, 400, 400, 400, 400, 400]);
    expect(await answers[0]!.json()).toMatchObject({ code: "E_BAD_REQUEST" });
    // Still signed in: the refused sign-out did nothing.
    expect((await ada.get("/admin/api/session")).status).toBe(200);
    expect(errorLines.slice(before)).toEqual([]);
  });

  it("counts a sign-in whose email holds a NUL against the address's budget of wrong sign-ins", async () => {
    const anyone = new Client(host.url);
    const token = await anyone.csrfFrom("/login");
    const statuses: number[] = [];
    for (let i = 0; i < 2; i += 1) {
      statuses.push((await anyone.request("POST", "/login", { form: { _csrf: token, email: `max${i}\u0000@acme.test`, password: "x" }, headers: { accept: "text/html" } })).status);
    }
    // The first test spent one of the two (the others signed in: a right password gives its attempt back): the right password is refused too now.
    expect(statuses).toEqual([401, 429]);
    expect((await anyone.request("POST", "/login", { form: { _csrf: token, email: "max@acme.test", password: host.password }, headers: { accept: "text/html" } })).status).toBe(429);
  });
});
