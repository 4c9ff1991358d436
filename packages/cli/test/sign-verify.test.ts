import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseSignature } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import { run, serviceFolder, serviceManifest, tempDir, writeTree } from "./helpers.js";

/** A working folder with a packed bundle, a key pair for acme and a trust store trusting it. */
async function signedSetup() {
  const cwd = await tempDir();
  await serviceFolder(join(cwd, "ext"));
  expect((await run(cwd, "pack", "ext", "-o", "hello.annex")).code).toBe(0);
  expect((await run(cwd, "keygen", "--publisher", "acme", "--key-id", "acme-1")).code).toBe(0);
  expect((await run(cwd, "trust", "add", "trust.json", "acme-1.pub", "--class", "first-party")).code).toBe(0);
  return cwd;
}

describe("annex sign", () => {
  it("writes <bundle>.sig binding the bundle's content hash and publisher", async () => {
    const cwd = await signedSetup();
    const { code, stdout } = await run(cwd, "sign", "hello.annex", "--key", "acme-1.key");
    expect(code).toBe(0);
    const signature = parseSignature(JSON.parse(await readFile(join(cwd, "hello.annex.sig"), "utf8")));
    expect(signature).toMatchObject({ algorithm: "ed25519", keyId: "acme-1", publisher: "acme" });
    expect(stdout).toBe(`signed acme.hello@1.0.0 → hello.annex.sig\ncontent hash: ${signature.contentHash}\nkey: acme-1 (publisher acme)\n`);
  });

  it("writes the signature where -o says", async () => {
    const cwd = await signedSetup();
    expect((await run(cwd, "sign", "hello.annex", "--key", "acme-1.key", "-o", "elsewhere.sig")).code).toBe(0);
    expect(parseSignature(JSON.parse(await readFile(join(cwd, "elsewhere.sig"), "utf8"))).keyId).toBe("acme-1");
  });

  it.each([0o640, 0o604, 0o644])("refuses a key file with mode %s and says chmod 600", async (mode) => {
    const cwd = await signedSetup();
    await chmod(join(cwd, "acme-1.key"), mode);
    const { code, stderr } = await run(cwd, "sign", "hello.annex", "--key", "acme-1.key");
    expect(code).toBe(1);
    expect(stderr).toMatch(/^E_KEY_PERMISSIONS: key file acme-1\.key is readable by group or others \(mode 06\d\d\).*run `chmod 600 acme-1\.key`/);
    await expect(readFile(join(cwd, "hello.annex.sig"))).rejects.toThrow();
  });

  it("says a .pub file passed as --key is a public key, whatever its mode, and names the .key beside it", async () => {
    const cwd = await signedSetup();
    for (const mode of [0o644, 0o600]) {
      await chmod(join(cwd, "acme-1.pub"), mode);
      const { code, stderr } = await run(cwd, "sign", "hello.annex", "--key", "acme-1.pub");
      expect(code).toBe(1);
      expect(stderr).toMatch(/^E_KEY_PUBLIC: acme-1\.pub is a public key: it lets hosts verify signatures but cannot sign; pass the private key file annex keygen wrote beside it \(acme-1\.key\)\./);
      expect(stderr).not.toContain("chmod");
    }
    await expect(readFile(join(cwd, "hello.annex.sig"))).rejects.toThrow();
  });

  it("refuses a key of another publisher", async () => {
    const cwd = await signedSetup();
    await run(cwd, "keygen", "--publisher", "globex", "--key-id", "globex-1");
    const { code, stderr } = await run(cwd, "sign", "hello.annex", "--key", "globex-1.key");
    expect(code).toBe(1);
    expect(stderr).toMatch(/E_KEY_PUBLISHER: key globex-1 signs for publisher "globex", but hello\.annex is published by "acme"/);
  });

  it("refuses a file that is not a bundle, and a public key in place of the private one", async () => {
    const cwd = await signedSetup();
    await writeFile(join(cwd, "junk.annex"), "not a bundle");
    expect(await run(cwd, "sign", "junk.annex", "--key", "acme-1.key")).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_BUNDLE_FORMAT: /m) });
    await chmod(join(cwd, "acme-1.pub"), 0o600);
    expect(await run(cwd, "sign", "hello.annex", "--key", "acme-1.pub")).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_KEY_PUBLIC: /m) });
  });

  it("needs --key", async () => {
    const cwd = await tempDir();
    expect(await run(cwd, "sign", "x.annex")).toMatchObject({ code: 2, stderr: expect.stringContaining("--key <value> is required") });
    expect(await run(cwd, "sign", "x.annex", "--key", "missing.key")).toMatchObject({
      code: 1,
      stderr: "E_FILE_NOT_FOUND: key file missing.key does not exist: check the path.\n",
    });
  });
});

