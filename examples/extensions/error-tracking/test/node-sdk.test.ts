/**
 * The real @sentry/node, unchanged, pointed at the extension's DSN: createTestHost
 * installs the extension (its migrations make the owned schema), a node:http
 * server in front of it forwards to the gateway, and the SDK sends its
 * envelopes there as it would to sentry.io.
 */
import { gzipSync } from "node:zlib";
import { createTestHost, type TestHost } from "@annex/host/testing";
import type { InstallInfo } from "@annex/host";
import * as Sentry from "@sentry/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { forwardTo, type ForwardServer } from "./support/forward.js";

const KEY = "0123456789abcdef0123456789abcdef";
let t: TestHost;
let install: InstallInfo;
let server: ForwardServer;
let base: string;

beforeAll(async () => {
  t = await createTestHost();
  install = await t.install(new URL("..", import.meta.url), { config: { publicKey: KEY, keepEventsPerIssue: 3 } });
  server = await forwardTo(t);
  base = server.base;
  // The DSN an admin copies from the install: https://<publicKey>@<host>/ext/acme.error-tracking/public/<project>.
  Sentry.init({ dsn: `http://${KEY}@${base.slice("http://".length)}/ext/acme.error-tracking/public/42`, release: "shop@1.2.3", environment: "test", defaultIntegrations: false });
}, 120_000);

afterAll(async () => {
  await Sentry.close(2_000);
  await server?.close();
  await t?.close();
});

const admin = { user: { id: "admin" }, roles: ["admin"] };

async function issues(query = ""): Promise<Array<Record<string, unknown>>> {
  const response = await t.request("GET", `/api/ext/acme.error-tracking/issues${query}`, { as: admin });
  expect(response.status).toBe(200);
  return ((await response.json()) as { issues: Array<Record<string, unknown>> }).issues;
}

function checkout(cart: { items: unknown[] } | undefined): number {
  return cart!.items.length;
}

describe("@sentry/node sending to the DSN", () => {
  it("stores a thrown error as an issue, the same error thrown again as a second event of it", async () => {
    for (let i = 0; i < 2; i++) {
      try {
        checkout(undefined);
      } catch (error) {
        Sentry.captureException(error);
      }
    }
    expect(await Sentry.flush(30_000)).toBe(true);
    const [issue, ...others] = await issues();
    expect(others).toEqual([]);
    expect(issue).toMatchObject({ project: "42", level: "error", status: "unresolved", event_count: 2, platform: "node" });
    expect(issue!.title).toMatch(/^TypeError: Cannot read properties of undefined/);
    expect(issue!.culprit).toMatch(/^checkout in /);

    const detail = (await (await t.request("GET", `/api/ext/acme.error-tracking/issues/${String(issue!.id)}`, { as: admin })).json()) as {
      events: Array<{ release: string; environment: string; sdk: string; exception: { frames: Array<{ function: string }> } }>;
    };
    expect(detail.events).toHaveLength(2);
    expect(detail.events[0]).toMatchObject({ release: "shop@1.2.3", environment: "test", sdk: "sentry.javascript.node/11.12.0" });
    expect(detail.events[0]!.exception.frames.at(-1)!.function).toBe("checkout");
    expect(t.logs.map((line) => line.message)).toContainEqual(expect.stringMatching(/^new issue \d+ in project 42: TypeError/));
  });

  it("groups messages whose numbers differ into one issue, and a different error into another", async () => {
    Sentry.captureMessage("Payment provider slow: 2300 ms", "warning");
    Sentry.captureMessage("Payment provider slow: 1870 ms", "warning");
    Sentry.captureException(new RangeError("quantity out of range"));
    expect(await Sentry.flush(30_000)).toBe(true);
    const all = await issues();
    expect(all.map((issue) => [issue.title, issue.event_count])).toEqual(
      expect.arrayContaining([
        ["Payment provider slow: 2300 ms", 2],
        ["RangeError: quantity out of range", 1],
      ]),
    );
    expect(all).toHaveLength(3);
  });

  it("honours an SDK fingerprint: errors the default would split become one issue", async () => {
    Sentry.withScope((scope) => {
      scope.setFingerprint(["database-unavailable"]);
      Sentry.captureException(new Error("connect ECONNREFUSED 10.0.0.1:5432"));
    });
    Sentry.withScope((scope) => {
      scope.setFingerprint(["database-unavailable"]);
      Sentry.captureException(new TypeError("pool is closed"));
    });
    expect(await Sentry.flush(30_000)).toBe(true);
    // Named after its first event, counting both.
    const grouped = (await issues()).filter((issue) => issue.title === "Error: connect ECONNREFUSED 10.0.0.1:5432");
    expect(grouped.map((issue) => issue.event_count)).toEqual([2]);
    expect((await issues()).filter((issue) => String(issue.title).includes("pool is closed"))).toEqual([]);
  });

  it("receives a large event gzip-compressed by the SDK, and keeps only the latest events of an issue", async () => {
    for (let i = 0; i < 5; i++) {
      Sentry.withScope((scope) => {
        // Over the SDK's 32 KiB threshold: it sends this envelope with Content-Encoding: gzip.
        scope.setContext("cart", { dump: "x".repeat(40_000) });
        scope.setTag("attempt", i);
        Sentry.captureException(new SyntaxError("Unexpected token < in JSON"));
      });
    }
    expect(await Sentry.flush(30_000)).toBe(true);
    const issue = (await issues()).find((candidate) => candidate.title === "SyntaxError: Unexpected token < in JSON");
    expect(issue).toMatchObject({ event_count: 5 });
    const { rows } = await t.sql(install.id).query("SELECT tags FROM events WHERE issue_id = $1 ORDER BY occurred_at", [issue!.id as number]);
    // keepEventsPerIssue is 3: the two oldest are gone. Sorted: events captured in one millisecond tie on occurred_at.
    expect(rows.map((row) => (row.tags as Record<string, string>).attempt).sort()).toEqual(["2", "3", "4"]);
  });

  it("answers its api endpoints to the tenant's admins only (403 E_FORBIDDEN): the issues are the admin page's", async () => {
    const [issue] = await issues();
    const member = { user: { id: "max" }, roles: ["member"] };
    const calls = [
      t.request("GET", "/api/ext/acme.error-tracking/issues", { as: member }),
      t.request("GET", `/api/ext/acme.error-tracking/issues/${String(issue!.id)}`, { as: member }),
      t.request("PUT", `/api/ext/acme.error-tracking/issues/${String(issue!.id)}/status`, { as: member, body: { status: "ignored" } }),
    ];
    for (const response of await Promise.all(calls)) {
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ error: { code: "E_FORBIDDEN" } });
    }
    expect((await issues()).find((candidate) => candidate.id === issue!.id)).toMatchObject({ status: issue!.status });
  });

  it("reopens a resolved issue when it happens again", async () => {
    const [issue] = await issues("?status=unresolved&project=42");
    const changed = await t.request("PUT", `/api/ext/acme.error-tracking/issues/${String(issue!.id)}/status`, { as: admin, body: { status: "resolved" } });
    expect(changed.status).toBe(200);
    expect((await issues("?status=resolved")).map((resolved) => resolved.id)).toEqual([issue!.id]);
    // Replay the issue's newest event content as a new event: the same fingerprint.
    const { rows } = await t.sql(install.id).query("SELECT message, exception, level FROM events WHERE issue_id = $1 LIMIT 1", [issue!.id as number]);
    const exception = rows[0]!.exception as { type: string; value: string; frames: Array<Record<string, unknown>> } | null;
    const event = {
      event_id: "f".repeat(32),
      level: rows[0]!.level,
      message: rows[0]!.message,
      exception: exception === null ? undefined : { values: [{ type: exception.type, value: exception.value, stacktrace: { frames: exception.frames.map((f) => ({ ...f, in_app: f.inApp })) } }] },
    };
    const body = `{}\n{"type":"event"}\n${JSON.stringify(event)}\n`;
    expect((await fetch(`${base}/ext/acme.error-tracking/public/api/42/envelope/?sentry_key=${KEY}`, { method: "POST", body })).status).toBe(200);
    expect((await issues("?status=resolved")).map((resolved) => resolved.id)).toEqual([]);
    expect(t.logs.map((line) => line.message)).toContain(`issue ${String(issue!.id)} in project 42 regressed`);
  });
});

