import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parsePrivateKey, parsePublicKey, parseTrustStore } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import { run, tempDir } from "./helpers.js";

async function keygen(cwd: string, ...args: string[]) {
  const result = await run(cwd, "keygen", ...args);
  const keyId = /^key id: (.+)$/m.exec(result.stdout)?.[1];
  const base = keyId?.replaceAll(":", "_");
  return { ...result, keyId, base };
}

describe("annex keygen", () => {
  it("writes <keyId>.key with mode 0600 and <keyId>.pub, and prints the trust-store entry but never the private key", async () => {
    const cwd = await tempDir();
    const { code, stdout, stderr, keyId, base } = await keygen(cwd, "--publisher", "acme", "--out", "keys");
    expect(code).toBe(0);
    expect(keyId).toMatch(/^acme:[0-9a-f]{16}$/);
    const keyPath = join(cwd, "keys", `${base}.key`);
    const pubPath = join(cwd, "keys", `${base}.pub`);
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    expect((await stat(pubPath)).mode & 0o777).toBe(0o644);

    const privateKey = parsePrivateKey(await readFile(keyPath, "utf8"));
    const publicKey = parsePublicKey(await readFile(pubPath, "utf8"));
    expect(privateKey).toMatchObject({ keyId, publisher: "acme" });
    expect(publicKey).toMatchObject({ keyId, publisher: "acme" });
    expect(stdout + stderr).not.toContain(privateKey.privateKey);

    const entry = JSON.parse(stdout.slice(stdout.indexOf("{"))) as unknown;
    expect(entry).toEqual({ keyId, publisher: "acme", publicKey: publicKey.publicKey, trustClass: "community" });
    expect(stdout).toContain(`annex trust add trust.json keys/${base}.pub --class community`);
  });

  it("takes --key-id and --class", async () => {
    const cwd = await tempDir();
    const { code, keyId, stdout } = await keygen(cwd, "--publisher", "acme", "--key-id", "acme-2026", "--class", "first-party");
    expect(code).toBe(0);
    expect(keyId).toBe("acme-2026");
    expect((await stat(join(cwd, "acme-2026.key"))).mode & 0o777).toBe(0o600);
    expect(stdout).toContain('"trustClass": "first-party"');
  });

  it("never overwrites an existing key", async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, "k1.key"), "precious");
    const { code, stderr } = await keygen(cwd, "--publisher", "acme", "--key-id", "k1");
    expect(code).toBe(1);
    expect(stderr).toMatch(/^E_KEY_EXISTS: k1\.key already exists/m);
    expect(await readFile(join(cwd, "k1.key"), "utf8")).toBe("precious");
    await expect(stat(join(cwd, "k1.pub"))).rejects.toThrow();
  });

  it("requires --publisher (usage error) and a valid one (E_KEY_INVALID)", async () => {
    const cwd = await tempDir();
    expect(await keygen(cwd)).toMatchObject({ code: 2, stderr: expect.stringContaining("--publisher <value> is required") });
    const badPublisher = await keygen(cwd, "--publisher", "Not Valid");
    expect(badPublisher).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_KEY_INVALID: publisher must be/m) });
    // What to do about this field, not about a key file (keygen reads none).
    expect(badPublisher.stderr).toMatch(/next: pass --publisher your publisher id/);
    expect(badPublisher.stderr).not.toContain(".key file");
    expect(await keygen(cwd, "--publisher", "acme", "--class", "Bad Class")).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_KEY_INVALID: trustClass/m) });
  });
});