describe("annex verify", () => {
  it("exits 0 and prints the provenance of a signed bundle from a trusted key", async () => {
    const cwd = await signedSetup();
    await run(cwd, "sign", "hello.annex", "--key", "acme-1.key");
    const { code, stdout } = await run(cwd, "verify", "hello.annex", "--trust", "trust.json");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^verified acme\.hello@1\.0\.0\ncontent hash: sha256:[0-9a-f]{64}\npublisher: acme\nsigned by: acme-1 \(trust class first-party\)\nmode: strict\nverified at: \d{4}-/);
  });

  it("prints the provenance as JSON with --json", async () => {
    const cwd = await signedSetup();
    await run(cwd, "sign", "hello.annex", "--key", "acme-1.key");
    const { code, stdout } = await run(cwd, "verify", "hello.annex", "--trust", "trust.json", "--json");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ id: "acme.hello", version: "1.0.0", signed: true, mode: "strict", keyId: "acme-1", trustClass: "first-party", publisher: "acme" });
  });

  it("reads the signature from --sig", async () => {
    const cwd = await signedSetup();
    await run(cwd, "sign", "hello.annex", "--key", "acme-1.key", "-o", "sigs/hello.sig");
    expect((await run(cwd, "verify", "hello.annex", "--trust", "trust.json", "--sig", "sigs/hello.sig")).code).toBe(0);
    expect(await run(cwd, "verify", "hello.annex", "--trust", "trust.json", "--sig", "nope.sig")).toMatchObject({
      code: 1,
      stderr: "E_FILE_NOT_FOUND: signature file nope.sig does not exist: check the path.\n",
    });
  });

  it("fails with E_SIGNATURE_MISSING for an unsigned bundle in strict mode, and accepts it with --dev, saying so", async () => {
    const cwd = await signedSetup();
    const strict = await run(cwd, "verify", "hello.annex", "--trust", "trust.json");
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/^E_SIGNATURE_MISSING: /m);
    expect(strict.stderr).toContain("next: sign the bundle with `annex sign");
    const dev = await run(cwd, "verify", "hello.annex", "--dev");
    expect(dev.code).toBe(0);
    expect(dev.stdout).toContain("UNSIGNED, accepted only because of --dev");
    expect(dev.stdout).toContain("mode: dev");
  });

  it("fails with E_SIGNATURE_UNTRUSTED when the trust store does not list the key", async () => {
    const cwd = await signedSetup();
    await run(cwd, "sign", "hello.annex", "--key", "acme-1.key");
    await writeFile(join(cwd, "empty.json"), JSON.stringify({ trustStoreVersion: 1, keys: [] }));
    const { code, stderr } = await run(cwd, "verify", "hello.annex", "--trust", "empty.json");
    expect(code).toBe(1);
    expect(stderr).toMatch(/^E_SIGNATURE_UNTRUSTED: /m);
    expect(stderr).toContain("annex trust add");
  });

  it("fails with E_SIGNATURE_EXPIRED for a key past its notAfter date", async () => {
    const cwd = await signedSetup();
    await run(cwd, "sign", "hello.annex", "--key", "acme-1.key");
    await run(cwd, "trust", "add", "trust.json", "acme-1.pub", "--class", "first-party", "--not-after", "2020-01-01");
    expect(await run(cwd, "verify", "hello.annex", "--trust", "trust.json")).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_SIGNATURE_EXPIRED: /m) });
  });

  it("rejects a bundle changed after signing (repacked with other content)", async () => {
    const cwd = await signedSetup();
    await run(cwd, "sign", "hello.annex", "--key", "acme-1.key");
    await writeFile(join(cwd, "ext/ui/index.html"), "<p>changed</p>");
    await run(cwd, "pack", "ext", "-o", "tampered.annex");
    await writeFile(join(cwd, "tampered.annex.sig"), await readFile(join(cwd, "hello.annex.sig")));
    const { code, stdout, stderr } = await run(cwd, "verify", "tampered.annex", "--trust", "trust.json");
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^E_SIGNATURE_INVALID: /m);
  });

  it("rejects a bundle whose bytes were flipped", async () => {
    const cwd = await signedSetup();
    await run(cwd, "sign", "hello.annex", "--key", "acme-1.key");
    const bytes = await readFile(join(cwd, "hello.annex"));
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(join(cwd, "hello.annex"), bytes);
    const { code, stderr } = await run(cwd, "verify", "hello.annex", "--trust", "trust.json");
    expect(code).toBe(1);
    expect(stderr).toMatch(/^E_(BUNDLE_FORMAT|HASH_MISMATCH): /m);
  });

  it("rejects a signature by another key that reuses a trusted key id", async () => {
    const cwd = await signedSetup();
    const other = await tempDir();
    await run(other, "keygen", "--publisher", "acme", "--key-id", "acme-1");
    await chmod(join(other, "acme-1.key"), 0o600);
    await run(cwd, "sign", "hello.annex", "--key", join(other, "acme-1.key"));
    expect(await run(cwd, "verify", "hello.annex", "--trust", "trust.json")).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_SIGNATURE_INVALID: /m) });
  });

  it("needs --trust unless --dev, and reports a malformed signature file", async () => {
    const cwd = await signedSetup();
    expect(await run(cwd, "verify", "hello.annex")).toMatchObject({ code: 2, stderr: expect.stringContaining("--trust <trust.json> is required") });
    await writeFile(join(cwd, "hello.annex.sig"), '{"algorithm": "ed25519"');
    expect(await run(cwd, "verify", "hello.annex", "--trust", "trust.json")).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^E_JSON_SYNTAX: hello\.annex\.sig:1:24: the signature is not valid JSON/m),
    });
    await writeFile(join(cwd, "hello.annex.sig"), '{"algorithm": "rsa"}');
    expect(await run(cwd, "verify", "hello.annex", "--trust", "trust.json")).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_SIGNATURE_INVALID: /m) });
  });
});

