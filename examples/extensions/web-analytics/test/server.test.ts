/**
 * The whole extension on the test host: its migrations make the owned schema,
 * the snippet and collect are public endpoints, the rollup job runs through
 * the same path as the scheduler's runs (t.jobs.run), and stats answers
 * the tenant's admins only.
 */
import { readFileSync } from "node:fs";
import type { InstallInfo } from "@annex/host";
import { createTestHost, type TestHost } from "@annex/host/testing";
import { parseManifest } from "@annex/manifest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as server from "../src/server.js";

const BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
const admin = { user: { id: "admin" }, roles: ["admin"] };
let t: TestHost;
let install: InstallInfo;

beforeAll(async () => {
  t = await createTestHost();
  install = await t.install(new URL("..", import.meta.url));
}, 120_000);

afterAll(async () => {
  await t?.close();
});

beforeEach(async () => {
  await t.sql(install.id).query("DELETE FROM page_views");
  await t.sql(install.id).query("DELETE FROM hourly_counts");
  await t.sql(install.id).query("DELETE FROM hourly_totals");
});

function collect(body: unknown, headers: Record<string, string> = { "user-agent": BROWSER, "content-type": "text/plain;charset=UTF-8" }) {
  return t.request("POST", "/ext/acme.web-analytics/public/collect", { body: typeof body === "string" ? body : JSON.stringify(body), headers });
}

