import { createInMemoryRunner } from "@annex/runner";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Host } from "../../src/index.js";
import { describeBackends, hostOn } from "../support/backends.js";
import { makeBundle, makePublisher } from "../support/fixtures.js";
import { GW_SERVER, UI_FILES, bearer, bearerPrincipal, gwManifest, problemOf, req, tenantFromHost } from "./support.js";

describeBackends("host.handle", (backend) => {
  const runner = createInMemoryRunner({ limits: { cpuMs: 200, wallMs: 1000 } });
  let host: Host;
  let bare: Host;

  beforeAll(async () => {
    const publisher = await makePublisher("acme", "community");
    const trust = { store: publisher.trustStore };
    const secrets = { keys: [{ id: "k1", key: Buffer.alloc(32, 7).toString("base64") }] };
    // A long install cache: only the host's own invalidation can make a lifecycle change visible at once.
    host = await hostOn(backend, { trust, secrets, runner, gateway: { authenticate: bearerPrincipal, resolveTenant: tenantFromHost, policy: { installCacheMs: 60_000 } } });
    bare = await hostOn(backend, { trust, secrets });
    const bytes = await makeBundle(gwManifest(), { "server/index.js": GW_SERVER, ...UI_FILES });
    await host.publish(bytes, await publisher.sign(bytes));
    await host.install("t1", "acme.gw", {
      grants: [{ name: "log" }, { name: "secrets.read", names: ["STRIPE_SECRET"] }],
      secrets: { STRIPE_SECRET: "whsec_test" },
    });
  });
  afterAll(async () => {
    await runner.close();
    await host.close();
    await bare.close();
  });

  it("serves extension routes through the gateway createHost configured", async () => {
    expect(host.gateway).not.toBeNull();
    const response = await host.handle(req("GET", "/api/ext/acme.gw/hello/ada", { headers: bearer("ada", "t1") }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ hello: "ada" });
  });

  it("applies a lifecycle call made through the host to the very next request, despite the install cache", async () => {
    const path = "/api/ext/acme.gw/hello/ada";
    expect((await host.handle(req("GET", path, { headers: bearer("ada", "t1") }))).status).toBe(200);
    await host.disable("t1", "acme.gw");
    const disabled = await host.handle(req("GET", path, { headers: bearer("ada", "t1") }));
    expect(disabled.status).toBe(404);
    await host.enable("t1", "acme.gw");
    expect((await host.handle(req("GET", path, { headers: bearer("ada", "t1") }))).status).toBe(200);
  });

  it("tells adapters which paths are its own, so the rest of the app keeps its routes", () => {
    expect(host.owns("/api/ext/acme.gw/hello/ada")).toBe(true);
    expect(host.owns("/account/settings")).toBe(false);
    expect(bare.owns("/api/ext/acme.gw/hello/ada")).toBe(false);
  });

  it("verifies annex-signed webhooks with the secret the admin set through host.webhookSecrets", async () => {
    const { signWebhook } = await import("../../src/index.js");
    const install = await host.getInstall("t1", "acme.gw");
    const secret = await host.webhookSecrets.set(install!.id, undefined, { actor: "admin@example.com" });
    const body = JSON.stringify({ event: "ping" });
    const deliver = async (key: string) =>
      host.handle(
        new Request("http://t1.tenants.test/ext/acme.gw/hooks/events", {
          method: "POST",
          headers: { "content-type": "application/json", ...signWebhook(key, body).headers },
          body,
        }),
      );
    expect((await deliver(secret)).status).toBe(200);
    expect((await deliver("not-the-secret-at-all-0123456789")).status).toBe(401);
  });

  it("answers 503 E_GATEWAY_NOT_CONFIGURED when the host has no gateway", async () => {
    expect(bare.gateway).toBeNull();
    const response = await bare.handle(req("GET", "/api/ext/acme.gw/hello/ada", { headers: bearer("ada", "t1") }));
    expect(response.status).toBe(503);
    // The same URN scheme as every other problem the host answers.
    expect(await problemOf(response)).toMatchObject({ code: "E_GATEWAY_NOT_CONFIGURED", type: "urn:annex:problem:E_GATEWAY_NOT_CONFIGURED" });
  });

  it("runs handlers in a worker pool of its own when given no runner, and closes it with itself", async () => {
    const publisher = await makePublisher("acme", "community");
    const own = await hostOn(backend, {
      trust: { store: publisher.trustStore },
      gateway: { authenticate: bearerPrincipal, resolveTenant: tenantFromHost },
    });
    const bytes = await makeBundle(gwManifest(), { "server/index.js": GW_SERVER, ...UI_FILES });
    await own.publish(bytes, await publisher.sign(bytes));
    await own.install("t1", "acme.gw", { grants: [{ name: "log" }, { name: "secrets.read", names: ["STRIPE_SECRET"] }] });
    const response = await own.handle(req("GET", "/api/ext/acme.gw/hello/pool", { headers: bearer("ada", "t1") }));
    expect(await response.json()).toEqual({ hello: "pool" });
    // The pool's watchdog is what stops a handler QuickJS's interrupt cannot: only a worker thread has one.
    expect(own.runner).not.toBe(runner);
    await own.close();
    const after = await own.runner.execute({ requestId: "after-close" } as never);
    expect(after.error?.code).toBe("E_RUNNER_UNAVAILABLE");
  });

  it("refuses a runner passed where earlier versions took it, naming the new place", async () => {
    await expect(hostOn(backend, { gateway: { runner, authenticate: bearerPrincipal } as never })).rejects.toMatchObject({
      code: "E_GATEWAY_OPTIONS",
      details: { field: "gateway.runner" },
    });
    await expect(hostOn(backend, { runner: {} as never })).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS", details: { field: "runner" } });
  });
});
