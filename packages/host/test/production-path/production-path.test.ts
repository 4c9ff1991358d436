import type { Server } from "node:http";
import type { EgressOptions } from "@annex/runner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { TENANT, notesRecorded, startPartner, viaServer, viaTestHost, type Answer, type ProductionPath } from "./world.js";

/** Each request and what every path must answer. */
const REQUESTS: Array<{ what: string; method: string; path: string; as?: string; body?: unknown; headers?: Record<string, string>; expected: Answer }> = [
  {
    what: "user.read: the signed-in user reaches the handler; config comes from the install",
    method: "GET",
    path: "/api/ext/acme.everything/whoami",
    as: "ada",
    expected: {
      status: 200,
      body: {
        principal: { tenant: TENANT, user: { id: "ada", displayName: "User ada", email: "ada@example.com" }, roles: ["member"] },
        tenant: TENANT,
        config: { greeting: "Hi", partnerUrl: expect.stringMatching(/^http:\/\/api\.partner\.test:\d+$/) },
      },
    },
  },
  {
    what: "secrets.read: the granted secret, and only it",
    method: "GET",
    path: "/api/ext/acme.everything/secret",
    as: "ada",
    expected: { status: 200, body: { own: "s3cr3t", other: { code: "E_CAPABILITY_DENIED" } } },
  },
  {
    what: "host capability: the embedding app's implementation, with the install's config",
    method: "GET",
    path: "/api/ext/acme.everything/contact/c-7",
    as: "ada",
    expected: { status: 200, body: { id: "c-7", name: "Contact c-7", tenant: TENANT, greeting: "Hi" } },
  },
  {
    what: "host capability arguments are checked on the host side",
    method: "GET",
    path: "/api/ext/acme.everything/contact-bad",
    as: "ada",
    expected: { status: 200, body: { code: "E_INVALID_ARGUMENT" } },
  },
  {
    what: "http.fetch: the granted host, through the host's egress policy",
    method: "GET",
    path: "/api/ext/acme.everything/partner",
    as: "ada",
    expected: { status: 200, body: { fetched: 200, text: `hello /hello?from=${TENANT} hi` } },
  },
  {
    what: "http.fetch: a host the install was not granted",
    method: "GET",
    path: "/api/ext/acme.everything/refused-fetch",
    as: "ada",
    expected: { status: 200, body: { code: "E_EGRESS_DENIED" } },
  },
  { what: "log", method: "POST", path: "/api/ext/acme.everything/logged", as: "ada", body: { note: "from the test" }, expected: { status: 200, body: { logged: true } } },
  {
    what: "a state-changing request from another site, with a valid session",
    method: "POST",
    path: "/api/ext/acme.everything/logged",
    as: "ada",
    body: { note: "forged" },
    headers: { origin: "https://evil.test" },
    expected: { status: 403, body: { code: "E_CROSS_SITE", status: 403 } },
  },
  {
    what: "a host page loading an extension answer as a script (HTML injection, or a page including extension code)",
    method: "GET",
    path: "/api/ext/acme.everything/whoami",
    as: "ada",
    headers: { "sec-fetch-dest": "script", "sec-fetch-site": "same-origin" },
    expected: { status: 403, body: { code: "E_HOST_PAGE_LOAD", status: 403 } },
  },
  { what: "a guest exception", method: "GET", path: "/api/ext/acme.everything/boom", as: "ada", expected: { status: 500, body: { code: "E_HANDLER_ERROR", status: 500 } } },
  { what: "api endpoints need a signed-in user", method: "GET", path: "/api/ext/acme.everything/whoami", expected: { status: 401, body: { code: "E_UNAUTHENTICATED", status: 401 } } },
  {
    what: "events.publish: an endpoint publishes an event (delivered to the subscribed handler, below)",
    method: "POST",
    path: "/api/ext/acme.everything/publish",
    as: "ada",
    body: { note: "to be filed" },
    expected: { status: 200, body: { published: true } },
  },
  { what: "storage.kv: a compare-and-set increment", method: "POST", path: "/api/ext/acme.tally/bump", as: "ada", body: {}, expected: { status: 200, body: { count: 1 } } },
  { what: "storage.kv: a second increment sees the first", method: "POST", path: "/api/ext/acme.tally/bump", as: "bob", body: {}, expected: { status: 200, body: { count: 2 } } },
  { what: "storage.kv: ifVersion 0 on an existing key is a conflict the handler catches", method: "POST", path: "/api/ext/acme.tally/stale", as: "ada", body: {}, expected: { status: 200, body: { code: "E_KV_VERSION_CONFLICT" } } },
  {
    what: "storage.sql: insert and select in the install's own schema",
    method: "POST",
    path: "/api/ext/acme.ledger/add",
    as: "ada",
    body: { id: "a", amount: 5 },
    expected: { status: 200, body: [{ id: "a", amount: 5 }] },
  },
  { what: "storage.sql: files are out of reach (the guard refuses pg_read_file)", method: "GET", path: "/api/ext/acme.ledger/peek", as: "ada", expected: { status: 200, body: { code: "E_SQL_REFUSED" } } },
  { what: "public endpoints never see a principal", method: "GET", path: "/ext/acme.everything/public/ping", expected: { status: 200, body: { pong: true, principal: null } } },
];

