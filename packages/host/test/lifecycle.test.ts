import { expect, it } from "vitest";
import { isVerifiedBundle } from "@annex/manifest";
import { ConfigError, InstallError, LifecycleError, type InstallDataHook, type InstallInfo, type InstallOptions } from "../src/index.js";
import { describeBackends } from "./support/backends.js";
import { serviceManifest, signedBundle } from "./support/fixtures.js";
import { CONFIG, FETCH_V2, FETCH_V21, LOG, tamperBlob, world } from "./support/world.js";

const T = "tenant-a";
const EXT = "acme.hello";
const BASE = { grants: [{ name: "log" as const }], config: { region: "eu" } } satisfies Partial<InstallOptions>;

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof Error)) throw new Error("expected the call to fail");
  return error;
}

describeBackends("install lifecycle", (backend) => {
  it("installs: grants checked, config defaults applied, active and resolvable, audited before and after", async () => {
    const { host, published } = await world(backend);
    const install = await host.install(T, EXT, { ...BASE, version: "1.0.0", actor: "admin@t" });
    expect(install).toMatchObject({
      tenant: T,
      extensionId: EXT,
      version: "1.0.0",
      contentHash: published["1.0.0"]!.contentHash,
      state: "active",
      grants: [{ name: "log" as const }],
      config: { greeting: "Hello", retries: 2, region: "eu" },
      lastError: null,
    });
    expect(install.config).not.toHaveProperty("endpoint");

    const resolved = await host.resolve(T, EXT);
    expect(resolved?.install.id).toBe(install.id);
    expect(resolved?.manifest.version).toBe("1.0.0");
    expect(isVerifiedBundle(resolved?.bundle)).toBe(true);

    const audit = await host.audit.list({ tenant: T });
    expect(audit.map((entry) => [entry.action, entry.decision])).toEqual([
      ["install.install", "allow"],
      ["install.complete", "allow"],
    ]);
    expect(audit[0]).toMatchObject({ actor: "admin@t", target: EXT });
    expect(audit[0]!.details).toMatchObject({ installId: install.id, version: "1.0.0", grants: ["log"] });
    await host.close();
  });

  it("installs the latest release when no version is given", async () => {
    const { host } = await world(backend);
    const install = await host.install(T, EXT, { grants: [{ name: "log" }, { name: "http.fetch", hosts: ["api.example.com", "*.example.org"] }], config: { region: "us" } });
    expect(install.version).toBe("2.1.0");
    await host.close();
  });

  it("refuses grants that do not cover the manifest, naming what is missing, and creates nothing", async () => {
    const { host } = await world(backend);
    const none = await rejection(host.install(T, EXT, { version: "1.0.0", grants: [], config: { region: "eu" } }));
    expect(none).toBeInstanceOf(InstallError);
    expect(none.code).toBe("E_GRANTS_MISSING");
    expect(none.message).toContain("log");
    expect(none.details?.["missing"]).toEqual([expect.objectContaining({ name: "log" })]);

    const narrow = await rejection(host.install(T, EXT, { version: "2.0.0", grants: [{ name: "log" }, { name: "http.fetch", hosts: [] }], config: { region: "eu" } }));
    expect(narrow.code).toBe("E_GRANTS_MISSING");
    expect(narrow.message).toContain("api.example.com");

    expect(await host.getInstall(T, EXT)).toBeNull();
    const denials = await host.audit.list({ tenant: T, decision: "deny" });
    expect(denials.map((entry) => (entry.details["error"] as { code: string }).code)).toEqual(["E_GRANTS_MISSING", "E_GRANTS_MISSING"]);
    await host.close();
  });

  it("refuses a grant that names no capability (a typo), naming the entry and the nearest capability; known capabilities beyond the requests are kept", async () => {
    const { host } = await world(backend);
    const typo = await rejection(host.install(T, EXT, { version: "1.0.0", grants: [{ name: "log" }, { name: "storge.kv" } as never], config: { region: "eu" } }));
    expect(typo).toBeInstanceOf(InstallError);
    expect(typo.code).toBe("E_INVALID_ARGUMENT");
    expect(typo.message).toMatch(/^grants\[1\]\.name: "storge\.kv" is not a capability; did you mean "storage\.kv"\? Capabilities are log, storage\.kv, /);
    expect(typo.details).toMatchObject({ field: "grants[1].name", index: 1, name: "storge.kv", suggestion: "storage.kv" });
    const host_ = await rejection(host.install(T, EXT, { version: "1.0.0", grants: [{ name: "log" }, { name: "host:CRM" } as never], config: { region: "eu" } }));
    expect(host_.message).toBe('grants[1].name: "host:CRM" is not a capability; host capabilities are named host:<namespace>.<name>, e.g. host:crm.contacts.read');
    const far = await rejection(host.install(T, EXT, { version: "1.0.0", grants: [{ name: "everything" } as never], config: { region: "eu" } }));
    expect(far.message).toMatch(/^grants\[0\]\.name: "everything" is not a capability; capabilities are log, /);
    expect(await host.getInstall(T, EXT)).toBeNull();
    // The same check for the grants of an upgrade.
    await host.install(T, EXT, { version: "1.0.0", grants: [{ name: "log" }, { name: "storage.kv" }], config: { region: "eu" } });
    expect((await host.getInstall(T, EXT))?.grants).toEqual([{ name: "log" }, { name: "storage.kv" }]);
    const upgrade = await rejection(host.upgrade(T, EXT, { version: "1.1.0", grants: [{ name: "lgo" } as never] }));
    expect(upgrade).toMatchObject({ code: "E_INVALID_ARGUMENT", details: { field: "grants[0].name", suggestion: "log" } });
    await host.close();
  });

  it("validates config against the manifest's settings and reports every problem at once", async () => {
    const { host } = await world(backend);
    const error = await rejection(
      host.install(T, EXT, {
        version: "1.0.0",
        grants: [{ name: "log" as const }],
        config: { greeting: 7, retries: 9, endpoint: "ftp://files.example.com", colour: "blue" },
      }),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe("E_CONFIG_INVALID");
    const paths = (error as ConfigError).issues.map((issue) => issue.path).sort();
    expect(paths).toEqual(["config.colour", "config.endpoint", "config.greeting", "config.region", "config.retries"]);
    expect(await host.getInstall(T, EXT)).toBeNull();

    const ok = await host.install(T, EXT, { ...BASE, version: "1.0.0", config: { region: "us", retries: 0, endpoint: "https://api.example.com/v1" } });
    expect(ok.config).toEqual({ greeting: "Hello", retries: 0, region: "us", endpoint: "https://api.example.com/v1" });
    await host.close();
  });

  it("changes settings with configure: checked against the installed version, defaults applied, audited; bad values change nothing", async () => {
    const { host } = await world(backend);
    const installed = await host.install(T, EXT, { ...BASE, version: "1.0.0", actor: "admin@t" });
    const changed = await host.configure(T, EXT, { region: "us", greeting: "Hi" }, { actor: "admin@t" });
    expect(changed.config).toEqual({ greeting: "Hi", retries: 2, region: "us" });
    expect(changed.revision).toBe(installed.revision + 1);
    expect((await host.resolve(T, EXT))?.install.config).toEqual({ greeting: "Hi", retries: 2, region: "us" });

    const invalid = await rejection(host.configure(T, EXT, { region: 42, unknown: true }, { actor: "admin@t" }));
    expect(invalid).toBeInstanceOf(ConfigError);
    expect((invalid as ConfigError).issues.map((issue) => issue.path).sort()).toEqual(["config.region", "config.unknown"]);
    expect((await host.getInstall(T, EXT))?.config).toEqual({ greeting: "Hi", retries: 2, region: "us" });
    expect((await rejection(host.configure(T, EXT, null as never))).code).toBe("E_INVALID_ARGUMENT");

    const lines = await host.audit.list({ tenant: T, action: "install.configure" });
    expect(lines.map((line) => line.decision)).toEqual(["allow", "deny", "deny"]);
    expect(lines[0]!.details).toMatchObject({ installId: installed.id, configKeys: ["greeting", "region", "retries"] });

    await host.uninstall(T, EXT);
    expect((await rejection(host.configure(T, EXT, { region: "eu" }))).code).toBe("E_INSTALL_CONFLICT");
    expect((await rejection(host.configure("tenant-b", EXT, { region: "eu" }))).code).toBe("E_INSTALL_NOT_FOUND");
    await host.close();
  });

  it("refuses a second install, unknown extensions and versions, and bad arguments with typed errors", async () => {
    const { host } = await world(backend);
    await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    expect((await rejection(host.install(T, EXT, { ...BASE, version: "1.1.0" }))).code).toBe("E_INSTALL_EXISTS");
    // Without a version, the latest (2.1.0) asks for http.fetch, which BASE does not grant: the install that stands is
    // still the answer, not grants that would only lead to it.
    const again = await rejection(host.install(T, EXT, BASE));
    expect(again.code).toBe("E_INSTALL_EXISTS");
    expect(again.message).toContain("use upgrade");
    expect((await rejection(host.install(T, "acme.nothing", BASE))).code).toBe("E_EXTENSION_NOT_FOUND");
    expect((await rejection(host.install("tenant-b", EXT, { ...BASE, version: "9.9.9" }))).code).toBe("E_VERSION_NOT_FOUND");
    for (const tenant of ["", " spaced", "a/b", "x".repeat(200), 7 as unknown as string]) {
      expect((await rejection(host.install(tenant, EXT, BASE))).code).toBe("E_INVALID_ARGUMENT");
    }
    expect((await rejection(host.install(T, "../etc", BASE))).code).toBe("E_INVALID_ARGUMENT");
    expect((await rejection(host.install("tenant-c", EXT, { grants: "log" as never }))).code).toBe("E_INVALID_ARGUMENT");
    expect((await rejection(host.install("tenant-c", EXT, { grants: [null as never] }))).code).toBe("E_INVALID_ARGUMENT");
    expect((await rejection(host.enable("tenant-c", EXT))).code).toBe("E_INSTALL_NOT_FOUND");
    await host.close();
  });

  it("enables and disables through legal transitions only; a disabled install does not resolve", async () => {
    const { host } = await world(backend);
    const installed = await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    const enableActive = await rejection(host.enable(T, EXT));
    expect(enableActive).toBeInstanceOf(LifecycleError);
    expect(enableActive.code).toBe("E_ILLEGAL_TRANSITION");
    expect(enableActive.message).toContain("active");

    const disabled = await host.disable(T, EXT, { actor: "admin" });
    expect(disabled.state).toBe("disabled");
    expect(disabled.revision).toBe(installed.revision + 1);
    expect(await host.resolve(T, EXT)).toBeNull();
    expect((await rejection(host.disable(T, EXT))).code).toBe("E_ILLEGAL_TRANSITION");

    expect((await host.enable(T, EXT)).state).toBe("active");
    expect(await host.resolve(T, EXT)).not.toBeNull();

    const stale = await rejection(host.disable(T, EXT, { ifRevision: installed.revision }));
    expect(stale.code).toBe("E_INSTALL_CONFLICT");
    expect((await host.getInstall(T, EXT))?.state).toBe("active");
    await host.close();
  });

  it("installs disabled when asked to", async () => {
    const { host } = await world(backend);
    expect((await host.install(T, EXT, { ...BASE, version: "1.0.0", enabled: false })).state).toBe("disabled");
    expect(await host.resolve(T, EXT)).toBeNull();
    await host.close();
  });

  it("upgrades without new consent when nothing widens, and keeps config", async () => {
    const { host } = await world(backend);
    await host.install(T, EXT, { ...BASE, version: "1.0.0", config: { region: "us", greeting: "Hi" } });
    const upgraded = await host.upgrade(T, EXT, { version: "1.1.0", actor: "admin" });
    expect(upgraded).toMatchObject({ version: "1.1.0", state: "active", config: { region: "us", greeting: "Hi", retries: 2 }, targetVersion: null });
    expect((await host.resolve(T, EXT))?.manifest.version).toBe("1.1.0");
    expect((await rejection(host.upgrade(T, EXT, { version: "1.1.0" }))).code).toBe("E_UPGRADE_SAME_VERSION");
    const actions = (await host.audit.list({ tenant: T, action: "install.upgrade" })).map((entry) => entry.decision);
    expect(actions).toEqual(["allow", "deny"]);
    expect(await host.audit.list({ tenant: T, action: "install.upgrade.complete" })).toHaveLength(1);
    await host.close();
  });

  it("refuses an upgrade that widens capabilities without new consent; the old version keeps serving", async () => {
    const { host } = await world(backend);
    await host.install(T, EXT, { ...BASE, version: "1.1.0" });

    const noConsent = await rejection(host.upgrade(T, EXT, { version: "2.0.0" }));
    expect(noConsent.code).toBe("E_CONSENT_REQUIRED");
    expect(noConsent.message).toContain("http.fetch");
    expect(noConsent.details?.["added"]).toEqual([expect.objectContaining({ name: "http.fetch", hosts: ["api.example.com"] })]);
    const after = await host.getInstall(T, EXT);
    expect(after).toMatchObject({ version: "1.1.0", state: "active", targetVersion: null });
    expect((await host.resolve(T, EXT))?.manifest.version).toBe("1.1.0");

    const tooNarrow = await rejection(host.upgrade(T, EXT, { version: "2.0.0", grants: [{ name: "log" as const }] }));
    expect(tooNarrow.code).toBe("E_GRANTS_MISSING");

    const consented = await host.upgrade(T, EXT, { version: "2.0.0", grants: [{ name: "log" }, { name: "http.fetch", hosts: ["api.example.com"] }] });
    expect(consented.version).toBe("2.0.0");
    expect(consented.grants).toEqual([{ name: "log" }, { name: "http.fetch", hosts: ["api.example.com"] }]);

    // 2.1 adds an egress host: the 2.0 grants no longer suffice.
    const widened = await rejection(host.upgrade(T, EXT, { version: "2.1.0" }));
    expect(widened.code).toBe("E_CONSENT_REQUIRED");
    expect(widened.details?.["widened"]).toEqual([expect.objectContaining({ name: "http.fetch" })]);
    const { reason: _r, ...grant } = FETCH_V21;
    expect((await host.upgrade(T, EXT, { version: "2.1.0", grants: [{ name: "log" }, grant as never] })).version).toBe("2.1.0");
    expect(FETCH_V2.hosts).toEqual(["api.example.com"]);
    await host.close();
  });

  it("refuses an upgrade that exposes the install to anonymous callers without new consent, though its capabilities are the same; with grants it upgrades, audited", async () => {
    const { host, acme } = await world(backend);
    await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    // 1.2.0: the same capabilities, but the member-only api endpoint becomes public (anyone, without signing in).
    const wider = serviceManifest({ version: "1.2.0", config: CONFIG, secrets: ["API_TOKEN", "WEBHOOK_SECRET"], endpoints: [{ class: "public", method: "GET", path: "/hello/:name", handler: "hello" }] });
    const { bytes, signature } = await signedBundle(acme, wider);
    await host.publish(bytes, signature, { actor: "publisher" });

    const noConsent = await rejection(host.upgrade(T, EXT, { version: "1.2.0", actor: "system:upgrade-policy" }));
    expect(noConsent.code).toBe("E_CONSENT_REQUIRED");
    expect(noConsent.message).toContain("GET /hello/:name: api → public");
    // No grant "covers" an exposure: passing grants, the current ones too, is the consent, and the message says so.
    expect(noConsent.message).toMatch(/an admin must consent: upgrade again passing grants \(the current ones will do: giving grants is consenting to the wider exposure\)$/);
    expect(noConsent.details).toMatchObject({ from: "1.0.0", to: "1.2.0", added: [], widened: [], exposed: [expect.objectContaining({ kind: "endpoint", change: "class", from: "api", to: "public", path: "/hello/:name" })] });
    expect(await host.getInstall(T, EXT)).toMatchObject({ version: "1.0.0", state: "active" });
    expect((await host.resolve(T, EXT))?.manifest.endpoints[0]?.class).toBe("api");

    const consented = await host.upgrade(T, EXT, { version: "1.2.0", grants: [{ name: "log" }], actor: "admin" });
    expect(consented.version).toBe("1.2.0");
    const [line] = await host.audit.list({ tenant: T, action: "install.upgrade", decision: "allow" });
    expect(line?.details).toMatchObject({ from: "1.0.0", to: "1.2.0", exposed: ["GET /hello/:name: api → public endpoint (anyone, without signing in)"] });
    // Back to api: narrower, no consent needed.
    expect((await host.upgrade(T, EXT, { version: "1.1.0" })).version).toBe("1.1.0");
    await host.close();
  });

  it("keeps the old version serving when an upgrade fails after it started, and records why", async () => {
    const { host, published } = await world(backend);
    await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    await tamperBlob(host, published["1.1.0"]!.contentHash);

    const error = await rejection(host.upgrade(T, EXT, { version: "1.1.0" }));
    expect(["E_BUNDLE_FORMAT", "E_BUNDLE_LIMIT"]).toContain(error.code);
    const install = await host.getInstall(T, EXT);
    expect(install).toMatchObject({ version: "1.0.0", state: "active", targetVersion: null });
    expect(install?.lastError?.code).toBe(error.code);
    expect((await host.resolve(T, EXT))?.manifest.version).toBe("1.0.0");
    const failed = await host.audit.list({ tenant: T, action: "install.upgrade.failed" });
    expect(failed).toHaveLength(1);
    expect(failed[0]!.decision).toBe("error");
    // The failure was audited once, where it happened, not again as a denial.
    expect(await host.audit.list({ tenant: T, action: "install.upgrade", decision: "deny" })).toHaveLength(0);
    await host.close();
  });

  it("refuses to install or upgrade to a version whose server code does not load, before its migrations run; the old version keeps serving", async () => {
    // createHost's own worker pool: the version's module is evaluated there before the version may serve.
    const { host, acme } = await world(backend);
    await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    const broken = {
      "1.2.0": { "server/index.js": 'throw new Error("boom at load");\nexport function hello() { return {}; }\n' },
      "1.3.0": { "server/index.js": "export function other() { return {}; }\n" },
      "1.4.0": { "server/index.js": "while (true) {}\nexport function hello() { return {}; }\n" },
    };
    for (const [version, files] of Object.entries(broken)) {
      const { bytes, signature } = await signedBundle(acme, serviceManifest({ version, config: CONFIG, secrets: ["API_TOKEN", "WEBHOOK_SECRET"] }), files);
      await host.publish(bytes, signature);
      const error = await rejection(host.upgrade(T, EXT, { version }));
      expect(["E_BUNDLE_INVALID", "E_TIMEOUT"], version).toContain(error.code);
      if (version === "1.2.0") expect(error.message).toContain("boom at load");
      if (version === "1.3.0") expect(error.message).toMatch(/hello/);
      expect(await host.getInstall(T, EXT)).toMatchObject({ version: "1.0.0", state: "active", targetVersion: null, lastError: { code: error.code } });
      expect((await host.resolve(T, EXT))?.manifest.version).toBe("1.0.0");
    }
    // A first install of such a version fails, and a later good version installs.
    const other = "tenant-b";
    const error = await rejection(host.install(other, EXT, { ...BASE, version: "1.2.0" }));
    expect(error.code).toBe("E_BUNDLE_INVALID");
    expect(await host.getInstall(other, EXT)).toMatchObject({ state: "failed", lastError: { code: "E_BUNDLE_INVALID" } });
    expect(await host.install(other, EXT, { ...BASE, version: "1.1.0" })).toMatchObject({ state: "active", version: "1.1.0" });
    // An owned schema's migrations never run for code that does not load.
    const sqlManifest = serviceManifest({
      id: "acme.brokensql",
      capabilities: [LOG, { name: "storage.sql", reason: "Keeps rows." }],
      storage: { kind: "owned-schema", migrations: "migrations" },
    });
    const sqlBundle = await signedBundle(acme, sqlManifest, {
      "server/index.js": 'throw new Error("boom at load");\nexport function hello() { return {}; }\n',
      "migrations/0001_items.sql": "CREATE TABLE items (id text PRIMARY KEY);\n",
    });
    await host.publish(sqlBundle.bytes, sqlBundle.signature);
    expect((await rejection(host.install(T, "acme.brokensql", { grants: [{ name: "log" }, { name: "storage.sql" }] }))).code).toBe("E_BUNDLE_INVALID");
    const failedSql = await host.getInstall(T, "acme.brokensql");
    expect(failedSql).toMatchObject({ state: "failed" });
    expect(await host.database.db.selectFrom("annex_sql_schemas").selectAll().where("install_id", "=", failedSql!.id).execute()).toEqual([]);
    await host.close();
  }, 30_000);

  it("upgrades a disabled install and leaves it disabled", async () => {
    const { host } = await world(backend);
    await host.install(T, EXT, { ...BASE, version: "1.0.0", enabled: false });
    expect(await host.upgrade(T, EXT, { version: "1.1.0" })).toMatchObject({ version: "1.1.0", state: "disabled" });
    await host.close();
  });

  it("lets exactly one of several concurrent upgrades from one revision win", async () => {
    const { host } = await world(backend);
    const installed = await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    const grants = [{ name: "log" }, { name: "http.fetch", hosts: ["api.example.com", "*.example.org"] }];
    const targets = ["1.1.0", "2.0.0", "2.1.0", "1.1.0", "2.0.0"];
    const results = await Promise.allSettled(
      targets.map((version) => host.upgrade(T, EXT, { version, grants: grants as never, ifRevision: installed.revision })),
    );
    const won = results.filter((result): result is PromiseFulfilledResult<InstallInfo> => result.status === "fulfilled");
    const lost = results.filter((result): result is PromiseRejectedResult => result.status === "rejected");
    expect(won).toHaveLength(1);
    for (const loss of lost) expect(["E_INSTALL_CONFLICT", "E_ILLEGAL_TRANSITION"]).toContain(loss.reason.code);

    const final = await host.getInstall(T, EXT);
    expect(final).toMatchObject({ state: "active", version: won[0]!.value.version, targetVersion: null });
    expect(await host.audit.list({ tenant: T, action: "install.upgrade.complete" })).toHaveLength(1);
    await host.close();
  });

  it("never lets two concurrent upgrades both move the install, even without ifRevision", async () => {
    const { host } = await world(backend);
    await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    const grants = [{ name: "log" }, { name: "http.fetch", hosts: ["api.example.com", "*.example.org"] }];
    const results = await Promise.allSettled(["2.0.0", "2.1.0"].map((version) => host.upgrade(T, EXT, { version, grants: grants as never })));
    const won = results.filter((result): result is PromiseFulfilledResult<InstallInfo> => result.status === "fulfilled");
    for (const result of results) {
      if (result.status === "rejected") expect(result.reason.code).toBe("E_ILLEGAL_TRANSITION");
    }
    const final = (await host.getInstall(T, EXT))!;
    // Whatever the interleaving: the install is settled, on the version of the last winner, and every win is audited once.
    expect(final.state).toBe("active");
    expect(won.map((w) => w.value.version)).toContain(final.version);
    expect(await host.audit.list({ tenant: T, action: "install.upgrade.complete" })).toHaveLength(won.length);
    await host.close();
  });

  it("serialises a storm of concurrent lifecycle calls: every success is one revision, states stay legal", async () => {
    const { host } = await world(backend);
    const installed = await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    const calls = Array.from({ length: 12 }, (_, index) => (index % 2 === 0 ? host.disable(T, EXT) : host.enable(T, EXT)));
    const results = await Promise.allSettled(calls);
    const successes = results.filter((result) => result.status === "fulfilled").length;
    for (const result of results) {
      if (result.status === "rejected") expect(result.reason.code).toBe("E_ILLEGAL_TRANSITION");
    }
    const final = (await host.getInstall(T, EXT))!;
    expect(final.revision).toBe(installed.revision + successes);
    expect(["active", "disabled"]).toContain(final.state);
    expect(await host.audit.list({ tenant: T, action: "install.", decision: "allow", limit: 1000 })).toHaveLength(2 + successes);
    await host.close();
  });

  it("lets exactly one of several concurrent first installs win", async () => {
    const { host } = await world(backend);
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => host.install(T, EXT, { ...BASE, version: "1.0.0" })));
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
    for (const result of results) {
      if (result.status === "rejected") expect(["E_INSTALL_EXISTS", "E_INSTALL_CONFLICT", "E_ILLEGAL_TRANSITION"]).toContain(result.reason.code);
    }
    expect((await host.listInstalls(T)).map((install) => install.state)).toEqual(["active"]);
    await host.close();
  });

  it("marks an install failed when its stored bundle no longer verifies, and lets a retry succeed", async () => {
    const { host, published, acme } = await world(backend);
    await tamperBlob(host, published["1.0.0"]!.contentHash);
    const error = await rejection(host.install(T, EXT, { ...BASE, version: "1.0.0" }));
    expect(["E_BUNDLE_FORMAT", "E_BUNDLE_LIMIT"]).toContain(error.code);
    const failed = await host.getInstall(T, EXT);
    expect(failed).toMatchObject({ state: "failed", lastError: { code: error.code } });
    expect(await host.resolve(T, EXT)).toBeNull();
    expect((await rejection(host.enable(T, EXT))).code).toBe("E_ILLEGAL_TRANSITION");

    // Publishing the same bundle again restores the blob; the retry goes through.
    await host.database.db.deleteFrom("annex_blobs").where("hash", "=", published["1.0.0"]!.contentHash).execute();
    const { signedBundle } = await import("./support/fixtures.js");
    const { VERSIONS } = await import("./support/world.js");
    const again = await signedBundle(acme, VERSIONS["1.0.0"]!);
    expect((await host.publish(again.bytes, again.signature)).created).toBe(false);
    const retried = await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    expect(retried).toMatchObject({ state: "active", lastError: null, id: failed!.id });
    await host.close();
  });

  it("recovers an install or an upgrade cut off by a crash; the old version serves meanwhile", async () => {
    const { host } = await world(backend);
    const installed = await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    // What a process that died right after starting an upgrade leaves behind.
    await host.database.db
      .updateTable("annex_installs")
      .set({ state: "upgrading", resume_state: "active", target_version: "1.1.0", revision: installed.revision + 1 })
      .where("id", "=", installed.id)
      .execute();
    expect((await host.resolve(T, EXT))?.manifest.version).toBe("1.0.0");
    expect((await rejection(host.upgrade(T, EXT, { version: "1.1.0" }))).code).toBe("E_ILLEGAL_TRANSITION");

    const recovered = await host.recover(T, EXT, { actor: "ops" });
    expect(recovered).toMatchObject({ state: "active", version: "1.0.0", targetVersion: null, lastError: { code: "E_INTERRUPTED" } });
    expect((await host.upgrade(T, EXT, { version: "1.1.0" })).version).toBe("1.1.0");
    expect((await rejection(host.recover(T, EXT))).code).toBe("E_INSTALL_CONFLICT");

    const other = await host.install("tenant-z", EXT, { ...BASE, version: "1.0.0" });
    await host.database.db.updateTable("annex_installs").set({ state: "installing" }).where("id", "=", other.id).execute();
    expect(await host.resolve("tenant-z", EXT)).toBeNull();
    expect(await host.recover("tenant-z", EXT)).toMatchObject({ state: "failed", lastError: { code: "E_INTERRUPTED" } });
    expect((await host.install("tenant-z", EXT, { ...BASE, version: "1.0.0" })).state).toBe("active");
    const recoveries = await host.audit.list({ action: "install.recover" });
    expect(recoveries.map((entry) => entry.decision)).toEqual(["allow", "deny", "allow"]);
    await host.close();
  });

  it("refuses enable and disable while another call is installing or upgrading: only that call moves the install on", async () => {
    // A red team enabled an install whose migration then failed: it stayed active, serving an unmigrated schema.
    let release: (fail: boolean) => void = () => {};
    let entered: () => void = () => {};
    const hook: InstallDataHook = {
      name: "slow",
      async export() {
        return null;
      },
      async purge() {},
      prepare: () =>
        new Promise<void>((resolve, reject) => {
          release = (fail) => (fail ? reject(new Error("migration 0001 failed")) : resolve());
          entered();
        }),
    };
    const { host } = await world(backend, { dataHooks: [hook] });
    const inPrepare = () => new Promise<void>((resolve) => (entered = resolve));

    let preparing = inPrepare();
    const installing = host.install(T, EXT, { ...BASE, version: "1.0.0" }).then(
      () => "installed",
      (error: { message: string }) => error.message,
    );
    await preparing;
    for (const call of [() => host.enable(T, EXT), () => host.disable(T, EXT)]) {
      const error = await rejection(call());
      expect(error.code).toBe("E_ILLEGAL_TRANSITION");
      expect(error.message).toMatch(/installing.*another lifecycle call is in progress/);
      // A call whose process died never finishes: the message says how to move the install on.
      expect(error.message).toContain(`if the process that made that call died (a crash, a kill, a deploy), it never will: host.recover(${JSON.stringify(T)}, ${JSON.stringify(EXT)}) moves the install on`);
    }
    release(true);
    expect(await installing).toMatch(/migration 0001 failed/);
    expect(await host.getInstall(T, EXT)).toMatchObject({ state: "failed", lastError: { message: expect.stringMatching(/migration 0001 failed/) } });
    expect(await host.resolve(T, EXT)).toBeNull();

    preparing = inPrepare();
    const reinstalling = host.install(T, EXT, { ...BASE, version: "1.0.0" });
    await preparing;
    release(false);
    expect((await reinstalling).state).toBe("active");

    preparing = inPrepare();
    const upgrading = host.upgrade(T, EXT, { version: "1.1.0" });
    await preparing;
    expect((await rejection(host.disable(T, EXT))).code).toBe("E_ILLEGAL_TRANSITION");
    release(false);
    expect(await upgrading).toMatchObject({ state: "active", version: "1.1.0", targetVersion: null });
    await host.close();
  });

  it("uninstalls keeping data for a reinstall, or purging it after returning an export", async () => {
    const exported: string[] = [];
    const purged: string[] = [];
    const hook: InstallDataHook = {
      name: "notes",
      async export(_db, install) {
        exported.push(install.id);
        return { notes: [`note of ${install.tenant}`] };
      },
      async purge(_trx, install) {
        purged.push(install.id);
      },
    };
    const { host } = await world(backend, { dataHooks: [hook] });
    const installed = await host.install(T, EXT, { ...BASE, version: "1.0.0", config: { region: "us", greeting: "Yo" }, secrets: { API_TOKEN: "tok" } });

    const kept = await host.uninstall(T, EXT, { actor: "admin" });
    expect(kept).toMatchObject({ purged: false, install: { state: "uninstalled" } });
    expect(kept.export).toBeUndefined();
    expect(await host.resolve(T, EXT)).toBeNull();
    expect((await rejection(host.uninstall(T, EXT))).code).toBe("E_ILLEGAL_TRANSITION");
    expect(await host.listSecretNames(T, EXT)).toEqual(["API_TOKEN"]);

    // Reinstall without config: the kept config comes back, and so do the secrets.
    const back = await host.install(T, EXT, { grants: [{ name: "log" as const }], version: "1.1.0" });
    expect(back).toMatchObject({ id: installed.id, state: "active", version: "1.1.0", config: { region: "us", greeting: "Yo" } });
    expect(await host.revealSecret(T, EXT, "API_TOKEN")).toBe("tok");

    const exportBefore = await host.exportData(T, EXT, { actor: "admin" });
    expect(exportBefore).toMatchObject({ config: { region: "us", greeting: "Yo", retries: 2 }, secretNames: ["API_TOKEN"], data: { notes: { notes: [`note of ${T}`] } } });
    expect(JSON.stringify(exportBefore)).not.toContain("tok\"");

    const gone = await host.uninstall(T, EXT, { purge: true });
    expect(gone.purged).toBe(true);
    expect(gone.export).toMatchObject({ config: { region: "us" }, secretNames: ["API_TOKEN"], data: { notes: { notes: [`note of ${T}`] } } });
    expect(purged).toEqual([installed.id]);
    expect(await host.getInstall(T, EXT)).toBeNull();
    expect(await host.database.db.selectFrom("annex_install_secrets").selectAll().execute()).toEqual([]);
    expect((await rejection(host.exportData(T, EXT))).code).toBe("E_INSTALL_NOT_FOUND");

    // A fresh install after purge starts clean, under a new id.
    const fresh = await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    expect(fresh.id).not.toBe(installed.id);
    expect(fresh.config).toEqual({ greeting: "Hello", retries: 2, region: "eu" });
    expect(await host.listSecretNames(T, EXT)).toEqual([]);
    await host.close();
  });

  it("purges an already uninstalled install", async () => {
    const { host } = await world(backend);
    await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    await host.uninstall(T, EXT);
    const result = await host.uninstall(T, EXT, { purge: true });
    expect(result.purged).toBe(true);
    expect(await host.getInstall(T, EXT)).toBeNull();
    expect(await host.audit.list({ tenant: T, action: "install.purge" })).toHaveLength(1);
    await host.close();
  });

  it("isolates tenants: one tenant's calls never see or change another's install", async () => {
    const { host } = await world(backend);
    const a = await host.install("tenant-a", EXT, { ...BASE, version: "1.0.0", config: { region: "eu", greeting: "A" }, secrets: { API_TOKEN: "token-of-a" } });
    const b = await host.install("tenant-b", EXT, { ...BASE, version: "1.1.0", config: { region: "us", greeting: "B" }, secrets: { API_TOKEN: "token-of-b" } });
    expect(a.id).not.toBe(b.id);

    await host.disable("tenant-a", EXT);
    await host.upgrade("tenant-a", EXT, { version: "1.1.0" });
    expect(await host.getInstall("tenant-b", EXT)).toMatchObject({ state: "active", version: "1.1.0", revision: b.revision, config: { greeting: "B" } });
    expect((await host.resolve("tenant-b", EXT))?.install.config).toMatchObject({ greeting: "B" });
    expect(await host.resolve("tenant-a", EXT)).toBeNull();

    expect((await host.listInstalls("tenant-a")).map((install) => install.id)).toEqual([a.id]);
    expect(await host.revealSecret("tenant-a", EXT, "API_TOKEN")).toBe("token-of-a");
    expect(await host.revealSecret("tenant-b", EXT, "API_TOKEN")).toBe("token-of-b");
    expect(JSON.stringify(await host.exportData("tenant-a", EXT))).not.toContain(b.id);

    await host.uninstall("tenant-a", EXT, { purge: true });
    expect(await host.getInstall("tenant-b", EXT)).toMatchObject({ id: b.id, state: "active" });
    expect(await host.revealSecret("tenant-b", EXT, "API_TOKEN")).toBe("token-of-b");
    expect((await host.audit.list({ tenant: "tenant-a", limit: 1000 })).every((entry) => entry.tenant === "tenant-a")).toBe(true);
    expect(JSON.stringify(await host.audit.list({ tenant: "tenant-a", limit: 1000 }))).not.toContain(b.id);
    expect((await rejection(host.enable("tenant-c", EXT))).code).toBe("E_INSTALL_NOT_FOUND");
    await host.close();
  });

  it("resolves nothing for names that cannot be installs", async () => {
    const { host } = await world(backend);
    await host.install(T, EXT, { ...BASE, version: "1.0.0" });
    for (const [tenant, id] of [["tenant-a'--", EXT], [T, "ACME.HELLO"], [T, "acme.hello/../x"], ["", EXT]] as const) {
      expect(await host.resolve(tenant, id)).toBeNull();
    }
    await host.close();
  });
});
