import { createInMemoryRunner } from "@annex/runner";
import { describe, expect, it } from "vitest";
import {
  createHost,
  EventsError,
  GatewayError,
  generateSecretsKey,
  HostCapabilityError,
  HostOptionsError,
  JobsError,
  KvError,
  SecretsError,
  SqlStorageError,
  type BlobStore,
  type HostOptions,
} from "../src/index.js";
import { editDistance } from "../src/host-options.js";
import { describePostgres } from "./support/backends.js";

/** What createHost refused with; every case here is refused before anything is opened. */
async function refusal(options: unknown): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  const outcome = await createHost(options as HostOptions).then(
    async (host) => {
      await host.close();
      return undefined;
    },
    (error: unknown) => error,
  );
  if (!(outcome instanceof Error)) throw new Error(`expected createHost to refuse ${JSON.stringify(Object.keys(options ?? {}))}`);
  return outcome;
}

const authenticate = () => null;

describe("createHost refuses options it does not know", () => {
  it("names a misspelt top-level option and the option it is near", async () => {
    const error = await refusal({ databse: "postgres://annex@db/app", gatway: { authenticate } });
    expect(error).toBeInstanceOf(HostOptionsError);
    expect(error).toMatchObject({
      code: "E_HOST_OPTIONS",
      details: { field: "databse", unknown: ["databse", "gatway"], suggestions: { databse: "database", gatway: "gateway" } },
    });
    expect(error.message).toContain('"databse" (did you mean "database"?)');
    expect(error.message).toContain('"gatway" (did you mean "gateway"?)');
    // Nothing near: the message lists what createHost knows instead.
    const far = await refusal({ verbose: true });
    expect(far).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "verbose", suggestions: {} } });
    expect(far.message).toMatch(/createHost knows: database, schema, poolSize, trust/);
    // A key with an undefined value is refused too: { databse: process.env.DATABASE_URL } is the same mistake.
    expect(await refusal({ databse: undefined })).toMatchObject({ details: { field: "databse" } });
  });

  it("refuses unknown keys of nested options with the code of their area", async () => {
    const cases: Array<[Record<string, unknown>, new (...args: never[]) => Error, string, string, string | undefined]> = [
      [{ gateway: { authenticate, orgins: ["https://app.example.com"] } }, GatewayError, "E_GATEWAY_OPTIONS", "gateway.orgins", "gateway.origins"],
      [{ events: { pollIntervallMs: 100 } }, EventsError, "E_EVENTS_OPTIONS", "events.pollIntervallMs", "events.pollIntervalMs"],
      [{ jobs: { schedular: false } }, JobsError, "E_JOBS_OPTIONS", "jobs.schedular", "jobs.scheduler"],
      [{ kv: { limit: {} } }, KvError, "E_KV_OPTIONS", "kv.limit", "kv.limits"],
      [{ sql: { limts: {} } }, SqlStorageError, "E_SQL_OPTIONS", "sql.limts", "sql.limits"],
      [{ sql: { limits: { timeout: 100 } } }, SqlStorageError, "E_SQL_OPTIONS", "sql.limits.timeout", "sql.limits.timeoutMs"],
      [{ trust: { store: { trustStoreVersion: 1, keys: [] }, mod: "dev" } }, HostOptionsError, "E_HOST_OPTIONS", "trust.mod", "trust.mode"],
      [{ secrets: { key: [] } }, HostOptionsError, "E_HOST_OPTIONS", "secrets.key", "secrets.keys"],
      [{ egress: { timeout: 5000 } }, HostOptionsError, "E_HOST_OPTIONS", "egress.timeout", "egress.timeoutMs"],
      [{ jobs: { frequency: 5 } }, JobsError, "E_JOBS_OPTIONS", "jobs.frequency", undefined],
      [{ bundleLimits: { maxFile: 10 } }, HostOptionsError, "E_HOST_OPTIONS", "bundleLimits.maxFile", "bundleLimits.maxFiles"],
      [{ metrics: { registery: {} } }, HostOptionsError, "E_HOST_OPTIONS", "metrics.registery", "metrics.registry"],
      [{ stores: { rateLimit: {} } }, HostOptionsError, "E_HOST_OPTIONS", "stores.rateLimit", "stores.rateLimits"],
    ];
    for (const [options, type, code, field, suggestion] of cases) {
      const error = await refusal(options);
      expect(error, field).toBeInstanceOf(type);
      expect(error, field).toMatchObject({ code, details: { field } });
      expect(error.message, field).toContain(`unknown option "${field}"`);
      if (suggestion === undefined) expect(error.message, field).toMatch(/knows: /);
      else expect(error.message, field).toContain(`did you mean "${suggestion}"?`);
    }
    expect((await refusal({ sql: { limits: { timeout: 1 } } })).message).toMatch(/^createHost\(\{ sql: \{ limits \} \}\): unknown option/);
    expect((await refusal({ jobs: { frequency: 5 } })).message).toMatch(/createHost\(\{ jobs \}\) knows: scheduler, pollIntervalMs/);
    // The runner moved out of the gateway: that mistake keeps its own message.
    expect(await refusal({ gateway: { authenticate, runner: createInMemoryRunner() } })).toMatchObject({
      code: "E_GATEWAY_OPTIONS",
      details: { field: "gateway.runner" },
      message: expect.stringMatching(/the runner is a host option now/),
    });
  });

  it("refuses options that are not an object", async () => {
    const error = await refusal("postgres://annex@db/app");
    expect(error).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "options" } });
    expect(error.message).toMatch(/createHost\(\{ database: "postgres:\/\/…"/);
    expect(error.message).not.toContain("annex@db");
  });

  it("measures edit distance with swaps of neighbours as one edit", () => {
    expect(editDistance("databse", "database")).toBe(1);
    expect(editDistance("gatway", "gateway")).toBe(1);
    expect(editDistance("jobz", "jobs")).toBe(1);
    expect(editDistance("abc", "xyz")).toBe(3);
    expect(editDistance("verbose", "database", 3)).toBe(3);
  });
});