describe("the envelope endpoint refuses what the SDK would not send", () => {
  const url = (key: string, project = "42") => `${base}/ext/acme.error-tracking/public/api/${project}/envelope/?sentry_key=${key}&sentry_version=7`;
  const envelope = (id: string) => `{"event_id":"${id}"}\n{"type":"event"}\n{"event_id":"${id}","message":"hello"}\n`;

  it("answers 401 for a wrong or missing key and stores nothing", async () => {
    const before = (await issues()).length;
    const wrong = await fetch(url("f".repeat(32)), { method: "POST", body: envelope("a".repeat(32)) });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ code: "E_AUTH" });
    expect((await fetch(`${base}/ext/acme.error-tracking/public/api/42/envelope/`, { method: "POST", body: envelope("b".repeat(32)) })).status).toBe(401);
    expect((await issues()).length).toBe(before);
  });

  it("answers 404 for a project that is not digits, 400 for a body that is not an envelope", async () => {
    expect((await fetch(url(KEY, "shop"), { method: "POST", body: envelope("c".repeat(32)) })).status).toBe(404);
    const junk = await fetch(url(KEY), { method: "POST", body: "not an envelope" });
    expect(junk.status).toBe(400);
    expect(await junk.json()).toMatchObject({ code: "E_ENVELOPE" });
  });

  it("inflates at most 512 KiB of a gzip body: a small bomb costs its sender a 413", async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from(envelope("d".repeat(32))), Buffer.alloc(8 * 1024 * 1024, 0x20)]));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const response = await fetch(url(KEY), { method: "POST", body: bomb });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: "E_ENVELOPE_TOO_LARGE" });
  });

  it("stores an event sent twice (an SDK retry) once", async () => {
    const id = "e".repeat(32);
    for (let i = 0; i < 2; i++) expect((await fetch(url(KEY), { method: "POST", body: envelope(id) })).status).toBe(200);
    const { rows } = await t.sql(install.id).query("SELECT count(*)::int AS n FROM events WHERE event_id = $1", [id]);
    expect(rows[0]!.n).toBe(1);
    const issue = (await issues()).find((candidate) => candidate.title === "hello");
    expect(issue).toMatchObject({ event_count: 1 });
  });
});