describe("annex inspect", () => {
  it("prints the manifest summary, capabilities with reasons, endpoints, pages, files with sizes and the content hash", async () => {
    const cwd = await tempDir();
    await serviceFolder(join(cwd, "ext"), {
      capabilities: [
        { name: "log", reason: "Writes request logs for debugging." },
        { name: "http.fetch", hosts: ["api.example.com"], reason: "Looks up exchange rates." },
      ],
    });
    await run(cwd, "pack", "ext", "-o", "hello.annex");
    const { code, stdout } = await run(cwd, "inspect", "hello.annex");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Hello — acme\.hello@1\.0\.0\n  Says hello\.\npublisher: acme\nruntime: service \(entry server\/index\.js\)\n/);
    expect(stdout).toMatch(/content hash: sha256:[0-9a-f]{64}\n/);
    expect(stdout).toContain("capabilities (2):\n  log\n    why: Writes request logs for debugging.\n  http.fetch [hosts: api.example.com]\n    why: Looks up exchange rates.\n");
    expect(stdout).toContain("endpoints (1):\n  api     GET    /hello/:name → hello\n");
    expect(stdout).toContain('app       / → ui/index.html "Hello"');
    expect(stdout).toMatch(/files \(4, [\d.]+ k?B; archive [\d.]+ k?B\):\n( +[\d.]+ k?B  \S+\n){4}/);
    expect(stdout).toContain("signature: none beside the bundle");
  });

  it("prints JSON with --json, and shows a signature beside the bundle without trusting it", async () => {
    const cwd = await signedSetup();
    await run(cwd, "sign", "hello.annex", "--key", "acme-1.key");
    const { code, stdout } = await run(cwd, "inspect", "hello.annex", "--json");
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as Record<string, unknown> & { files: { path: string; size: number; sha256: string }[] };
    expect(summary).toMatchObject({
      id: "acme.hello",
      version: "1.0.0",
      capabilities: [{ name: "log", reason: "Writes request logs for debugging." }],
      endpoints: [{ class: "api", method: "GET", path: "/hello/:name", handler: "hello" }],
      signature: { keyId: "acme-1", publisher: "acme", verified: false },
    });
    expect(summary.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(summary.files.map((file) => file.path)).toEqual(["annex.json", "server/index.js", "server/index.js.map", "ui/index.html"]);
    const text = await run(cwd, "inspect", "hello.annex");
    expect(text.stdout).toContain("signature: by acme-1 (publisher acme), not checked here: run annex verify");
  });

  it("lists jobs, events and secret names", async () => {
    const cwd = await tempDir();
    await serviceFolder(join(cwd, "ext"), {
      capabilities: [
        { name: "secrets.read", names: ["API_TOKEN"], reason: "Calls the partner API with its token." },
        { name: "events.publish", types: ["greeting.sent"], reason: "Tells other extensions about greetings." },
      ],
      secrets: ["API_TOKEN"],
      jobs: [{ name: "nightly-sync", cron: "0 3 * * *", handler: "sync", timezone: "Europe/Paris" }],
      events: { publishes: [{ type: "greeting.sent" }], subscribes: [] },
    });
    await writeFile(join(cwd, "ext/src/server.ts"), "export const hello = () => 1;\nexport const sync = () => 2;\n");
    const pack = await run(cwd, "pack", "ext", "-o", "x.annex");
    expect(pack.code, pack.stderr).toBe(0);
    const { stdout } = await run(cwd, "inspect", "x.annex");
    expect(stdout).toContain('jobs (1):\n  nightly-sync  "0 3 * * *" (Europe/Paris) → sync\n');
    expect(stdout).toContain("events:\n  publishes greeting.sent\n");
    expect(stdout).toContain("secrets (names only): API_TOKEN\n");
    expect(stdout).toContain("  secrets.read [names: API_TOKEN]\n    why: Calls the partner API with its token.\n");
  });

  it("lists the settings an admin fills in, the limits asked for and the migrations in the order the host applies them", async () => {
    const cwd = await tempDir();
    await serviceFolder(join(cwd, "ext"), {
      capabilities: [{ name: "storage.sql", reason: "Keeps the greetings sent." }],
      config: {
        greeting: { type: "string", default: "Hello", maxLength: 40, description: "What each greeting starts with." },
        tone: { type: "enum", values: ["warm", "formal"], required: true },
        retries: { type: "integer", min: 0, max: 5 },
      },
      limits: { cpuMs: 50, wallMs: 2000 },
      storage: { kind: "owned-schema", migrations: "migrations", limits: { maxRows: 500 } },
    });
    await writeTree(join(cwd, "ext"), {
      "migrations/0002_index.sql": "CREATE INDEX greetings_at ON greetings (at);\n",
      "migrations/0001_greetings.sql": "CREATE TABLE greetings (id serial PRIMARY KEY, at timestamptz NOT NULL);\n",
    });
    const pack = await run(cwd, "pack", "ext", "-o", "x.annex");
    expect(pack.code, pack.stderr).toBe(0);
    const { stdout } = await run(cwd, "inspect", "x.annex");
    expect(stdout).toContain(
      'settings (3), filled in by the admin at install:\n  greeting  string, default "Hello", at most 40 characters\n    What each greeting starts with.\n  tone      enum (warm | formal), required\n  retries   integer, min 0, max 5\n',
    );
    expect(stdout).toContain("limits asked per request: cpuMs 50, wallMs 2000 (the host caps each)\n");
    expect(stdout).toMatch(
      /storage: owned-schema\n  limits asked: maxRows 500 \(the host caps each\)\n  migrations in migrations \(2, applied in this order, checked by the host at install\):\n    migrations\/0001_greetings\.sql  \d+ B\n    migrations\/0002_index\.sql  \d+ B\n/,
    );
    const json = JSON.parse((await run(cwd, "inspect", "x.annex", "--json")).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({
      config: { tone: { type: "enum", values: ["warm", "formal"], required: true } },
      limits: { cpuMs: 50, wallMs: 2000 },
      migrations: [{ path: "migrations/0001_greetings.sql" }, { path: "migrations/0002_index.sql" }],
    });
  });

  it("refuses a file that is not a bundle", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, { "x.annex": "garbage" });
    expect(await run(cwd, "inspect", "x.annex")).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_BUNDLE_FORMAT: /) });
  });

  it("works on a bundle packed from the canonical manifest", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, {
      "ext/annex.json": JSON.stringify(serviceManifest({ runtime: { class: "service", entry: "server/index.js" } })),
      "ext/server/index.js": "export function hello() { return 1; }\n",
    });
    expect((await run(cwd, "pack", "ext", "-o", "c.annex")).code).toBe(0);
    expect((await run(cwd, "inspect", "c.annex")).stdout).toContain("files (2,");
  });
});
