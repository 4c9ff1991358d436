import { createServer, type Server } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkAddress, parseCidrList } from "../../src/egress/address.js";
import { egressFetch, type EgressLookup, type EgressRequest } from "../../src/egress/fetch.js";
import { toGuestError } from "../../src/errors.js";
import { createHostDispatch } from "../../src/host-apis.js";
import { hostAllowed, hostMatchesPattern } from "../../src/egress/hosts.js";
import { createInMemoryRunner } from "../../src/in-memory-runner.js";
import { createWorkerPoolRunner } from "../../src/index.js";
import type { Runner } from "../../src/runner.js";
import { buildBundle, envelopeFor } from "../support/fixtures.js";
import { until } from "../support/until.js";

describe("host patterns", () => {
  it.each([
    ["api.example.com", "https://api.example.com/x", true],
    ["api.example.com", "https://API.Example.com./x", true],
    ["api.example.com", "https://api.example.com:8443/x", false],
    ["api.example.com:8443", "https://api.example.com:8443/x", true],
    ["api.example.com", "http://api.example.com/x", true],
    ["*.example.com", "https://a.b.example.com/", true],
    ["*.example.com", "https://example.com/", false],
    ["*.example.com", "https://evilexample.com/", false],
    ["example.com", "https://example.com.evil.test/", false],
    ["127.0.0.1", "http://127.0.0.1/", true],
  ])("%s against %s → %s", (pattern, url, expected) => {
    expect(hostMatchesPattern(pattern, new URL(url))).toBe(expected);
  });

  it("denies everything when a list is empty, and needs a match in every list", () => {
    expect(hostAllowed(new URL("https://api.example.com/"), [])).toBe(false);
    expect(hostAllowed(new URL("https://api.example.com/"), ["*.example.com"], ["api.example.com"])).toBe(true);
    expect(hostAllowed(new URL("https://www.example.com/"), ["*.example.com"], ["api.example.com"])).toBe(false);
  });
});

describe("address policy", () => {
  it.each([
    "127.0.0.1",
    "127.5.5.5",
    "10.0.0.1",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",
    "2002:7f00:1::1",
  ])("denies %s", (address) => {
    const verdict = checkAddress(address, []);
    expect(verdict.ok).toBe(false);
  });

  it.each(["93.184.216.34", "8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8"])("allows public %s", (address) => {
    expect(checkAddress(address, []).ok).toBe(true);
  });

  it("allows listed ranges when the runner's policy says so", () => {
    const allowed = parseCidrList(["127.0.0.1/32", "10.1.0.0/16"], "allowAddresses");
    expect(checkAddress("127.0.0.1", allowed).ok).toBe(true);
    expect(checkAddress("10.1.2.3", allowed).ok).toBe(true);
    expect(checkAddress("10.2.0.1", allowed).ok).toBe(false);
    expect(() => parseCidrList(["nope"], "allowAddresses")).toThrow(/allowAddresses\[0\]/);
  });
});

/** 3 MiB of JSON after a BOM, with 2-, 3- and 4-byte characters: over half the 5 MiB result limit, within maxResponseBytes. */
const LARGE_TEXT = Buffer.concat([
  Buffer.from([0xef, 0xbb, 0xbf]),
  Buffer.from(JSON.stringify({ words: Array.from({ length: 3 * 1024 * 1024 / 32 }, (_, n) => `caf\u00e9 \u20ac${n % 10} \u{1F600} abcdefgh`) })),
]);
/** Latin-1 sent as text/plain: not UTF-8, so the guest gets the bytes as they came and a text with U+FFFD. */
const NOT_UTF8 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0x21]);