async function stats(query = ""): Promise<{ from: string; hours: Array<{ hour: string; views: number; sessions: number }>; topPages: Array<{ path: string; views: number }>; totals: { views: number; sessions: number } }> {
  const response = await t.request("GET", `/api/ext/acme.web-analytics/stats${query}`, { as: admin });
  if (response.status !== 200) throw new Error(`stats answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as never;
}

/** A page view `hoursAgo` hours before now, written straight into the raw table (as a view from then would be). */
async function viewAt(hoursAgo: number, path: string, session: string): Promise<void> {
  await t.sql(install.id).query("INSERT INTO page_views (at, path, session) VALUES (now() - make_interval(hours => $1::int), $2, $3)", [hoursAgo, path, session]);
}

const S1 = "0123456789abcdef0123";
const S2 = "fedcba98765432100123";

describe("GET /snippet.js", () => {
  it("serves the script to anyone, as JavaScript, cacheable", async () => {
    const response = await t.request("GET", "/ext/acme.web-analytics/public/snippet.js");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(response.headers.get("cache-control")).toContain("max-age=3600");
    expect(await response.text()).toContain("sendBeacon");
  });
});

describe("POST /collect", () => {
  it("stores a page view sent as sendBeacon sends it (text/plain JSON)", async () => {
    const response = await collect({ path: "/pricing", referrer: "News.Example.com", session: S1 });
    expect(response.status).toBe(204);
    const { rows } = await t.sql(install.id).query("SELECT path, referrer, session FROM page_views");
    expect(rows).toEqual([{ path: "/pricing", referrer: "news.example.com", session: S1 }]);
  });

  it("accepts application/json too", async () => {
    const response = await t.request("POST", "/ext/acme.web-analytics/public/collect", { body: { path: "/", referrer: null, session: S1 }, headers: { "user-agent": BROWSER } });
    expect(response.status).toBe(204);
    expect((await t.sql(install.id).query("SELECT count(*)::int AS n FROM page_views")).rows).toEqual([{ n: 1 }]);
  });

  it("counts crawlers and agent-less requests out, silently", async () => {
    expect((await collect({ path: "/", session: S1 }, { "user-agent": "Googlebot/2.1 (+http://www.google.com/bot.html)" })).status).toBe(204);
    expect((await collect({ path: "/", session: S1 }, {})).status).toBe(204);
    expect((await t.sql(install.id).query("SELECT count(*)::int AS n FROM page_views")).rows).toEqual([{ n: 0 }]);
  });

  it.each([
    ["not json", "body"],
    [[], "body"],
    [{ path: "pricing", session: S1 }, "path"],
    [{ path: "/a?token=secret", session: S1 }, "path"],
    [{ path: "/a#x", session: S1 }, "path"],
    [{ path: "/a\u0000b", session: S1 }, "path"],
    [{ path: `/${"x".repeat(300)}`, session: S1 }, "path"],
    [{ path: "/", referrer: "https://evil.example/path", session: S1 }, "referrer"],
    [{ path: "/", referrer: 42, session: S1 }, "referrer"],
    [{ path: "/", session: "short" }, "session"],
    [{ path: "/", session: "'; DROP TABLE page_views; --0000" }, "session"],
  ])("refuses %j with 400 naming %s, storing nothing", async (body, field) => {
    const response = await collect(body);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string; field: string } }).error).toMatchObject({ code: "E_PAGE_VIEW", field });
    expect((await t.sql(install.id).query("SELECT count(*)::int AS n FROM page_views")).rows).toEqual([{ n: 0 }]);
  });

  it("refuses a body over the manifest's 4 KiB with 413", async () => {
    const response = await collect({ path: "/", session: S1, padding: "x".repeat(5000) });
    expect(response.status).toBe(413);
  });
});

describe("GET /stats", () => {
  it("answers signed-in users only", async () => {
    expect((await t.request("GET", "/api/ext/acme.web-analytics/stats")).status).toBe(401);
  });

  it("refuses a signed-in user who is not an admin with 403 E_FORBIDDEN: the data is the admin page's", async () => {
    for (const as of [{ user: { id: "max" }, roles: ["member"] }, { user: { id: "nobody" } }]) {
      const response = await t.request("GET", "/api/ext/acme.web-analytics/stats", { as });
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ error: { code: "E_FORBIDDEN" } });
    }
  });

  it("counts the views not yet rolled up, per hour, with sessions and top pages", async () => {
    await collect({ path: "/a", session: S1 });
    await collect({ path: "/a", session: S2 });
    await collect({ path: "/b", session: S1 });
    const body = await stats();
    expect(body.totals).toEqual({ views: 3, sessions: 2 });
    expect(body.hours).toHaveLength(1);
    expect(body.hours[0]!.hour).toMatch(/^\d{4}-\d\d-\d\dT\d\d:00:00Z$/);
    expect(body.topPages).toEqual([
      { path: "/a", views: 2 },
      { path: "/b", views: 1 },
    ]);
  });

  it.each(["hours=0", "hours=2161", "hours=1.5", "top=0", "top=101"])("refuses %s with 400", async (query) => {
    const response = await t.request("GET", `/api/ext/acme.web-analytics/stats?${query}`, { as: admin });
    expect(response.status).toBe(400);
  });
});

describe("the rollup job", () => {
  it("moves finished hours into hourly counts and leaves the current hour; stats read the same before and after", async () => {
    await viewAt(3, "/a", S1);
    await viewAt(3, "/a", S1);
    await viewAt(3, "/a", S2);
    await viewAt(3, "/c", S1);
    await viewAt(2, "/b", S1);
    await collect({ path: "/now", session: S1 });
    const before = await stats();

    const result = await t.jobs.run(install.id, "rollup");
    expect(result.outcome).toBe("ok");
    expect(result.output).toEqual({ moved: 5, expired: 0 });

    const counts = await t.sql(install.id).query("SELECT path, views, sessions FROM hourly_counts ORDER BY hour, path");
    expect(counts.rows).toEqual([
      { path: "/a", views: 3, sessions: 2 },
      { path: "/c", views: 1, sessions: 1 },
      { path: "/b", views: 1, sessions: 1 },
    ]);
    // Sessions of an hour are distinct across its paths: S1 read /a and /c, and counts once.
    expect((await t.sql(install.id).query("SELECT views, sessions FROM hourly_totals ORDER BY hour")).rows).toEqual([
      { views: 4, sessions: 2 },
      { views: 1, sessions: 1 },
    ]);
    expect((await t.sql(install.id).query("SELECT path FROM page_views")).rows).toEqual([{ path: "/now" }]);
    expect(await stats()).toEqual(before);
    expect(before.totals).toEqual({ views: 6, sessions: 4 });
    expect(t.logs.map((line) => line.message)).toContain("rollup moved 5 page views; 0 expired hourly counts deleted");
  });

  it("adds a late view of an hour already rolled up to its row", async () => {
    await viewAt(2, "/a", S1);
    await t.jobs.run(install.id, "rollup");
    await viewAt(2, "/a", S2);
    await t.jobs.run(install.id, "rollup");
    expect((await t.sql(install.id).query("SELECT views, sessions FROM hourly_counts")).rows).toEqual([{ views: 2, sessions: 2 }]);
    expect((await t.sql(install.id).query("SELECT views, sessions FROM hourly_totals")).rows).toEqual([{ views: 2, sessions: 2 }]);
  });

  it("deletes hourly counts older than keepDays (90 by default)", async () => {
    await viewAt(24 * 91, "/old", S1);
    await viewAt(24 * 89, "/kept", S1);
    await t.jobs.run(install.id, "rollup");
    expect((await t.sql(install.id).query("SELECT path FROM hourly_counts")).rows).toEqual([{ path: "/kept" }]);
    expect((await t.sql(install.id).query("SELECT count(*)::int AS n FROM hourly_totals")).rows).toEqual([{ n: 1 }]);
  });
});

describe("annex.json", () => {
  const manifest = parseManifest(JSON.parse(readFileSync(new URL("../annex.json", import.meta.url), "utf8")));

  it("names only handlers that src/server.ts exports", () => {
    const exported = server as Record<string, unknown>;
    for (const handler of [...manifest.endpoints.map((e) => e.handler), ...manifest.jobs.map((j) => j.handler)]) {
      expect(typeof exported[handler], `handler ${handler}`).toBe("function");
    }
  });

  it("points every UI page at a file that exists", () => {
    for (const page of manifest.ui?.pages ?? []) {
      expect(() => readFileSync(new URL(`../${page.entry}`, import.meta.url)), page.entry).not.toThrow();
    }
  });
});