describe("createHost checks the shape of trust, blobs, capabilities and secrets", () => {
  it("refuses a trust mode other than strict or dev, and a trust store given as a file name", async () => {
    const store = { trustStoreVersion: 1, keys: [] };
    const mode = await refusal({ trust: { store, mode: "permissive" } });
    expect(mode).toBeInstanceOf(HostOptionsError);
    expect(mode).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "trust.mode" } });
    expect(mode.message).toMatch(/mode must be "strict" .* or "dev" .*, got "permissive"/);

    const path = await refusal({ trust: "trust.json" });
    expect(path).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "trust" } });
    expect(path.message).toMatch(/read the file and pass the parsed trust store/);
    expect(path.message).toContain("parseTrustStore(JSON.parse(readFileSync(");

    expect(await refusal({ trust: { store: "./trust.json" } })).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "trust.store" } });
    expect(await refusal({ trust: 42 })).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "trust" } });
    // The trust store itself where { store } belongs.
    expect(await refusal({ trust: store })).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "trust" }, message: expect.stringMatching(/pass trust: \{ store: trustStore \}/) });
  });

  it("refuses blobs that are neither { directory } nor a BlobStore, naming the store factories", async () => {
    const dir = await refusal({ blobs: { dir: "./blobs" } });
    expect(dir).toBeInstanceOf(HostOptionsError);
    expect(dir).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "blobs" } });
    expect(dir.message).toMatch(/name it "directory"/);
    expect(dir.message).toContain("createFilesystemBlobStore({ directory })");
    expect(dir.message).toContain("createDatabaseBlobStore(db)");

    const partial = await refusal({ blobs: { put: async () => true, get: async () => null } });
    expect(partial).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "blobs", missing: ["has", "delete"] } });
    expect(await refusal({ blobs: "./blobs" })).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "blobs" } });
    expect(await refusal({ blobs: { directory: 5 } })).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "blobs.directory" } });
    expect(await refusal({ blobs: { directory: "./blobs", fsync: false } })).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "blobs.fsync" } });
  });

  it("refuses bundleLoads with an unknown key or a limit that is not a whole number in range, naming the field", async () => {
    expect(await refusal({ bundleLoads: { concurrency: 2 } })).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "bundleLoads.concurrency" } });
    for (const [field, value] of [
      ["concurrent", 0],
      ["concurrent", 1.5],
      ["queued", -1],
      ["queued", Number.NaN],
      ["retryAfterSeconds", "1"],
    ] as const) {
      const error = await refusal({ bundleLoads: { [field]: value } });
      expect(error, field).toBeInstanceOf(HostOptionsError);
      expect(error, field).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: `bundleLoads.${field}` } });
    }
    expect(await refusal({ bundleLoads: 4 })).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "bundleLoads" } });
  });

  it("refuses bundleLimits values that are not a whole number of at least 1, naming the field, instead of failing every publish later", async () => {
    for (const [field, value, shown] of [
      ["maxFiles", -1, "-1"],
      ["maxFileBytes", 1.5, "1.5"],
      ["maxCompressedBytes", 0, "0"],
      ["maxPathLength", "255", "a string"],
      ["maxUncompressedBytes", Number.NaN, "NaN"],
    ] as const) {
      const error = await refusal({ bundleLimits: { [field]: value } });
      expect(error, field).toBeInstanceOf(HostOptionsError);
      expect(error, field).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: `bundleLimits.${field}` } });
      expect(error.message, field).toContain(`bundleLimits.${field} must be a whole number of at least 1 (or left out for the default), got ${shown}`);
    }
    expect(await refusal({ bundleLimits: 1024 })).toMatchObject({ code: "E_HOST_OPTIONS", details: { field: "bundleLimits" } });
    // An unknown name is refused first, with its did-you-mean, whatever its value.
    expect(await refusal({ bundleLimits: { maxFile: -1 } })).toMatchObject({ details: { field: "bundleLimits.maxFile", suggestions: { "bundleLimits.maxFile": "bundleLimits.maxFiles" } } });
  });

  it("refuses capabilities that are not an array", async () => {
    const error = await refusal({ capabilities: { "crm.contacts.read": {} } });
    expect(error).toBeInstanceOf(HostCapabilityError);
    expect(error).toMatchObject({ code: "E_HOST_CAPABILITY_DEFINITION", details: { field: "capabilities" } });
    expect(error.message).toMatch(/capabilities must be an array of defineHostCapability\(…\) definitions, got an object/);
  });

  it("says to pass { id, key } objects when secrets keys are given as a string, never showing it", async () => {
    const key = generateSecretsKey();
    for (const [secrets, field] of [
      [{ keys: key }, "secrets.keys"],
      [key, "secrets"],
    ] as const) {
      const error = await refusal({ secrets });
      expect(error, field).toBeInstanceOf(SecretsError);
      expect(error, field).toMatchObject({ code: "E_SECRETS_KEY_INVALID", details: { field } });
      expect(error.message, field).toContain("pass { id, key } objects");
      expect(error.message, field).not.toContain(key);
    }
    expect((await refusal({ secrets: { keys: [key] } })).message).toContain("pass { id, key } objects");
  });
});