describe("egressFetch against a local server", () => {
  let server: Server;
  let port: number;
  const seen: { host?: string | undefined; path?: string | undefined; authorization?: string | undefined }[] = [];
  const held: (() => void)[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      seen.push({ host: request.headers.host, path: request.url, authorization: request.headers.authorization });
      const url = new URL(request.url ?? "/", "http://x");
      if (url.pathname === "/json") {
        response.setHeader("content-type", "application/json");
        response.end(JSON.stringify({ hello: "world", method: request.method }));
      } else if (url.pathname === "/redirect") {
        response.statusCode = 302;
        response.setHeader("location", url.searchParams.get("to") ?? "/json");
        response.end();
      } else if (url.pathname === "/hold") {
        // Answered when the test says: held.shift()!() answers the oldest.
        held.push(() => response.setHeader("content-type", "text/plain").end(url.searchParams.get("n") ?? ""));
      } else if (url.pathname === "/loop") {
        response.statusCode = 302;
        response.setHeader("location", "/loop");
        response.end();
      } else if (url.pathname === "/large-text") {
        response.setHeader("content-type", "application/json; charset=utf-8");
        response.end(LARGE_TEXT);
      } else if (url.pathname === "/not-utf8") {
        response.setHeader("content-type", "text/plain");
        response.end(NOT_UTF8);
      } else if (url.pathname === "/big") {
        response.setHeader("content-type", "application/octet-stream");
        response.end(Buffer.alloc(200_000, 1));
      } else {
        response.statusCode = 404;
        response.end("missing");
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  afterEach(() => {
    seen.length = 0;
  });

  // Names that exist only in this staged DNS: reaching the server through them proves the connection used the checked address.
  const lookup: EgressLookup = async (hostname) => {
    if (hostname === "api.test" || hostname === "other.test") return [{ address: "127.0.0.1", family: 4 }];
    if (hostname === "rebind.test") return [{ address: "93.184.216.34", family: 4 }, { address: "127.0.0.1", family: 4 }];
    throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
  };
  const options = () => ({ lookup, allowAddresses: ["127.0.0.1/32"] });
  const request = (url: string, extra: Partial<EgressRequest> = {}): EgressRequest => ({ url, method: "GET", headers: {}, body: undefined, redirect: "follow", ...extra });
  const signal = () => new AbortController().signal;

  it("fetches from an allowed host, connecting to the checked address", async () => {
    const response = await egressFetch(request(`http://api.test:${port}/json`), [[`api.test:${port}`]], options(), signal());
    expect(response.status).toBe(200);
    expect(response.text).toBe('{"hello":"world","method":"GET"}');
    expect(seen[0]?.host).toBe(`api.test:${port}`);
  });

  it("denies a host outside the list before any connection", async () => {
    await expect(egressFetch(request(`http://other.test:${port}/json`), [[`api.test:${port}`]], options(), signal())).rejects.toMatchObject({ code: "E_EGRESS_DENIED" });
    expect(seen).toHaveLength(0);
  });

  it("denies loopback unless the policy allows it", async () => {
    await expect(egressFetch(request(`http://api.test:${port}/json`), [[`api.test:${port}`]], { lookup }, signal())).rejects.toMatchObject({
      code: "E_EGRESS_DENIED",
      message: expect.stringMatching(/loopback/),
    });
    expect(seen).toHaveLength(0);
  });

  it("never tells the guest which address a name resolved to, nor whether it resolved at all (a wildcard grant must not map internal DNS)", async () => {
    const internal: EgressLookup = async (hostname) => {
      if (hostname === "nosuch.corp.test") throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
      if (hostname === "empty.corp.test") return [];
      return [{ address: hostname === "db.corp.test" ? "10.20.30.40" : "169.254.169.254", family: 4 }];
    };
    const seenByGuest = new Set<string>();
    for (const name of ["db.corp.test", "meta.corp.test", "nosuch.corp.test", "empty.corp.test"]) {
      const error = await egressFetch(request(`http://${name}/`), [["*.corp.test"]], { lookup: internal }, signal()).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: "E_EGRESS_DENIED", message: expect.stringContaining("does not resolve to an address on the public internet") });
      expect(JSON.stringify({ message: (error as Error).message, details: (error as { details?: unknown }).details })).not.toMatch(/10\.20\.30\.40|169\.254|private range|linkLocal/);
      // What the guest is given (toGuestError): the code and the message, the name aside.
      seenByGuest.add(JSON.stringify(toGuestError(error, "ctx.http.fetch")).split(name).join("<name>"));
    }
    expect(seenByGuest.size).toBe(1);
    // An address the guest wrote itself is named back: it learns nothing it did not say.
    await expect(egressFetch(request("http://10.20.30.40/"), [["10.20.30.40"]], {}, signal())).rejects.toMatchObject({ message: expect.stringContaining("10.20.30.40 is in the private range") });
  });

  it("denies a listed IP literal in a private or loopback range", async () => {
    for (const host of ["127.0.0.1", "[::ffff:127.0.0.1]", "[::1]", "169.254.169.254", "10.0.0.1"]) {
      const url = new URL(`http://${host}:${port}/json`);
      await expect(egressFetch(request(url.href), [[`${url.hostname}:${port}`, `127.0.0.1:${port}`, `169.254.169.254:${port}`, `10.0.0.1:${port}`]], {}, signal()), host).rejects.toMatchObject({
        code: "E_EGRESS_DENIED",
      });
    }
    expect(seen).toHaveLength(0);
  });

  it("checks every address a name resolves to", async () => {
    await expect(egressFetch(request(`http://rebind.test:${port}/json`), [[`rebind.test:${port}`]], { lookup }, signal())).rejects.toMatchObject({
      code: "E_EGRESS_DENIED",
    });
  });

  it("re-checks each redirect hop and refuses one to a host outside the list", async () => {
    const followed = await egressFetch(request(`http://api.test:${port}/redirect?to=/json`), [[`api.test:${port}`]], options(), signal());
    expect(followed).toMatchObject({ status: 200, redirected: true, url: `http://api.test:${port}/json` });
    const to = encodeURIComponent(`http://other.test:${port}/json`);
    await expect(egressFetch(request(`http://api.test:${port}/redirect?to=${to}`), [[`api.test:${port}`]], options(), signal())).rejects.toMatchObject({
      code: "E_EGRESS_DENIED",
    });
    expect(seen.map((s) => s.path)).toEqual(["/redirect?to=/json", "/json", `/redirect?to=${to}`]);
  });

  it("drops credentials on a cross-origin redirect and stops after the redirect limit", async () => {
    const to = encodeURIComponent(`http://other.test:${port}/json`);
    await egressFetch(
      request(`http://api.test:${port}/redirect?to=${to}`, { headers: { authorization: "Bearer secret" } }),
      [[`api.test:${port}`, `other.test:${port}`]],
      options(),
      signal(),
    );
    expect(seen.map((s) => s.authorization)).toEqual(["Bearer secret", undefined]);
    await expect(egressFetch(request(`http://api.test:${port}/loop`), [[`api.test:${port}`]], { ...options(), maxRedirects: 3 }, signal())).rejects.toMatchObject({
      code: "E_EGRESS_DENIED",
      message: expect.stringMatching(/more than 3 redirects/),
    });
  });

  it("caps the response size and refuses non-http schemes and credentials in URLs", async () => {
    await expect(egressFetch(request(`http://api.test:${port}/big`), [[`api.test:${port}`]], { ...options(), maxResponseBytes: 100_000 }, signal())).rejects.toMatchObject({
      code: "E_PAYLOAD_TOO_LARGE",
    });
    await expect(egressFetch(request(`file:///etc/passwd`), [["api.test"]], options(), signal())).rejects.toMatchObject({ code: "E_EGRESS_DENIED" });
    await expect(egressFetch(request(`http://u:p@api.test:${port}/json`), [[`api.test:${port}`]], options(), signal())).rejects.toMatchObject({
      code: "E_EGRESS_DENIED",
    });
  });

  // Before, each of these left the fetch pending for good: past timeoutMs, until the execution's wall clock ran out.
  it("settles when the server switches protocols (a 101 answer, or a tunnel opened for CONNECT)", async () => {
    const raw = createNetServer((socket) => socket.once("data", () => socket.end("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")));
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    const rawPort = (raw.address() as AddressInfo).port;
    try {
      await expect(egressFetch(request(`http://api.test:${rawPort}/`), [[`api.test:${rawPort}`]], options(), signal())).rejects.toMatchObject({
        code: "E_FETCH_FAILED",
        message: expect.stringContaining("switches to another protocol"),
      });
    } finally {
      await new Promise((resolve) => raw.close(resolve));
    }
    server.once("connect", (_request, socket) => socket.end("HTTP/1.1 200 Connection Established\r\n\r\n"));
    await expect(egressFetch(request(`http://api.test:${port}/`, { method: "CONNECT" }), [[`api.test:${port}`]], options(), signal())).rejects.toMatchObject({
      code: "E_FETCH_FAILED",
    });
  });

  it("stops waiting for a resolver that never answers when the fetch times out", async () => {
    const silent: EgressLookup = () => new Promise(() => {});
    await expect(egressFetch(request("http://api.test/"), [["api.test"]], { lookup: silent, timeoutMs: 50 }, signal())).rejects.toMatchObject({ code: "E_TIMEOUT" });
  });

  it("refuses CONNECT, TRACE and TRACK, and header values Node cannot send, as invalid arguments naming them", async () => {
    const dispatch = createHostDispatch({ fetch: options() });
    const context = { scope: { tenant: "t", installId: "i", extensionId: "e" }, grants: { fetch: { granted: [`api.test:${port}`], requested: [`api.test:${port}`] } }, signal: signal() } as unknown as Parameters<typeof dispatch>[1];
    const fetch = (init: Record<string, unknown>) => dispatch({ method: "http.fetch", args: [`http://api.test:${port}/json`, init] } as Parameters<typeof dispatch>[0], context);
    for (const method of ["CONNECT", "trace", "TRACK"]) {
      await expect(fetch({ method }), method).rejects.toMatchObject({ code: "E_INVALID_ARGUMENT", message: expect.stringContaining(`init.method ${method.toUpperCase()}`) });
    }
    for (const value of ["a\u0001b", "\u20ac", "\u007f"]) {
      await expect(fetch({ headers: { "x-note": value } }), JSON.stringify(value)).rejects.toMatchObject({ code: "E_INVALID_ARGUMENT", message: expect.stringContaining("header x-note") });
    }
    expect(seen).toHaveLength(0);
    await expect(fetch({ headers: { "x-note": "caf\u00e9\tok" } })).resolves.toMatchObject({ status: 200 });
  });

  it("runs at most maxConcurrent fetches of one execution at once, the others in turn; another execution's do not wait behind them", async () => {
    const dispatch = createHostDispatch({ fetch: { ...options(), maxConcurrent: 3 } });
    const grants = { fetch: { granted: [`api.test:${port}`], requested: [`api.test:${port}`] } };
    const contextOf = (requestId: string, signal: AbortSignal) =>
      ({ scope: { requestId, tenant: "t", installId: "i", extensionId: "e" }, grants, signal }) as unknown as Parameters<typeof dispatch>[1];
    const fetchAs = (context: Parameters<typeof dispatch>[1], n: number) =>
      dispatch({ method: "http.fetch", args: [`http://api.test:${port}/hold?n=${n}`, {}] } as Parameters<typeof dispatch>[0], context) as Promise<{ text: string }>;
    const a = new AbortController();
    const contextA = contextOf("exec-a", a.signal);
    const fetchesA = Array.from({ length: 7 }, (_, n) => fetchAs(contextA, n).then((r) => r.text, (error: { code?: string }) => `failed ${error.code ?? "?"}`));
    await until(() => held.length === 3);
    // Answering one lets exactly the next one in, in the order they were asked.
    held.shift()!();
    await until(() => seen.length === 4);
    expect(held).toHaveLength(3);
    expect(seen.map((s) => s.path)).toEqual(["/hold?n=0", "/hold?n=1", "/hold?n=2", "/hold?n=3"]);
    // Another execution's fetch goes out at once, past a's three running and three waiting.
    const b = fetchAs(contextOf("exec-b", new AbortController().signal), 99);
    await until(() => seen.length === 5);
    expect(seen[4]!.path).toBe("/hold?n=99");
    // a ends: what waited never goes out; what ran is cut by the signal.
    a.abort(new Error("the execution ended"));
    while (held.length > 0) held.shift()!();
    expect(await b).toMatchObject({ text: "99" });
    const outcomes = await Promise.all(fetchesA);
    expect(outcomes[0]).toBe("0");
    expect(outcomes.slice(4).every((o) => o.startsWith("failed"))).toBe(true);
    expect(seen).toHaveLength(5);
  });

  describe("through a guest", () => {
    let runner: Runner;
    afterEach(async () => {
      await runner.close();
    });

    it("returns a Response-like object to ctx.http.fetch", async () => {
      runner = createInMemoryRunner({ hostApis: { fetch: options() } });
      const bundle = await buildBundle({
        source: `export async function h(req, ctx) {
          const res = await ctx.http.fetch(req.body.url, { method: "POST", body: "hi", headers: { "x-extension": "yes" } });
          return { status: res.status, ok: res.ok, type: res.headers["content-type"], data: await res.json(), size: res.body.length };
        }`,
        capabilities: [{ name: "http.fetch", hosts: [`api.test:${port}`], reason: "Reads the partner API." }],
      });
      await runner.load(bundle);
      const result = await runner.execute(envelopeFor(bundle, "h", { body: { url: `http://api.test:${port}/json` } }));
      expect(result.response?.body).toEqual({ status: 200, ok: true, type: "application/json", data: { hello: "world", method: "POST" }, size: 33 });
      expect(result.usage.hostCalls).toEqual({ "http.fetch": 1 });
    });

    const digest = `function digest(bytes) {
      let sum = 0;
      for (let i = 0; i < bytes.length; i++) sum = (sum * 31 + bytes[i]) >>> 0;
      return { length: bytes.length, sum, head: [bytes[0], bytes[1], bytes[2], bytes[3]] };
    }`;
    const hostDigest = (bytes: Buffer) => {
      let sum = 0;
      for (const byte of bytes) sum = (sum * 31 + byte) >>> 0;
      return { length: bytes.length, sum, head: [...bytes.subarray(0, 4)] };
    };

    it("gives a textual response of several MiB whole, as text and as bytes: each form counts once against the result limit, not their sum", async () => {
      runner = createInMemoryRunner({ hostApis: { fetch: options() }, limits: { cpuMs: 20_000, wallMs: 30_000 } });
      const bundle = await buildBundle({
        source: `${digest}
        export async function h(req, ctx) {
          const res = await ctx.http.fetch(req.body.url);
          const text = await res.text();
          const data = await res.json();
          const bytes = await res.bytes();
          return { textLength: text.length, first: text.slice(0, 12), words: data.words.length, sameBody: res.body === bytes, bytes: digest(bytes) };
        }`,
        capabilities: [{ name: "http.fetch", hosts: [`api.test:${port}`], reason: "Reads the partner API." }],
      });
      await runner.load(bundle);
      const result = await runner.execute(envelopeFor(bundle, "h", { body: { url: `http://api.test:${port}/large-text` } }));
      const text = LARGE_TEXT.subarray(3).toString("utf8");
      expect(result.error).toBeUndefined();
      expect(result.response?.body).toEqual({
        textLength: text.length,
        first: text.slice(0, 12),
        words: (JSON.parse(text) as { words: unknown[] }).words.length,
        sameBody: true,
        bytes: hostDigest(LARGE_TEXT),
      });
    });

    it.each([
      ["in-memory", createInMemoryRunner],
      ["worker pool", createWorkerPoolRunner],
    ] as const)("lets a guest start forty fetches at once (%s runner): they take turns, and Node warns of no listener leak on the execution's signal", async (_, create) => {
      runner = create({ hostApis: { fetch: { ...options(), maxConcurrent: 3 } }, limits: { wallMs: 20_000 } });
      const bundle = await buildBundle({
        source: `export async function h(req, ctx) {
          const all = [];
          for (let i = 0; i < 40; i++) all.push(ctx.http.fetch(req.body.url).then((r) => r.status));
          return await Promise.all(all);
        }`,
        capabilities: [{ name: "http.fetch", hosts: [`api.test:${port}`], reason: "Reads the partner API." }],
      });
      await runner.load(bundle);
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
      process.on("warning", onWarning);
      try {
        const result = await runner.execute(envelopeFor(bundle, "h", { body: { url: `http://api.test:${port}/json` } }));
        expect(result.response?.body).toEqual(Array(40).fill(200));
        await new Promise((resolve) => setImmediate(resolve));
      } finally {
        process.off("warning", onWarning);
      }
      expect(warnings.filter((warning) => warning.startsWith("MaxListenersExceededWarning"))).toEqual([]);
    });

    it("still refuses a fetch answer either of whose forms is over the result limit (E_PAYLOAD_TOO_LARGE)", async () => {
      runner = createInMemoryRunner({ hostApis: { fetch: options() }, limits: { responseBytes: 1024 * 1024 } });
      const bundle = await buildBundle({
        source: `export async function h(req, ctx) {
          try { await ctx.http.fetch(req.body.url); return "fetched"; } catch (e) { return e.code; }
        }`,
        capabilities: [{ name: "http.fetch", hosts: [`api.test:${port}`], reason: "Reads the partner API." }],
      });
      await runner.load(bundle);
      const result = await runner.execute(envelopeFor(bundle, "h", { body: { url: `http://api.test:${port}/large-text` } }));
      expect(result.response?.body).toBe("E_PAYLOAD_TOO_LARGE");
    });

    it("gives a textual response that is not UTF-8 as its bytes, and its text with U+FFFD where bytes were bad", async () => {
      runner = createInMemoryRunner({ hostApis: { fetch: options() } });
      const bundle = await buildBundle({
        source: `${digest}
        export async function h(req, ctx) {
          const res = await ctx.http.fetch(req.body.url);
          return { text: await res.text(), bytes: digest(res.body) };
        }`,
        capabilities: [{ name: "http.fetch", hosts: [`api.test:${port}`], reason: "Reads the partner API." }],
      });
      await runner.load(bundle);
      const result = await runner.execute(envelopeFor(bundle, "h", { body: { url: `http://api.test:${port}/not-utf8` } }));
      expect(result.response?.body).toEqual({ text: "caf\ufffd \ufffd!", bytes: hostDigest(NOT_UTF8) });
    });
  });
});