const keyOf = (request: (typeof REQUESTS)[number]) => `${request.method} ${request.path} ${request.as ?? "anonymous"} ${JSON.stringify(request.headers ?? {})}`;

describeBackends("one production path", (backend) => {
  let partner: { server: Server; port: number; egress: EgressOptions };
  const paths: ProductionPath[] = [];
  const answers = new Map<string, Answer[]>();

  beforeAll(async () => {
    partner = await startPartner();
    paths.push(await viaTestHost(backend, partner.port, partner.egress));
    paths.push(await viaServer(backend, partner.port, partner.egress, "express + worker pool"));
    paths.push(await viaServer(backend, partner.port, partner.egress, "node:http + remote runner"));
    for (const request of REQUESTS) {
      const key = keyOf(request);
      answers.set(key, await Promise.all(paths.map((path) => path.request(request.method, request.path, request))));
    }
  });
  afterAll(async () => {
    for (const path of paths) await path.close();
    await new Promise<void>((resolve) => partner.server.close(() => resolve()));
  });

  describe.each(REQUESTS)("$what", (request) => {
    it("answers the same, as expected, through the test host, Express + worker pool and node:http + remote runner", () => {
      const got = answers.get(keyOf(request))!;
      expect(got).toHaveLength(3);
      got.forEach((answer, i) => expect(answer, paths[i]!.name).toEqual(request.expected));
      expect(got[1]).toEqual(got[0]);
      expect(got[2]).toEqual(got[0]);
    });
  });

  it("logs each extension line and each gateway decision with the execution's identity, on every path", () => {
    for (const path of paths) {
      const logged = path.logged();
      const note = logged.find((record) => record.source === "extension" && record.msg === "note from the test");
      expect(logged.some((record) => record.source === "extension" && String(record.msg).includes("forged")), path.name).toBe(false);
      expect(note, path.name).toMatchObject({
        level: 30,
        tenant: TENANT,
        extensionId: "acme.everything",
        version: "1.0.0",
        handler: "logged",
        trigger: "endpoint",
        requestId: expect.any(String),
        installId: expect.any(String),
      });
      expect(logged.some((record) => record.source === "extension" && record.msg === "careful" && record.level === 40), path.name).toBe(true);
      const decision = logged.find((record) => record.msg === "gateway.request" && record.requestId === note!.requestId);
      expect(decision, path.name).toMatchObject({ decision: "allow", status: 200, family: "api", tenant: TENANT, handler: "logged", installId: note!.installId });
      const failure = logged.find((record) => record.source === "runner" && record.handler === "boom");
      expect(failure, path.name).toMatchObject({ level: 40, code: "E_HANDLER_ERROR", msg: expect.stringContaining("kaboom") });
      const refused = logged.find((record) => record.msg === "gateway.request" && record.code === "E_UNAUTHENTICATED");
      expect(refused, path.name).toMatchObject({ decision: "deny", status: 401 });
    }
  });

  it("counts executions, errors, CPU, memory and host calls per install in Prometheus format, on every path", async () => {
    for (const path of paths) {
      const text = await path.host.metrics!.text();
      const install = (await path.host.getInstall(TENANT, "acme.everything"))!.id;
      const labels = `tenant="${TENANT}",extension="acme.everything",install="${install}",trigger="endpoint"`;
      // Ten requests reached the sandbox (the anonymous api call was refused before it).
      expect(text, path.name).toContain(`annex_executions_total{${labels}} 10`);
      expect(text, path.name).toContain(`annex_execution_errors_total{${labels},code="E_HANDLER_ERROR"} 1`);
      expect(text, path.name).toContain(`annex_execution_duration_seconds_count{${labels}} 10`);
      expect(text, path.name).toMatch(new RegExp(`annex_execution_memory_peak_bytes_count\\{${labels.replace(/[.]/g, "\\.")}\\} 10`));
      expect(text, path.name).toContain(`annex_host_calls_total{${labels},capability="secrets.read"} 2`);
      expect(text, path.name).toContain(`annex_host_calls_total{${labels},capability="host:crm.contacts.read"} 2`);
      expect(text, path.name).toContain(`annex_gateway_requests_total{family="api",status="401",code="E_UNAUTHENTICATED"} 1`);
    }
  });

  it("delivers the event the endpoint published to the subscribed install's handler, once, on every path (the servers' relays run in the background)", async () => {
    for (const path of paths) {
      const install = (await path.host.getInstall(TENANT, "acme.everything"))!.id;
      const mine = () => notesRecorded.filter((n) => n.installId === install);
      const deadline = Date.now() + 20_000;
      while (mine().length === 0) {
        if (Date.now() > deadline) throw new Error(`${path.name}: the event was not delivered within 20 s`);
        // The test host runs no relay in the background: it delivers when asked, as its tests do.
        if (path.name.startsWith("createTestHost")) await path.host.events.drain();
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      // A second run would come now, if the delivery were not recorded done.
      if (path.name.startsWith("createTestHost")) await path.host.events.drain();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(mine(), path.name).toEqual([
        { installId: install, tenant: TENANT, deliveryId: expect.any(String), ctxEventId: mine()[0]!.deliveryId, type: "ext.acme.everything.noted", note: "to be filed" },
      ]);
      const text = await path.host.metrics!.text();
      expect(text, path.name).toContain(`annex_executions_total{tenant="${TENANT}",extension="acme.everything",install="${install}",trigger="event"} 1`);
    }
  });
});
