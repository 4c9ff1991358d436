import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_KV_LIMITS, KvError } from "../../src/index.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";
import { KV_CAPABILITY, kvBundle, kvCall, kvManifest, KV_SERVER } from "./kv-fixtures.js";

describeBackends("ctx.kv", (backend) => {
  let t: TestHost;
  let clock = Date.parse("2026-01-01T00:00:00Z");
  let seq = 0;
  /** A tenant of its own per test, so tests share one host without sharing data. */
  const installFresh = async (manifest = kvManifest()) => {
    seq += 1;
    const tenant = `tenant-${seq}`;
    const install = await t.install(await kvBundle(manifest), { tenant });
    return { tenant, install, kv: t.kv(install.id), call: (op: string, ...args: unknown[]) => kvCall(t, op, args, { tenant, extensionId: manifest["id"] as string }) };
  };

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("kv"), now: () => clock, kv: { sweepIntervalMs: 0 } });
  });
  afterAll(() => t?.close());

  it("sets, gets, lists and deletes JSON values, and the test host sees what the handler stored", async () => {
    const { call, kv } = await installFresh();
    expect(await call("set", "profile", { name: "Ada", tags: ["x"], n: 1.5, ok: true, none: null })).toEqual({ result: { version: expect.any(Number) } });
    expect(await call("get", "profile")).toEqual({ result: { name: "Ada", tags: ["x"], n: 1.5, ok: true, none: null } });
    expect(await call("get", "missing")).toEqual({ result: null });
    expect(await kv.get("profile")).toEqual({ name: "Ada", tags: ["x"], n: 1.5, ok: true, none: null });
    await kv.set("seeded", 42);
    expect(await call("get", "seeded")).toEqual({ result: 42 });
    expect(await call("list", {})).toEqual({ result: { keys: ["profile", "seeded"], cursor: null } });
    expect(await call("delete", "profile")).toEqual({ result: true });
    expect(await call("delete", "profile")).toEqual({ result: false });
    expect(await kv.entries()).toEqual([{ key: "seeded", value: 42, version: expect.any(Number), expiresAt: null }]);
    expect(await kv.usage()).toEqual({ keys: 1, bytes: "seeded".length + 2 });
  });

  it("keeps tenants and installs apart: the same key in another tenant or another extension is another value", async () => {
    const a = await installFresh();
    const b = await installFresh();
    const otherManifest = kvManifest({ id: "acme.other", name: "Other" });
    const other = await t.install(await kvBundle(otherManifest), { tenant: a.tenant });
    await a.call("set", "secret", "of tenant a");
    await b.call("set", "secret", "of tenant b");
    await kvCall(t, "set", ["secret", "of acme.other"], { tenant: a.tenant, extensionId: "acme.other" });
    expect(await a.call("get", "secret")).toEqual({ result: "of tenant a" });
    expect(await b.call("get", "secret")).toEqual({ result: "of tenant b" });
    expect(await t.kv(other.id).get("secret")).toBe("of acme.other");
    // Keys are never paths: nothing a key says leads into another namespace.
    for (const key of [`../${b.install.id}/secret`, `${b.tenant}/${b.install.id}/secret`, "*", "secret%"]) expect(await a.call("get", key)).toEqual({ result: null });
    expect(await a.call("list", { prefix: "" })).toEqual({ result: { keys: ["secret"], cursor: null } });
    await b.call("delete", "secret");
    expect(await a.call("get", "secret")).toEqual({ result: "of tenant a" });
  });

  it("refuses kv to an install without the storage.kv grant (in the sandbox), storing nothing", async () => {
    const manifest = serviceManifest({ id: "acme.nokv", name: "No kv", capabilities: [], endpoints: [{ class: "api", method: "POST", path: "/op", handler: "op" }] });
    const install = await t.install(await makeBundle(manifest, { "server/index.js": KV_SERVER }), { tenant: "tenant-nokv" });
    const answer = await kvCall(t, "set", ["x", 1], { tenant: "tenant-nokv", extensionId: "acme.nokv" });
    expect(answer.code).toBe("E_CAPABILITY_DENIED");
    expect(await t.kv(install.id).entries()).toEqual([]);
  });

  it("lists by prefix as plain text: % and _ are characters, not wildcards", async () => {
    const { call } = await installFresh();
    for (const key of ["a%b", "a%c", "aXb", "a_1", "ab1", "a\\x", "a\\%", "b", "a"]) await call("set", key, 1);
    expect((await call("list", { prefix: "a%" })).result).toEqual({ keys: ["a%b", "a%c"], cursor: null });
    expect((await call("list", { prefix: "a_" })).result).toEqual({ keys: ["a_1"], cursor: null });
    expect((await call("list", { prefix: "a\\" })).result).toEqual({ keys: ["a\\%", "a\\x"], cursor: null });
    expect((await call("list", { prefix: "%" })).result).toEqual({ keys: [], cursor: null });
    expect((await call("list", { prefix: "a" })).result).toEqual({ keys: ["a", "a%b", "a%c", "aXb", "a\\%", "a\\x", "a_1", "ab1"], cursor: null });
  });

  it("orders keys by code point and finds prefixes at the edges of Unicode", async () => {
    const { call, kv } = await installFresh();
    const keys = ["é", "e\u{10FFFF}", "e\u{10FFFF}x", "e\u{10FFFF}\u{10FFFF}", "e\uFFFF", "f", "😀", "\uD7FF", "\uE000"];
    for (const key of keys) await kv.set(key, key);
    expect((await call("list", { prefix: "e\u{10FFFF}" })).result).toEqual({ keys: ["e\u{10FFFF}", "e\u{10FFFF}x", "e\u{10FFFF}\u{10FFFF}"], cursor: null });
    expect((await call("list", { prefix: "\uD7FF" })).result).toEqual({ keys: ["\uD7FF"], cursor: null });
    const all = (await kv.list({})).keys;
    expect(all).toEqual([...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });

  it("pages through keys with a cursor, and refuses a forged cursor", async () => {
    const { call } = await installFresh();
    for (let i = 0; i < 25; i++) await call("set", `item:${String(i).padStart(2, "0")}`, i);
    await call("set", "other", 0);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = (await call("list", { prefix: "item:", limit: 10, ...(cursor === undefined ? {} : { cursor }) })).result as { keys: string[]; cursor: string | null };
      seen.push(...page.keys);
      if (page.cursor === null) break;
      cursor = page.cursor;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `item:${String(i).padStart(2, "0")}`));
    expect((await call("list", { cursor: "not base64 !" })).code).toBe("E_KV_INVALID_CURSOR");
    // A cursor names a position, never another namespace: a key of another install gives only this install's later keys.
    expect((await call("list", { cursor: Buffer.from("item:20").toString("base64url") })).result).toEqual({ keys: ["item:21", "item:22", "item:23", "item:24", "other"], cursor: null });
  });

  it("refuses keys with NUL or control characters and lone surrogates; values keep them", async () => {
    const { call, kv } = await installFresh();
    const invisible = ["line\u2028sep", "para\u2029sep", "admin\u202Etxt.exe", "iso\u2066late", "zw\u200Bspace", "\uFEFFbom", "lrm\u200E"];
    for (const key of ["a\u0000b", "\u0000", "line\nbreak", "tab\t", "del\u007f", "c1\u0085", "\uD800", "x\uDC00y", ...invisible]) {
      const answer = await call("set", key, 1);
      expect(answer.code, JSON.stringify(key)).toBe("E_KV_INVALID_KEY");
    }
    expect((await call("list", { prefix: "a\u0000" })).code).toBe("E_KV_INVALID_KEY");
    // Joiners stay: an emoji sequence is a key like any other.
    expect(await call("set", "family \u{1F468}\u200D\u{1F469}\u200D\u{1F467}", 1)).toEqual({ result: { version: expect.any(Number) } });
    expect(await call("delete", "family \u{1F468}\u200D\u{1F469}\u200D\u{1F467}")).toEqual({ result: true });
    expect(await call("set", "text", "nul\u0000 and \u0001 and \uD800 and 😀")).toEqual({ result: { version: expect.any(Number) } });
    expect(await call("get", "text")).toEqual({ result: "nul\u0000 and \u0001 and \uD800 and 😀" });
    expect(await kv.list()).toEqual({ keys: ["text"], cursor: null });
  });

  it("refuses values that are not JSON or nest too deeply, and keeps the old value", async () => {
    const { call, kv } = await installFresh();
    await kv.set("deep", "before");
    const response = await t.request("POST", "/api/ext/acme.store/deep", { as: { user: { id: "u1" }, tenant: `tenant-${seq}` }, tenant: `tenant-${seq}`, body: { depth: 200 } });
    const answer = (await response.json()) as { code: string };
    expect(answer.code).toBe("E_KV_INVALID_VALUE");
    expect(await kv.get("deep")).toBe("before");
    await expect(kv.set("bytes", new Uint8Array([1, 2]))).rejects.toMatchObject({ code: "E_KV_INVALID_VALUE" });
    await expect(kv.set("nan", { n: Number.NaN })).rejects.toMatchObject({ code: "E_KV_INVALID_VALUE" });
    let deep: unknown = 1;
    for (let i = 0; i < 65; i++) deep = [deep];
    await expect(kv.set("deep", deep)).rejects.toMatchObject({ code: "E_KV_INVALID_VALUE" });
    expect(await kv.get("deep")).toBe("before");
    expect((await call("get", "deep")).result).toBe("before");
  });

  it("hides expired keys at once and sweeps them later; a TTL write replaces the expiry", async () => {
    const { call, kv } = await installFresh();
    await call("set", "session", { user: "ada" }, { ttlSeconds: 60 });
    await call("set", "forever", 1);
    expect((await kv.getEntry("session"))?.expiresAt?.getTime()).toBe(clock + 60_000);
    clock += 59_999;
    expect(await call("get", "session")).toEqual({ result: { user: "ada" } });
    clock += 1;
    expect(await call("get", "session")).toEqual({ result: null });
    expect((await call("list", {})).result).toEqual({ keys: ["forever"], cursor: null });
    expect(await kv.entries()).toEqual([expect.objectContaining({ key: "forever" })]);
    expect(await call("delete", "session")).toEqual({ result: false });
    await call("set", "again", 2, { ttlSeconds: 1 });
    clock += 1000;
    expect(await kv.usage()).toEqual({ keys: 2, bytes: expect.any(Number) });
    expect(await t.host.kv.sweepExpired()).toBeGreaterThanOrEqual(1);
    expect(await kv.usage()).toEqual({ keys: 1, bytes: "forever".length + 1 });
    await call("set", "later", 3, { ttlSeconds: 5 });
    await call("set", "later", 4);
    clock += 10_000;
    expect(await call("get", "later")).toEqual({ result: 4 });
    expect((await call("set", "bad", 1, { ttlSeconds: -1 })).code).toBe("E_INVALID_ARGUMENT");
    // A whole number the runner lets through, but an expiry no date can hold: a typed refusal, nothing written.
    expect((await call("set", "far", 1, { ttlSeconds: 1e15 })).code).toBe("E_KV_OPTIONS");
    await expect(kv.set("far", 1, { ttlSeconds: 1e15 })).rejects.toMatchObject({ code: "E_KV_OPTIONS", details: { field: "ttlSeconds" } });
    expect(await kv.get("far")).toBeNull();
  });

  it("compare-and-set: a write with a stale version is refused, and exactly one of many concurrent writers wins", async () => {
    const { kv } = await installFresh();
    const first = await kv.set("counter", 0, { ifVersion: 0 });
    await expect(kv.set("counter", 0, { ifVersion: 0 })).rejects.toMatchObject({ code: "E_KV_VERSION_CONFLICT" });
    const entry = await kv.getEntry("counter");
    expect(entry).toEqual({ value: 0, version: first.version, expiresAt: null });
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => kv.set("counter", i + 1, { ifVersion: first.version })));
    const won = outcomes.filter((outcome) => outcome.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const lost of outcomes.filter((outcome) => outcome.status === "rejected")) expect((lost as PromiseRejectedResult).reason).toMatchObject({ code: "E_KV_VERSION_CONFLICT" });
    const after = await kv.getEntry("counter");
    expect(after!.version).toBe((won[0] as PromiseFulfilledResult<{ version: number }>).value.version);
    expect(after!.version).toBeGreaterThan(first.version);
    // Versions never repeat, even for a key deleted and written again.
    await kv.delete("counter", { ifVersion: after!.version });
    const again = await kv.set("counter", 1);
    expect(again.version).toBeGreaterThan(after!.version);
    await expect(kv.set("counter", 2, { ifVersion: after!.version })).rejects.toMatchObject({ code: "E_KV_VERSION_CONFLICT" });
    await expect(kv.delete("counter", { ifVersion: first.version })).rejects.toMatchObject({ code: "E_KV_VERSION_CONFLICT" });
    expect(await kv.get("counter")).toBe(1);
  });

  it("numbers each install's writes on its own: another tenant's writes leave no gap, and no version comes back after a delete", async () => {
    const a = await installFresh();
    const b = await installFresh();
    const first = (await a.call("set", "k", 1)).result as { version: number };
    // Another tenant writes in between, from its handler and from the app, concurrently too.
    for (let i = 0; i < 5; i++) await b.call("set", `other-${i}`, i);
    await Promise.all(Array.from({ length: 5 }, (_, i) => b.kv.set(`app-${i}`, i)));
    const second = (await a.call("set", "k", 2)).result as { version: number };
    // Nothing of b's ten writes shows in a's numbers: an install cannot count other tenants' writes.
    expect(second.version).toBe(first.version + 1);
    expect((await a.call("set", "other", 3)).result).toEqual({ version: first.version + 2 });
    // A key deleted and written again gets a number never handed out before, so an old version never matches again.
    await a.call("delete", "k");
    const again = (await a.call("set", "k", 4)).result as { version: number };
    expect(again.version).toBe(first.version + 3);
    for (const old of [first.version, second.version]) {
      expect(await a.call("set", "k", "lost", { ifVersion: old })).toMatchObject({ code: "E_KV_VERSION_CONFLICT" });
    }
    // Concurrent writes of one install each get their own number.
    const versions = await Promise.all(Array.from({ length: 6 }, (_, i) => a.kv.set(`c-${i}`, i)));
    expect(new Set(versions.map((written) => written.version)).size).toBe(6);
    expect(Math.min(...versions.map((written) => written.version))).toBe(again.version + 1);
    expect(Math.max(...versions.map((written) => written.version))).toBe(again.version + 6);
  });

  it("compare-and-set from the sandbox: getEntry and set with ifVersion, a conflict the handler catches by code", async () => {
    const { call, kv } = await installFresh();
    expect(await call("getEntry", "doc")).toEqual({ result: null });
    const created = (await call("set", "doc", { v: 1 }, { ifVersion: 0 })).result as { version: number };
    expect(await call("getEntry", "doc")).toEqual({ result: { value: { v: 1 }, version: created.version } });
    expect(await kv.getEntry("doc")).toMatchObject({ value: { v: 1 }, version: created.version });
    for (const ifVersion of [0, null]) expect(await call("set", "doc", "lost", { ifVersion })).toMatchObject({ code: "E_KV_VERSION_CONFLICT", message: expect.stringContaining("already exists") });
    const second = (await call("set", "doc", { v: 2 }, { ifVersion: created.version })).result as { version: number };
    expect(second.version).toBeGreaterThan(created.version);
    expect(await call("set", "doc", "lost", { ifVersion: created.version })).toMatchObject({ code: "E_KV_VERSION_CONFLICT", message: expect.stringContaining(`not ${created.version}`) });
    // The app writes in between: the handler's version is stale.
    await kv.set("doc", { v: "app" });
    expect(await call("set", "doc", "lost", { ifVersion: second.version })).toMatchObject({ code: "E_KV_VERSION_CONFLICT" });
    expect(await kv.get("doc")).toEqual({ v: "app" });
    // An expired key no longer exists: ifVersion 0 may create it again.
    await call("set", "session", 1, { ttlSeconds: 1 });
    clock += 2000;
    expect(await call("getEntry", "session")).toEqual({ result: null });
    expect((await call("set", "session", 2, { ifVersion: 0 })).result).toEqual({ version: expect.any(Number) });
  });

  it("compare-and-delete from the sandbox: delete with ifVersion deletes only at that version; a conflict deletes nothing", async () => {
    const { call, kv } = await installFresh();
    const first = (await call("set", "doc", { v: 1 })).result as { version: number };
    // The app writes in between: the handler's version is stale.
    await kv.set("doc", { v: "app" });
    expect(await call("delete", "doc", { ifVersion: first.version })).toMatchObject({ code: "E_KV_VERSION_CONFLICT", message: expect.stringContaining(`not ${first.version}`) });
    for (const ifVersion of [0, null]) expect(await call("delete", "doc", { ifVersion })).toMatchObject({ code: "E_KV_VERSION_CONFLICT" });
    expect(await kv.get("doc")).toEqual({ v: "app" });
    const current = (await kv.getEntry("doc"))!.version;
    expect(await call("delete", "doc", { ifVersion: current })).toEqual({ result: true });
    expect(await kv.get("doc")).toBeNull();
    // "Must not exist" on an absent key: nothing to delete, no conflict; hostile versions refused before the store.
    expect(await call("delete", "doc", { ifVersion: 0 })).toEqual({ result: false });
    await kv.set("kept", 1);
    for (const ifVersion of [-1, 1.5, "1", { v: 1 }, true, 2 ** 53]) {
      expect(await call("delete", "kept", { ifVersion }), JSON.stringify(ifVersion)).toMatchObject({ code: "E_INVALID_ARGUMENT", message: expect.stringContaining("ifVersion") });
    }
    expect(await kv.get("kept")).toBe(1);
    // Without ifVersion a delete stays unconditional.
    expect(await call("delete", "kept")).toEqual({ result: true });
  });

  it("compare-and-set from the sandbox: hostile versions are refused before the store and write nothing", async () => {
    const { call, kv } = await installFresh();
    for (const ifVersion of [-1, 1.5, "1", { v: 1 }, [1], true, 2 ** 53, 1e300, Number.MAX_SAFE_INTEGER + 2]) {
      expect(await call("set", "bad", 1, { ifVersion }), JSON.stringify(ifVersion)).toMatchObject({ code: "E_INVALID_ARGUMENT", message: expect.stringContaining("ifVersion") });
    }
    // The largest version there is: a conflict (no key has it), not an error.
    expect(await call("set", "bad", 1, { ifVersion: Number.MAX_SAFE_INTEGER })).toMatchObject({ code: "E_KV_VERSION_CONFLICT" });
    expect(await call("getEntry", "")).toMatchObject({ code: "E_INVALID_ARGUMENT" });
    expect(await call("getEntry", "bad\u0000key")).toMatchObject({ code: "E_KV_INVALID_KEY" });
    expect(await kv.list()).toEqual({ keys: [], cursor: null });
  });

  it("compare-and-set from the sandbox: concurrent handlers incrementing one counter with retries lose no update", async () => {
    const { tenant, kv } = await installFresh();
    const times = 8;
    const increment = async () => {
      const response = await t.request("POST", "/api/ext/acme.store/increment", { as: { user: { id: "u1" }, tenant }, tenant, body: { times } });
      expect(response.status, await response.clone().text()).toBe(200);
      return ((await response.json()) as { conflicts: number }).conflicts;
    };
    const conflicts = await Promise.all([increment(), increment(), increment()]);
    expect(await kv.get("counter")).toBe(3 * times);
    // The handlers did interleave: every conflict is an update a plain get/set would have lost.
    expect(conflicts.reduce((sum, n) => sum + n, 0)).toBeGreaterThan(0);
  });

  it("keeps the data on uninstall, exports it, and removes it on purge", async () => {
    const { tenant, call, kv, install } = await installFresh();
    await call("set", "kept", { a: 1 });
    await call("set", "gone-soon", 1, { ttlSeconds: 1 });
    clock += 2000;
    const exported = await t.host.exportData(tenant, "acme.store");
    expect(exported.data["kv"]).toEqual({ entries: [{ key: "kept", value: { a: 1 }, version: expect.any(Number), expiresAt: null }] });
    await t.uninstall("acme.store", { tenant });
    expect(await kv.get("kept")).toEqual({ a: 1 });
    const again = await t.install(await kvBundle(), { tenant });
    expect(again.id).toBe(install.id);
    expect(await call("get", "kept")).toEqual({ result: { a: 1 } });
    const purged = await t.uninstall("acme.store", { tenant, purge: true });
    expect(purged.export?.data["kv"]).toEqual({ entries: [expect.objectContaining({ key: "kept" })] });
    const rows = await t.host.database.db.selectFrom("annex_kv").select("key").where("install_id", "=", install.id).execute();
    expect(rows).toEqual([]);
    expect(await t.host.database.db.selectFrom("annex_kv_usage").selectAll().where("install_id", "=", install.id).execute()).toEqual([]);
    // A handle taken before the purge says the install is gone (it read the namespace as empty, and wrote with a raw foreign-key error).
    await expect(kv.get("kept")).rejects.toMatchObject({ code: "E_INSTALL_NOT_FOUND" });
    await expect(kv.set("kept", 2)).rejects.toMatchObject({ code: "E_INSTALL_NOT_FOUND" });
  });

  it("gives t.kv a clear error for an unknown install id", async () => {
    await expect(t.kv("no-such-install").get("x")).rejects.toMatchObject({ code: "E_INSTALL_NOT_FOUND" });
  });

  it("host.kv.install(id, { tenant }) treats another tenant's install as missing: nothing of it is read or written", async () => {
    const a = await installFresh();
    const b = await installFresh();
    await b.kv.set("secret", "of tenant b");
    const missing = await t.host.kv.install("no-such-install", { tenant: a.tenant }).get("x").catch((error: unknown) => error);
    expect(missing).toMatchObject({ code: "E_INSTALL_NOT_FOUND" });
    const crossed = t.host.kv.install(b.install.id, { tenant: a.tenant });
    for (const attempt of [crossed.get("secret"), crossed.getEntry("secret"), crossed.set("secret", "overwritten"), crossed.delete("secret"), crossed.list(), crossed.entries(), crossed.usage(), crossed.limits()]) {
      const error = await attempt.then(() => null, (e: unknown) => e);
      expect(error).toMatchObject({ code: "E_INSTALL_NOT_FOUND", message: (missing as Error).message.replace("no-such-install", b.install.id) });
    }
    // Its own tenant, and the app's tools without a tenant, still reach it; the value was not touched.
    expect(await t.host.kv.install(b.install.id, { tenant: b.tenant }).get("secret")).toBe("of tenant b");
    expect(await t.host.kv.install(b.install.id).entries()).toEqual([{ key: "secret", value: "of tenant b", version: expect.any(Number), expiresAt: null }]);
  });
});