describe("annex trust", () => {
  it("creates a trust store, adds keys to it and lists them", async () => {
    const cwd = await tempDir();
    const a = await keygen(cwd, "--publisher", "acme");
    const b = await keygen(cwd, "--publisher", "globex", "--key-id", "globex-1");
    const first = await run(cwd, "trust", "add", "trust.json", `${a.base}.pub`, "--class", "first-party");
    expect(first).toMatchObject({ code: 0, stdout: expect.stringContaining(`added ${a.keyId} (publisher acme, class first-party) in trust.json (new file)`) });
    const second = await run(cwd, "trust", "add", "trust.json", "globex-1.pub", "--class", "partner", "--not-after", "2030-01-01");
    expect(second.code).toBe(0);

    const store = parseTrustStore(await readFile(join(cwd, "trust.json"), "utf8"));
    expect(store.keys.map((key) => [key.keyId, key.publisher, key.trustClass, key.notAfter])).toEqual([
      [a.keyId, "acme", "first-party", undefined],
      [b.keyId, "globex", "partner", "2030-01-01"],
    ]);

    const list = await run(cwd, "trust", "list", "trust.json");
    expect(list.code).toBe(0);
    expect(list.stdout).toBe(`${a.keyId}  publisher acme  class first-party\nglobex-1  publisher globex  class partner  (not after 2030-01-01)\n`);
  });

  it("updates the class of a key already there instead of adding it twice", async () => {
    const cwd = await tempDir();
    const a = await keygen(cwd, "--publisher", "acme");
    await run(cwd, "trust", "add", "trust.json", `${a.base}.pub`, "--class", "community");
    const again = await run(cwd, "trust", "add", "trust.json", `${a.base}.pub`, "--class", "partner");
    expect(again.stdout).toContain(`updated ${a.keyId}`);
    const store = parseTrustStore(await readFile(join(cwd, "trust.json"), "utf8"));
    expect(store.keys).toHaveLength(1);
    expect(store.keys[0]!.trustClass).toBe("partner");
  });

  it("refuses the same key id with another public key", async () => {
    const cwd = await tempDir();
    const one = await tempDir();
    const two = await tempDir();
    await keygen(one, "--publisher", "acme", "--key-id", "k");
    await keygen(two, "--publisher", "acme", "--key-id", "k");
    expect((await run(cwd, "trust", "add", "trust.json", join(one, "k.pub"), "--class", "partner")).code).toBe(0);
    const before = await readFile(join(cwd, "trust.json"), "utf8");
    const clash = await run(cwd, "trust", "add", "trust.json", join(two, "k.pub"), "--class", "partner");
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/^E_TRUST_CONFLICT: trust\.json already trusts key id "k" with a different public key/);
    expect(await readFile(join(cwd, "trust.json"), "utf8")).toBe(before);
  });

  it("refuses a private key file where a public key is expected", async () => {
    const cwd = await tempDir();
    const a = await keygen(cwd, "--publisher", "acme");
    const result = await run(cwd, "trust", "add", "trust.json", `${a.base}.key`, "--class", "partner");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^E_KEY_PRIVATE: acme_[0-9a-f]+\.key is a private key: never give it to a host or put it in a trust store; pass the public key file/);
    expect(result.stderr).not.toContain(parsePrivateKey(await readFile(join(cwd, `${a.base}.key`), "utf8")).privateKey);
  });

  it("points at the bad field of a broken trust store", async () => {
    const cwd = await tempDir();
    const a = await keygen(cwd, "--publisher", "acme");
    const line4 = '    { "keyId": "x", "publisher": "acme", "publicKey": "nope", "trustClass": "partner" }';
    await writeFile(join(cwd, "trust.json"), `{\n  "trustStoreVersion": 1,\n  "keys": [\n${line4}\n  ]\n}\n`);
    const result = await run(cwd, "trust", "add", "trust.json", `${a.base}.pub`, "--class", "partner");
    expect(result.code).toBe(1);
    const column = line4.indexOf('"publicKey"') + 1;
    expect(result.stderr).toMatch(new RegExp(`^trust\\.json:4:${column} keys\\[0\\]\\.publicKey\nE_TRUST_STORE: `));
  });

  it("reports invalid JSON in a trust store at its line and column", async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, "trust.json"), '{\n  "trustStoreVersion": 1,\n  "keys": [,]\n}\n');
    const result = await run(cwd, "trust", "list", "trust.json");
    expect(result).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_JSON_SYNTAX: trust\.json:3:12: the trust store is not valid JSON/) });
  });

  it("needs a subcommand, --class, and existing files", async () => {
    const cwd = await tempDir();
    expect(await run(cwd, "trust")).toMatchObject({ code: 2, stderr: expect.stringContaining("missing subcommand") });
    expect(await run(cwd, "trust", "remove", "x")).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown subcommand "remove"') });
    expect(await run(cwd, "trust", "add", "trust.json", "k.pub")).toMatchObject({ code: 2, stderr: expect.stringContaining("--class <value> is required") });
    expect(await run(cwd, "trust", "add", "trust.json", "k.pub", "--class", "partner")).toMatchObject({
      code: 1,
      stderr: "E_FILE_NOT_FOUND: public key file k.pub does not exist: check the path.\n",
    });
    expect(await run(cwd, "trust", "list", "none.json")).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_FILE_NOT_FOUND/) });
  });

  /** A folder with a key of acme's, in trust.json as a partner key, then revoked there by hand. */
  async function revokedKey() {
    const cwd = await tempDir();
    const a = await keygen(cwd, "--publisher", "acme");
    await run(cwd, "trust", "add", "trust.json", `${a.base}.pub`, "--class", "partner");
    const store = JSON.parse(await readFile(join(cwd, "trust.json"), "utf8")) as { keys: Record<string, unknown>[] };
    store.keys[0]!.revoked = true;
    await writeFile(join(cwd, "trust.json"), JSON.stringify(store));
    return { cwd, a };
  }

  it("keeps a key's revoked flag when its class is updated", async () => {
    const { cwd, a } = await revokedKey();
    await run(cwd, "trust", "add", "trust.json", `${a.base}.pub`, "--class", "first-party");
    const after = parseTrustStore(await readFile(join(cwd, "trust.json"), "utf8"));
    expect(after.keys[0]).toMatchObject({ trustClass: "first-party", revoked: true });
  });

  it("keeps a revoked public key revoked when a .pub file hands it in again under another key id", async () => {
    const { cwd, a } = await revokedKey();
    const renamed = { ...(JSON.parse(await readFile(join(cwd, `${a.base}.pub`), "utf8")) as Record<string, unknown>), keyId: "acme:rotated-2026" };
    await writeFile(join(cwd, "renamed.pub"), JSON.stringify(renamed));

    const result = await run(cwd, "trust", "add", "trust.json", "renamed.pub", "--class", "partner");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`acme:rotated-2026 stays REVOKED: its public key is revoked as ${a.keyId}`);
    const after = parseTrustStore(await readFile(join(cwd, "trust.json"), "utf8"));
    expect(after.keys.map(({ keyId, revoked }) => ({ keyId, revoked }))).toEqual([
      { keyId: a.keyId, revoked: true },
      { keyId: "acme:rotated-2026", revoked: true },
    ]);
  });
});
