/**
 * `TRUST_PROXY` means what Express's "trust proxy" means: `false`, a hop count, or addresses and subnets. It is
 * how an operator puts the host behind a TLS-terminating proxy, so that session cookies get `Secure` and
 * sign-ins are throttled per client, not per proxy. Handed to Express as the raw string, `1` (one hop) would
 * trust the address 0.0.0.1 (no proxy at all); a value that is none of these stops the start with a message
 * naming what is accepted. Whatever trusts every hop (`true`, `*`, `0.0.0.0/0` …) is refused at start
 * (E_TRUST_PROXY_ALL): Express would then take the left-most X-Forwarded-For entry, which the client writes
 * itself behind an appending proxy, as the address the sign-in throttle counts and the audit records.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseTrustProxy, TrustProxyError } from "../src/config/trust-proxy.js";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends, silentLogger } from "./support/backends.js";
import { ClientAt } from "./support/http-client.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const TSX = join(ROOT, "../../node_modules/.bin/tsx");

/** Starts src/main.ts (what `npm run demo` runs) with `env`; resolves with its URL, or rejects with its output when it exits first. */
async function startMain(env: Record<string, string>): Promise<{ url: string; child: ChildProcess; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "annex-refhost-proxy-"));
  const child = spawn(TSX, ["src/main.ts"], { cwd: ROOT, env: { ...process.env, PORT: "0", ANNEX_DATA_DIR: dir, ANNEX_LOG_LEVEL: "silent", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const fail = (error: Error) => {
      if (child.exitCode === null) child.kill("SIGTERM");
      void rm(dir, { recursive: true, force: true }).finally(() => reject(error));
    };
    const timer = setTimeout(() => fail(new Error(`no URL after 90 s: ${output}`)), 90_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Annex reference host: (http:\/\/\S+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", read);
    child.stderr!.on("data", read);
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`main.ts exited with ${code} before listening: ${output.slice(0, 600)}`));
    });
  });
  return { url, child, dir };
}

describe("parseTrustProxy", () => {
  it.each([
    ["false", false],
    ["1", 1],
    ["0", 0],
    ["2", 2],
    ["loopback", "loopback"],
    ["10.0.0.1", "10.0.0.1"],
    [" 10.0.0.0/8, 192.168.0.0/255.255.0.0 ,fc00::/7,loopback ", "10.0.0.0/8,192.168.0.0/255.255.0.0,fc00::/7,loopback"],
    ["::1", "::1"],
    [undefined, undefined],
    ["", undefined],
  ])("reads %j as %j", (raw, parsed) => {
    expect(parseTrustProxy(raw)).toEqual(parsed);
  });

  it.each(["yes", "1.5", "-1", "10.0.0.0/33", "fc00::/129", "10.0.0.1,", "proxy.example", "99999999999999999999", "true,10.0.0.1"])("refuses %j with a message naming what it accepts", (raw) => {
    expect(() => parseTrustProxy(raw)).toThrow(/TRUST_PROXY must be false, a number of proxy hops/);
  });

  it.each(["true", "TRUE", " True ", "*", "all", "0.0.0.0/0", "::/0", "10.0.0.1, 0.0.0.0/0", "0.0.0.0/0.0.0.0", "loopback,::/00"])(
    "refuses %j, which trusts every hop, with E_TRUST_PROXY_ALL saying to give the hops or the proxies' addresses",
    (raw) => {
      let thrown: unknown;
      try {
        parseTrustProxy(raw);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TrustProxyError);
      expect(thrown).toMatchObject({ code: "E_TRUST_PROXY_ALL", message: expect.stringMatching(/every X-Forwarded-For entry.*TRUST_PROXY=1.*addresses/) });
    },
  );
});

describe("createReferenceHost's trustProxy", () => {
  it("refuses true before anything is opened", async () => {
    // No dataDir, no database: the refusal comes first (a database opened here would not be closed by anyone).
    await expect(createReferenceHost({ trustProxy: true as unknown as number, logger: silentLogger })).rejects.toMatchObject({ code: "E_TRUST_PROXY_ALL" });
    await expect(createReferenceHost({ trustProxy: "10.0.0.0/8,::/0", logger: silentLogger })).rejects.toMatchObject({ code: "E_TRUST_PROXY_ALL" });
  });
});

describe.each(backends().slice(0, 1))("one trusted hop behind an appending proxy on $name", (backend) => {
  let host: ReferenceHost;
  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()), trustProxy: 1, signInLimits: { failures: { count: 3, windowMs: 60_000 }, pages: { count: 1000, windowMs: 60_000 } } });
  }, 120_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("counts and audits the address the proxy appended, never an entry the client wrote", async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 6; i += 1) {
      // What an appending proxy forwards: the client's own X-Forwarded-For, then the client's real address.
      const client = new ClientAt(host.url, `10.66.${i}.1, 203.0.113.7`);
      statuses.push((await client.signIn("gus@globex.test", `guess-${i}`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
    const lines = await host.annex.audit.list({ action: "auth.sign-in", target: "user:gus@globex.test" });
    expect(new Set(lines.map((line) => (line.details as { client?: string }).client))).toEqual(new Set(["203.0.113.7"]));
  });
});

describe("TRUST_PROXY as main.ts reads it", () => {
  const started: { child: ChildProcess; dir: string }[] = [];
  afterEach(async () => {
    for (const { child, dir } of started.splice(0)) {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("TRUST_PROXY=1 (one proxy hop) gives a request that came over HTTPS a Secure session cookie", async () => {
    const host = await startMain({ TRUST_PROXY: "1" });
    started.push(host);
    const page = await fetch(`${host.url}/login`, { headers: { "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.7" } });
    expect(page.status).toBe(200);
    // Over HTTPS the session cookie carries the __Host- prefix (Secure, Path=/, no Domain): see session-cookie-prefix.test.ts.
    const cookie = page.headers.getSetCookie().find((line) => line.startsWith("__Host-refhost.sid="));
    expect(cookie).toBeDefined();
    expect(cookie).toMatch(/;\s*Secure/i);
  }, 120_000);

  it("TRUST_PROXY=yes stops the start with a message, before anything is opened", async () => {
    const failed = await startMain({ TRUST_PROXY: "yes" }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(failed).toMatch(/exited with 2 before listening: TRUST_PROXY must be false, a number of proxy hops/);
  }, 120_000);

  it("TRUST_PROXY=true stops the start, saying to give the number of proxy hops or the proxies' addresses", async () => {
    const failed = await startMain({ TRUST_PROXY: "true" }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(failed).toMatch(/exited with 2 before listening: TRUST_PROXY=true would trust every X-Forwarded-For entry.*TRUST_PROXY=1/);
  }, 120_000);
});