describeBackends("kv quotas", (backend) => {
  let t: TestHost;
  let clock = Date.parse("2026-01-01T00:00:00Z");
  const limits = { keyBytes: 16, valueBytes: 64, keys: 3, totalBytes: 120 };

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("kvq"), now: () => clock, kv: { limits, sweepIntervalMs: 0 } });
  });
  afterAll(() => t?.close());

  it("refuses each limit with E_KV_QUOTA_EXCEEDED naming it, and changes nothing", async () => {
    const install = await t.install(await kvBundle(), { tenant: "q1" });
    const kv = t.kv(install.id);
    const call = (op: string, ...args: unknown[]) => kvCall(t, op, args, { tenant: "q1" });
    const key = await call("set", "k".repeat(17), 1);
    expect(key).toMatchObject({ code: "E_KV_QUOTA_EXCEEDED", message: expect.stringContaining("keyBytes limit of 16") });
    // Bytes, not characters: 6 × "é" is 12 bytes, 9 × is 18.
    expect((await call("set", "é".repeat(6), 1)).result).toEqual({ version: expect.any(Number) });
    expect((await call("set", "é".repeat(9), 1)).code).toBe("E_KV_QUOTA_EXCEEDED");
    const value = await call("set", "v", "x".repeat(63));
    expect(value).toMatchObject({ code: "E_KV_QUOTA_EXCEEDED", message: expect.stringContaining("valueBytes limit of 64") });
    await call("set", "a", "x".repeat(40));
    await call("set", "b", 1);
    const keys = await call("set", "c", 1);
    expect(keys).toMatchObject({ code: "E_KV_QUOTA_EXCEEDED", message: expect.stringContaining("keys limit") });
    // Overwriting an existing key adds no key.
    expect((await call("set", "b", 2)).result).toEqual({ version: expect.any(Number) });
    const total = await call("set", "b", "y".repeat(62));
    expect(total).toMatchObject({ code: "E_KV_QUOTA_EXCEEDED", message: expect.stringContaining("totalBytes limit of 120") });
    expect(await kv.get("b")).toBe(2);
    expect((await kv.list()).keys).toEqual(["a", "b", "é".repeat(6)]);
    try {
      await kv.set("c", 1);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(KvError);
      expect((error as KvError).details).toEqual({ limit: "keys", max: 3, actual: 4 });
    }
  });

  it("counts expired keys only until a write needs their room", async () => {
    const install = await t.install(await kvBundle(), { tenant: "q2" });
    const kv = t.kv(install.id);
    await kv.set("t1", 1, { ttlSeconds: 10 });
    await kv.set("t2", 1, { ttlSeconds: 10 });
    await kv.set("keep", 1);
    await expect(kv.set("new", 1)).rejects.toMatchObject({ code: "E_KV_QUOTA_EXCEEDED" });
    clock += 10_000;
    await kv.set("new", 1);
    expect(await kv.usage()).toEqual({ keys: 2, bytes: "keep".length + 1 + "new".length + 1 });
    expect((await kv.list()).keys).toEqual(["keep", "new"]);
  });

  it("keeps usage equal to the rows through new keys, overwrites, an expired key written again, deletes and concurrent writes", async () => {
    const install = await t.install(await kvBundle(), { tenant: "q3" });
    const kv = t.kv(install.id);
    const rows = async () => {
      const entries = (await t.host.database.db.selectFrom("annex_kv").select(["key", "size_bytes"]).where("install_id", "=", install.id).execute());
      return { keys: entries.length, bytes: entries.reduce((sum, row) => sum + row.size_bytes, 0) };
    };
    await kv.set("a", "x".repeat(10));
    await kv.set("b", 1, { ttlSeconds: 5 });
    await kv.set("a", "y");
    expect(await kv.usage()).toEqual(await rows());
    clock += 5_000;
    // "b" is expired but still a row: writing it again replaces that row, it adds no key.
    await kv.set("b", "z".repeat(20));
    expect(await kv.usage()).toEqual(await rows());
    expect(await kv.usage()).toEqual({ keys: 2, bytes: 1 + 3 + 1 + 22 });
    await kv.delete("a");
    // Five writers at once on two keys, within the quotas (3 keys, 120 bytes): every one lands, usage stays exact.
    await Promise.all([kv.set("c", 1), kv.set("c", 22), kv.set("d", "w"), kv.set("d", 4), kv.set("c", 333)]);
    expect(await kv.usage()).toEqual(await rows());
    expect(await rows()).toMatchObject({ keys: 3 });
  });

  it("caps a manifest's requested quotas by the host's policy", async () => {
    expect(DEFAULT_KV_LIMITS).toEqual({ keyBytes: 512, valueBytes: 256 * 1024, keys: 10_000, totalBytes: 64 * 1024 * 1024 });
    expect(t.host.kv.policy).toEqual(limits);
  });

  it("refuses malformed kv options at createHost", async () => {
    await expect(createTestHost({ database: await backend.connect(), schema: backend.freshSchema("kvbad"), kv: { limits: { keys: 0 } } })).rejects.toMatchObject({ code: "E_KV_OPTIONS" });
    await expect(createTestHost({ database: await backend.connect(), schema: backend.freshSchema("kvbad"), kv: { limits: { keyBytes: 4096 } } })).rejects.toMatchObject({ code: "E_KV_OPTIONS" });
    await expect(createTestHost({ database: await backend.connect(), schema: backend.freshSchema("kvbad"), kv: { limits: { rows: 1 } as never } })).rejects.toMatchObject({ code: "E_KV_OPTIONS" });
    // The key count is an integer column: a policy above it would accept installs whose every write fails.
    await expect(createTestHost({ database: await backend.connect(), schema: backend.freshSchema("kvbad"), kv: { limits: { keys: 2 ** 31 } } })).rejects.toMatchObject({
      code: "E_KV_OPTIONS",
      details: { field: "kv.limits.keys" },
    });
  });
});