describe("a host given well-formed options", () => {
  it("starts, refuses a rotation to a bare key string, and logs which field of a principal is wrong", async () => {
    const stored = new Map<string, Uint8Array>();
    // A BlobStore of the app's own, as a class instance: its methods live on the prototype.
    class MemoryBlobs implements BlobStore {
      async put(hash: string, bytes: Uint8Array) {
        const fresh = !stored.has(hash);
        stored.set(hash, bytes);
        return fresh;
      }
      async get(hash: string) {
        return stored.get(hash) ?? null;
      }
      async has(hash: string) {
        return stored.has(hash);
      }
      async delete(hash: string) {
        stored.delete(hash);
      }
    }
    const logged: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
    const log = (level: string) => (fields: Record<string, unknown>, message: string) => void logged.push({ level, fields, message });
    let principal: unknown = null;
    const runner = createInMemoryRunner();
    const host = await createHost({
      // The trust store as its JSON text is accepted, as parseTrustStore accepts it.
      trust: { store: JSON.stringify({ trustStoreVersion: 1, keys: [] }) as never, mode: "dev" },
      blobs: new MemoryBlobs(),
      capabilities: [],
      secrets: { keys: [{ id: "k1", key: generateSecretsKey() }] },
      runner,
      logger: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
      gateway: { authenticate: () => principal as never },
      events: { relay: false },
      jobs: { scheduler: false },
    });
    try {
      // No database named: in-memory PGlite, as documented, without a warning.
      expect(logged.filter((entry) => entry.fields["field"] === "database")).toEqual([]);
      const key = generateSecretsKey();
      const rotation = await host.rotateSecretsKey(key as never).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(rotation).toBeInstanceOf(SecretsError);
      expect(rotation).toMatchObject({ code: "E_SECRETS_KEY_INVALID" });
      expect(rotation!.message).toContain("pass { id, key } objects");
      expect(rotation!.message).not.toContain(key);
      expect(rotation!.message).not.toMatch(/id must be 1 to 64 letters/);

      const cases: Array<[unknown, RegExp]> = [
        [{ tenant: "acme", user: { id: "u1" } }, /roles is missing \(an array of strings, \[\] for none\)/],
        [{ tenant: "acme", user: { id: "u1" }, roles: "admin" }, /roles must be an array of strings, \[\] for none, got a string/],
        [{ tenant: "acme", user: { id: "u1" }, roles: ["admin", 7] }, /roles\[1\] is a number/],
        [{ tenant: "acme", user: { id: 42 }, roles: [] }, /user\.id must be a non-empty string, got a number/],
        [{ tenant: "acme", user: "u1", roles: [] }, /user must be an object \{ id, displayName\?, email\? \}, got a string/],
        [{ tenantId: "acme", user: { id: "u1" }, roles: [] }, /tenant is missing \(a non-empty string\): it has "tenantId", name it "tenant"/],
        [{ tenant: 5, user: { id: "u1" }, roles: [] }, /tenant must be a non-empty string, got a number/],
        ["u1", /it returned a string, not an object/],
      ];
      for (const [given, reason] of cases) {
        principal = given;
        logged.length = 0;
        const response = await host.handle(new Request("http://app.example.com/api/ext/acme.any/ping"));
        expect(response.status, String(reason)).toBe(500);
        const body = (await response.json()) as Record<string, unknown>;
        // The answer stays as it was: a bare E_INTERNAL, nothing of the reason or the principal.
        expect(body).toMatchObject({ code: "E_INTERNAL", detail: "the gateway failed; the problem was recorded" });
        expect(JSON.stringify(body)).not.toMatch(/roles|tenant|user\.id|acme"/);
        const line = logged.find((entry) => entry.message === "gateway.request");
        expect(line?.fields["reason"], String(reason)).toMatch(reason);
        // Kinds, never values: the app's session data stays out of the log.
        expect(String(line?.fields["reason"])).not.toMatch(/admin|\bu1\b|42/);
      }
    } finally {
      await host.close();
      await runner.close();
    }
  });
});

describePostgres("createHost on the app's Kysely", (backend) => {
  it("warns once, naming notifications, when a Kysely database is given without notifications", async () => {
    const logged: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
    const log = (level: string) => (fields: Record<string, unknown>, message: string) => void logged.push({ level, fields, message });
    const logger = { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
    const database = await backend.connect();
    const schema = backend.freshSchema("annex_opts_notify");
    const warnings = () => logged.filter((entry) => entry.level === "warn" && entry.fields["option"] === "notifications");

    const silent = await createHost({ database, schema, logger, notifications: false });
    await silent.close();
    expect(warnings()).toEqual([]);

    const host = await createHost({ database, schema, logger, migrate: false });
    await host.close();
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]!.message).toMatch(/createHost\(\{ notifications \}\).*notifications: "postgres:\/\/…".*notifications: false.*docs\/scale-out\.md/);
  });
});

it("warns when database is named but undefined (an unset DATABASE_URL): the host would forget everything", async () => {
  const logged: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const log = (level: string) => (fields: Record<string, unknown>, message: string) => void logged.push({ level, fields, message });
  const runner = createInMemoryRunner();
  const host = await createHost({
    database: process.env["ANNEX_TEST_SURELY_UNSET_DATABASE_URL"],
    runner,
    logger: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
    events: { relay: false },
    jobs: { scheduler: false },
  });
  try {
    const warned = logged.filter((entry) => entry.fields["field"] === "database");
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ level: "warn" });
    expect(warned[0]!.message).toMatch(/database is undefined \(is the variable it is read from, e\.g\. DATABASE_URL, set\?\): running on an in-memory PGlite database/);
  } finally {
    await host.close();
    await runner.close();
  }
}, 60_000);
