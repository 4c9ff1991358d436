/**
 * `annex admin …` driven against the reference host in-process: the real CLI
 * (main of @annex/cli, the code of the binary) calling the real admin API
 * over HTTP with a bearer token. Consent is explicit, every refusal is a
 * typed error with a next step, and a refused call changes nothing.
 */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "@annex/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, loadDemoKeys, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { releaseVariant } from "./support/variants.js";

const GREETER = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures/greeter");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe.each(backends())("annex admin against the reference host on $name", (backend) => {
  let host: ReferenceHost;
  let token: string;
  let cwd: string;
  const annex = async (argv: string[], env: Record<string, string | undefined> = {}): Promise<Run> => {
    let stdout = "";
    let stderr = "";
    const code = await main(argv, { cwd, env, stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
    return { code, stdout, stderr };
  };
  const as = (argv: string[], extra: string[] = []) => annex(["admin", ...argv, "--host", host.url, "--token", token, ...extra]);

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()), extraExtensions: [GREETER] });
    token = await host.createApiToken("u-ada");
    cwd = await mkdtemp(join(tmpdir(), "annex-cli-admin-"));
  }, 180_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
    if (cwd !== undefined) await rm(cwd, { recursive: true, force: true });
  });

  it("lists the published extensions and the tenant's installs, as a table and as JSON", async () => {
    const table = await as(["list"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain("tenant acme, as ada@acme.test");
    expect(table.stdout).toMatch(/^acme\.greeter\s+-\s+-\s+1\.0\.0$/m);
    const json = await as(["list", "--json"]);
    const parsed = JSON.parse(json.stdout) as { tenant: string; extensions: { id: string }[]; installs: unknown[] };
    expect(parsed.tenant).toBe("acme");
    expect(parsed.extensions.map((e) => e.id)).toContain("acme.greeter");
    expect(parsed.installs).toEqual([]);
  });

  it("installs only after explicit consent: without it the capabilities are printed and nothing changes", async () => {
    // 1.0.0: the host also publishes Hello 1.1.0 (examples/extensions/hello-1.1), which asks for one capability more.
    const refused = await as(["install", "acme.hello", "--version", "1.0.0"]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("acme.hello@1.0.0 asks for these 2 capabilities:");
    expect(refused.stdout).toContain("  user.read\n      why: Names the signed-in user");
    expect(refused.stderr).toMatch(/^E_CONSENT_REQUIRED: not accepted: log, user.read\. .*--accept log,user.read/m);
    const partly = await as(["install", "acme.hello", "--version", "1.0.0", "--accept", "log"]);
    expect(partly.code).toBe(1);
    expect(partly.stderr).toContain("E_CONSENT_REQUIRED: not accepted: user.read.");
    expect(await host.annex.getInstall("acme", "acme.hello")).toBeNull();

    const done = await as(["install", "acme.hello", "--version", "1.0.0", "--accept", "log,user.read"]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain("installed acme.hello@1.0.0 for tenant acme (active)\ngranted: log, user.read");
    const install = await host.annex.getInstall("acme", "acme.hello");
    expect(install?.state).toBe("active");
    expect(install?.grants.map((g) => g.name)).toEqual(["log", "user.read"]);
    const audit = await host.annex.audit.list({ tenant: "acme", action: "install.install" });
    expect(audit.at(-1)?.actor).toBe("user:ada@acme.test");

    const again = await as(["install", "acme.hello", "--yes"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^E_INSTALL_EXISTS: .*\n {2}next: it is installed already: `annex admin upgrade <id>`/m);
  });

  it("installs with settings, disables and enables (the gateway follows), and takes the token from ANNEX_ADMIN_TOKEN", async () => {
    const bad = await as(["install", "acme.greeter", "--yes", "--config", '{"greeting":"Hallo"}']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^E_CONFIG_INVALID: /m);
    expect(await host.annex.getInstall("acme", "acme.greeter")).toBeNull();
    const installed = await as(["install", "acme.greeter", "--yes", "--config", '{"greeting":"Hola"}']);
    expect(installed.code, installed.stderr).toBe(0);
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.config).toMatchObject({ greeting: "Hola" });

    const motto = () => fetch(`${host.url}/ext/acme.greeter/public/motto?tenant=acme`).then((r) => r.status);
    expect(await motto()).toBe(200);
    const disabled = await annex(["admin", "disable", "acme.greeter", "--host", host.url], { ANNEX_ADMIN_TOKEN: token });
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stdout).toBe("disabled acme.greeter@1.0.0 for tenant acme (disabled)\n");
    expect(await motto()).toBe(404);
    const twice = await as(["disable", "acme.greeter"]);
    expect(twice.stderr).toMatch(/^E_ILLEGAL_TRANSITION: /m);
    expect((await as(["enable", "acme.greeter"])).code).toBe(0);
    expect(await motto()).toBe(200);
  });

  it("upgrades: a version that widens capabilities waits for --accept or --yes; one that widens nothing goes through", async () => {
    const key = (await loadDemoKeys((await backend.options()).dataDir!, ["acme"])).publisherKeys.get("acme")!;
    const wider = await releaseVariant(GREETER, key, (m) => {
      m["version"] = "1.2.0";
      (m["capabilities"] as unknown[]).push({ name: "http.fetch", hosts: ["api.example.com"], reason: "Looks up names." });
    });
    await host.annex.publish(wider.bytes, wider.signature);
    const refused = await as(["upgrade", "acme.greeter"]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("acme.greeter 1.0.0 → 1.2.0 asks for this capability:\n  http.fetch (hosts: api.example.com)\n      why: Looks up names.");
    expect(refused.stderr).toContain("E_CONSENT_REQUIRED: not accepted: http.fetch.");
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.version).toBe("1.0.0");

    const done = await as(["upgrade", "acme.greeter", "--accept", "http.fetch"]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe("upgraded acme.greeter 1.0.0 → 1.2.0 for tenant acme (active)\n");
    const install = await host.annex.getInstall("acme", "acme.greeter");
    expect(install?.version).toBe("1.2.0");
    expect(install?.config).toMatchObject({ greeting: "Hola" });

    // Back to 1.0.0 narrows: no consent needed.
    const back = await as(["upgrade", "acme.greeter", "--version", "1.0.0"]);
    expect(back.code, back.stderr).toBe(0);
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.version).toBe("1.0.0");
    const missing = await as(["upgrade", "acme.greeter", "--version", "9.9.9"]);
    expect(missing.stderr).toMatch(/^E_VERSION_NOT_FOUND: .*\n {2}next: run `annex admin list`/m);
  });

  it("upgrades: a version that only exposes the install to more callers waits for --accept exposure", async () => {
    const key = (await loadDemoKeys((await backend.options()).dataDir!, ["acme"])).publisherKeys.get("acme")!;
    const open = await releaseVariant(GREETER, key, (m) => {
      m["version"] = "1.3.0";
      for (const endpoint of m["endpoints"] as Array<Record<string, unknown>>) if (endpoint["path"] === "/greet/:name") endpoint["class"] = "public";
    });
    await host.annex.publish(open.bytes, open.signature);
    const greet = () => fetch(`${host.url}/ext/acme.greeter/public/greet/x?tenant=acme`).then((r) => r.status);
    const refused = await as(["upgrade", "acme.greeter", "--version", "1.3.0"]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("acme.greeter 1.0.0 → 1.3.0 exposes the install to more callers:\n  ");
    expect(refused.stdout).toContain("/greet/:name");
    expect(refused.stderr).toContain("E_CONSENT_REQUIRED: not accepted: exposure.");
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.version).toBe("1.0.0");
    expect(await greet()).toBe(404);

    const done = await as(["upgrade", "acme.greeter", "--version", "1.3.0", "--accept", "exposure"]);
    expect(done.code, done.stderr).toBe(0);
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.version).toBe("1.3.0");
    expect(await greet()).toBe(200);
    expect((await as(["upgrade", "acme.greeter", "--version", "1.0.0"])).code).toBe(0);
  });

  it("uninstalls keeping the data, or purges and writes the export (mode 0600) first", async () => {
    const kept = await as(["uninstall", "acme.hello"]);
    expect(kept.code, kept.stderr).toBe(0);
    expect((await host.annex.getInstall("acme", "acme.hello"))?.state).toBe("uninstalled");

    await host.annex.setSecrets("acme", "acme.greeter", { SIGNING_KEY: "k-secret-123" });
    const purged = await as(["uninstall", "acme.greeter", "--purge", "--export", "greeter-export.json"]);
    expect(purged.code, purged.stderr).toBe(0);
    expect(purged.stdout).toBe("uninstalled and purged acme.greeter for tenant acme; its export is in greeter-export.json\n");
    const file = join(cwd, "greeter-export.json");
    const text = await readFile(file, "utf8");
    expect(JSON.parse(text)).toMatchObject({ install: { extensionId: "acme.greeter" }, config: { greeting: "Hola" }, secretNames: ["SIGNING_KEY"] });
    expect(text).not.toContain("k-secret-123");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await host.annex.getInstall("acme", "acme.greeter")).toBeNull();
    const gone = await as(["uninstall", "acme.greeter"]);
    expect(gone.stderr).toMatch(/^E_INSTALL_NOT_FOUND: .*\n {2}next: run `annex admin list`/m);
  });

  it("answers typed errors with next steps: unreachable host, bad token, a member, no admin API, another tenant", async () => {
    const port = await closedPort();
    const refused = await annex(["admin", "list", "--host", `http://127.0.0.1:${port}`, "--token", token]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^E_HOST_UNREACHABLE: could not reach http://127.0.0.1:${port}: connection refused.*\\n {2}next: check --host`, "m"));

    const unknown = await annex(["admin", "list", "--host", host.url, "--token", "annex_not-a-token"]);
    expect(unknown.stderr).toMatch(/^E_HOST_UNAUTHENTICATED: .*refused the token \(401 E_UNAUTHENTICATED\).*\n {2}next: make a new token/m);

    const member = await annex(["admin", "install", "acme.hello", "--yes", "--host", host.url, "--token", await host.createApiToken("u-max")]);
    expect(member.stderr).toMatch(/^E_HOST_FORBIDDEN: .*not an administrator.*\n {2}next: use a token made by an administrator/m);

    const elsewhere = await annex(["admin", "list", "--host", `${host.url}/somewhere`, "--token", token]);
    expect(elsewhere.stderr).toMatch(/^E_HOST_NOT_FOUND: .*\/somewhere\/admin\/api\/session does not exist \(404\)/m);

    const other = await annex(["admin", "install", "acme.hello", "--yes", "--tenant", "globex", "--host", host.url, "--token", token]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^E_TENANT_MISMATCH: the token belongs to ada@acme.test of tenant "acme", not "globex": nothing was changed/m);
    expect((await host.annex.getInstall("acme", "acme.hello"))?.state).toBe("uninstalled");

    // Gus (globex) sees none of acme's installs and cannot touch them.
    const gus = await host.createApiToken("u-gus");
    const globex = await annex(["admin", "list", "--json", "--host", host.url, "--token", gus]);
    expect((JSON.parse(globex.stdout) as { tenant: string; installs: unknown[] }).installs).toEqual([]);
    const touch = await annex(["admin", "disable", "acme.hello", "--host", host.url, "--token", gus]);
    expect(touch.stderr).toMatch(/^E_INSTALL_NOT_FOUND: /m);
  });

  it("refuses publishing through the admin API and annex dev: this host is not in dev trust mode", async () => {
    const key = (await loadDemoKeys((await backend.options()).dataDir!, ["acme"])).publisherKeys.get("acme")!;
    const signed = await releaseVariant(GREETER, key, (m) => {
      m["version"] = "1.9.0";
    });
    const response = await fetch(`${host.url}/admin/api/extensions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream", "x-annex-signature": Buffer.from(JSON.stringify(signed.signature)).toString("base64") },
      body: signed.bytes as Uint8Array<ArrayBuffer>,
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { code: string }).code).toBe("E_DEV_MODE_REQUIRED");
    expect((await host.annex.registry.listVersions("acme.greeter")).map((v) => v.manifest.version)).not.toContain("1.9.0");
    const dev = await annex(["dev", GREETER, "--once", "--yes", "--host", host.url, "--token", token]);
    expect(dev.code).toBe(1);
    expect(dev.stderr).toMatch(/^E_DEV_MODE_REQUIRED: .*\n {2}next: `annex dev` publishes only to a host in dev trust mode/m);
    expect((await host.annex.registry.listVersions("acme.greeter")).some((v) => v.manifest.version.includes("-dev."))).toBe(false);
  });

  it("lists the tenant's jobs, runs one now and shows its runs; typed errors for a missing job, a disabled install, another tenant", async () => {
    const installed = await as(["install", "acme.web-analytics", "--yes"]);
    expect(installed.code, installed.stderr).toBe(0);
    const jobs = await as(["jobs"]);
    expect(jobs.code, jobs.stderr).toBe(0);
    expect(jobs.stdout).toMatch(/^acme\.web-analytics\s+rollup\s+2 \* \* \* \*\s+UTC\s+\d{4}-\d\d-\d\dT\S+\s+-$/m);
    const listed = JSON.parse((await as(["jobs", "--json"])).stdout) as Array<{ extensionId: string; name: string; installId: string }>;
    expect(listed.filter((job) => job.extensionId === "acme.web-analytics").map((job) => job.name)).toEqual(["rollup"]);

    const ran = await as(["run", "acme.web-analytics", "rollup"]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/^ran acme\.web-analytics rollup: ok in \d+ ms \(run \S+, version 1\.0\.0\)$/m);
    const runs = await as(["runs", "acme.web-analytics", "rollup"]);
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toMatch(/^\S+\s+manual \(\S+\)\s+1\.0\.0\s+ok\s+\d+ ms$/m);
    const asJson = JSON.parse((await as(["runs", "acme.web-analytics", "rollup", "--limit", "1", "--json"])).stdout) as Array<{ outcome: string; trigger: string }>;
    expect(asJson).toHaveLength(1);
    expect(asJson[0]).toMatchObject({ outcome: "ok", trigger: "manual" });
    expect((await as(["jobs"])).stdout).toMatch(/^acme\.web-analytics\s+rollup.*\sok at \S+$/m);

    const missing = await as(["run", "acme.web-analytics", "nightly"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^E_JOB_NOT_FOUND: annex admin run: acme\.web-analytics has no job "nightly" \(its jobs: rollup\)\.\n {2}next: run `annex admin jobs`/m);
    const notInstalled = await as(["runs", "acme.docs", "rollup"]);
    expect(notInstalled.stderr).toMatch(/^E_JOB_NOT_FOUND: annex admin runs: this tenant has no install of acme\.docs with jobs/m);

    expect((await as(["disable", "acme.web-analytics"])).code).toBe(0);
    const paused = await as(["run", "acme.web-analytics", "rollup"]);
    expect(paused.code).toBe(1);
    expect(paused.stderr).toMatch(/^E_JOB_INSTALL_NOT_ACTIVE: .*\n {2}next: the install is disabled or changing/m);
    expect((await as(["enable", "acme.web-analytics"])).code).toBe(0);

    // Gus (globex) sees none of acme's jobs and cannot run them.
    const gus = await host.createApiToken("u-gus");
    const theirs = await annex(["admin", "jobs", "--json", "--host", host.url, "--token", gus]);
    expect(JSON.parse(theirs.stdout)).toEqual([]);
    const run = await annex(["admin", "run", "acme.web-analytics", "rollup", "--host", host.url, "--token", gus]);
    expect(run.stderr).toMatch(/^E_JOB_NOT_FOUND: /m);
    const installId = listed.find((job) => job.extensionId === "acme.web-analytics")!.installId;
    expect((await host.annex.jobs.runs({ installId, name: "rollup", tenant: "acme" })).items).toHaveLength(1);
  });

  it("refuses a bad command line before any network call", async () => {
    const none = await annex(["admin", "list", "--host", host.url]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^E_USAGE: annex admin list: an admin API token is required: --token <token> or ANNEX_ADMIN_TOKEN/m);
    const clear = await annex(["admin", "list", "--host", "http://203.0.113.9:3000", "--token", token]);
    expect(clear.code).toBe(2);
    expect(clear.stderr).toContain("plain http on another machine: the token would cross the network in clear");
    const sub = await annex(["admin", "remove", "acme.hello"]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain('unknown command "remove"');
    const badConfig = await as(["install", "acme.greeter", "--yes", "--config", "[1]"]);
    expect(badConfig.code).toBe(2);
    const exportAlone = await as(["uninstall", "acme.greeter", "--export", "x.json"]);
    expect(exportAlone.code).toBe(2);
    const noJob = await as(["run", "acme.web-analytics"]);
    expect(noJob.code).toBe(2);
    const badLimit = await annex(["admin", "runs", "acme.web-analytics", "rollup", "--limit", "0", "--host", "http://127.0.0.1:1", "--token", token]);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toMatch(/^E_USAGE: annex admin runs: --limit must be a whole number from 1 to 100, got "0"/m);
  });
});

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
