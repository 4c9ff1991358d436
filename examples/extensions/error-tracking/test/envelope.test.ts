/**
 * The parser and the grouping as pure functions, fed envelopes captured from
 * the real @sentry/node: a local node:http server stands where sentry.io
 * would be and keeps the bytes the SDK sends.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import * as Sentry from "@sentry/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bodyBytes } from "../src/body.js";
import { parseEnvelope } from "../src/envelope.js";
import { IngestError } from "../src/errors.js";
import { normalizeEvent } from "../src/event.js";
import { fingerprintOf, groupingComponents, mask, stableFile } from "../src/grouping.js";
import { checkKey, readEnvelope } from "../src/ingest.js";

const KEY = "0123456789abcdef0123456789abcdef";
const captured: Array<{ url: string; body: Buffer }> = [];
let server: Server;

function failAt(depth: number): never {
  if (depth === 0) throw new TypeError(`order ${Math.floor(Math.random() * 100_000)} has no lines`);
  return failAt(depth - 1);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      captured.push({ url: req.url ?? "", body: Buffer.concat(chunks) });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  Sentry.init({ dsn: `http://${KEY}@127.0.0.1:${port}/ext/acme.error-tracking/public/7`, defaultIntegrations: false, release: "r1" });
  for (let i = 0; i < 2; i++) {
    try {
      failAt(3);
    } catch (error) {
      Sentry.captureException(error);
    }
  }
  Sentry.captureMessage("cache miss for user 4711", "info");
  Sentry.withScope((scope) => {
    scope.setFingerprint(["{{ default }}", "tenant-a"]);
    scope.setTags({ region: "eu", retries: 3 });
    Sentry.captureMessage("cache miss for user 4711", "info");
  });
  await Sentry.flush(30_000);
}, 60_000);

afterAll(async () => {
  await Sentry.close(1_000);
  await new Promise((resolve) => server?.close(resolve));
});

const received = new Date("2026-01-01T00:00:00Z");

describe("what the SDK sends", () => {
  it("posts to /ext/acme.error-tracking/public/api/<project>/envelope/ with the key in the query", () => {
    expect(captured).toHaveLength(4);
    for (const { url } of captured) {
      const parsed = new URL(url, "http://x");
      expect(parsed.pathname).toBe("/ext/acme.error-tracking/public/api/7/envelope/");
      expect(parsed.searchParams.get("sentry_key")).toBe(KEY);
    }
  });

  it("parses as an envelope of one event item", () => {
    const envelope = parseEnvelope(new Uint8Array(captured[0]!.body));
    expect(envelope.header).toMatchObject({ sdk: { name: "sentry.javascript.node" } });
    expect(envelope.items.map((item) => item.header.type)).toEqual(["event"]);
  });
});

describe("normalizeEvent and grouping", () => {
  const read = (index: number) => readEnvelope(new Uint8Array(captured[index]!.body), { sentry_key: KEY }, KEY, received).events[0]!;

  it("names a thrown error after its type and value, with the frame it was thrown in as culprit", () => {
    const { event } = read(0);
    expect(event.title).toMatch(/^TypeError: order \d+ has no lines$/);
    expect(event.culprit).toMatch(/^failAt in /);
    expect(event.exception!.frames.at(-1)!.function).toBe("failAt");
    expect(event.release).toBe("r1");
    expect(event.eventId).toMatch(/^[0-9a-f]{32}$/);
  });

  it("puts the same error from the same place in one issue, whatever its varying value", () => {
    expect(read(0).fingerprint).toBe(read(1).fingerprint);
    expect(groupingComponents(read(0).event)).toEqual(["exception", "TypeError", ...Array(4).fill(expect.stringMatching(/:failAt$/))]);
  });

  it("groups messages by their masked text, and an SDK fingerprint with {{ default }} splits further", () => {
    const plain = read(2);
    const custom = read(3);
    expect(groupingComponents(plain.event)).toEqual(["message", "cache miss for user <n>"]);
    expect(groupingComponents(custom.event)).toEqual(["fingerprint", "message", "cache miss for user <n>", "tenant-a"]);
    expect(plain.fingerprint).not.toBe(custom.fingerprint);
    expect(custom.event.tags).toEqual({ region: "eu", retries: "3" });
  });
});

describe("parseEnvelope", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);

  it("reads length-prefixed payloads, binary and with newlines, and payloads up to the line's end", () => {
    const attachment = new Uint8Array([0x00, 0x0a, 0xff, 0x0a]);
    const head = bytes(`{"event_id":"${"a".repeat(32)}"}\n{"type":"attachment","length":4,"filename":"a.bin"}\n`);
    const tail = bytes(`\n{"type":"event"}\n{"message":"x"}\n\n{"type":"client_report"}\n{}`);
    const all = new Uint8Array([...head, ...attachment, ...tail]);
    const envelope = parseEnvelope(all);
    expect(envelope.items.map((item) => [item.header.type, item.payload.length])).toEqual([
      ["attachment", 4],
      ["event", 15],
      ["client_report", 2],
    ]);
    expect([...envelope.items[0]!.payload]).toEqual([...attachment]);
  });

  it.each([
    ["an empty body", ""],
    ["a header that is not JSON", "nope\n"],
    ["an item without a type", "{}\n{}\n{}"],
    ["a length past the end", '{}\n{"type":"event","length":100}\n{}'],
    ["a negative length", '{}\n{"type":"event","length":-1}\n{}'],
  ])("refuses %s with E_ENVELOPE (400)", (_label, text) => {
    expect(() => parseEnvelope(bytes(text))).toThrow(expect.objectContaining({ status: 400, code: "E_ENVELOPE" }));
  });

  it("refuses more than 100 items", () => {
    expect(() => parseEnvelope(bytes(`{}\n${'{"type":"span"}\n{}\n'.repeat(101)}`))).toThrow(/at most 100 items/);
  });

  it("keeps event items only, counting what it dropped by type", () => {
    const id = "b".repeat(32);
    const text = `{"event_id":"${id}"}\n{"type":"session"}\n{"sid":"1"}\n{"type":"event"}\n{"message":"kept"}\n{"type":"transaction"}\n{}\n{"type":"session"}\n{}\n`;
    const ingested = readEnvelope(text, { sentry_key: KEY }, KEY, received);
    expect(ingested.events.map(({ event }) => [event.eventId, event.title])).toEqual([[id, "kept"]]);
    expect(ingested.dropped).toEqual({ session: 2, transaction: 1 });
    expect(ingested.eventId).toBe(id);
  });
});

describe("the request around the envelope", () => {
  it("inflates gzip bodies (the Node SDK compresses above 32 KiB) and reads text bodies (the browser SDK)", () => {
    const text = '{}\n{"type":"event"}\n{"message":"hi"}\n';
    expect(new TextDecoder().decode(bodyBytes(new Uint8Array(gzipSync(text))))).toBe(text);
    expect(new TextDecoder().decode(bodyBytes(text))).toBe(text);
  });

  it("takes the key from the query or from the envelope header's dsn, and refuses others", () => {
    expect(() => checkKey({ sentry_key: KEY }, undefined, KEY)).not.toThrow();
    expect(() => checkKey({}, `https://${KEY}@errors.example.com/ext/acme.error-tracking/public/7`, KEY)).not.toThrow();
    expect(() => checkKey({}, undefined, KEY)).toThrow(IngestError);
    expect(() => checkKey({ sentry_key: KEY.slice(1) }, undefined, KEY)).toThrow(/does not match/);
    expect(() => checkKey({ sentry_key: [KEY, KEY] }, undefined, KEY)).toThrow(/missing/);
  });

  it("refuses an event without a 32-digit id; bounds and cleans text", () => {
    expect(() => normalizeEvent({ message: "x" }, { receivedAt: received })).toThrow(expect.objectContaining({ code: "E_EVENT" }));
    const event = normalizeEvent({ event_id: "C".repeat(32), message: `bell\u0007${"x".repeat(2000)}`, level: "nonsense", timestamp: 1e15 }, { receivedAt: received });
    expect(event.eventId).toBe("c".repeat(32));
    expect(event.message!.startsWith("bell\ufffd")).toBe(true);
    expect(event.message!.length).toBe(1000);
    expect(event.level).toBe("error");
    expect(event.occurredAt).toBe(received.toISOString());
  });
});

describe("mask and stableFile", () => {
  it("masks the variable parts of a message", () => {
    expect(mask("user 42 order 3f2a9c1d77 id 123e4567-e89b-12d3-a456-426614174000 took 1.5s")).toBe("user <n> order <hex> id <uuid> took <n>s");
    expect(mask("deadbeef is a word")).toBe("deadbeef is a word");
  });

  it("drops origins, queries and build hashes from file names", () => {
    expect(stableFile("https://shop.example.com/assets/app.3f2a9c1d.js?v=2#x")).toBe("/assets/app.<hash>.js");
    expect(stableFile("/srv/app/src/cart.ts")).toBe("/srv/app/src/cart.ts");
  });

  it("gives different issues to different errors thrown in one place", () => {
    const at = { filename: "/a.js", module: "a", function: "f", lineno: 1, colno: 1, in_app: true };
    const one = normalizeEvent({ event_id: "1".repeat(32), exception: { values: [{ type: "TypeError", value: "x", stacktrace: { frames: [at] } }] } }, { receivedAt: received });
    const two = normalizeEvent({ event_id: "2".repeat(32), exception: { values: [{ type: "RangeError", value: "x", stacktrace: { frames: [at] } }] } }, { receivedAt: received });
    const moved = normalizeEvent({ event_id: "3".repeat(32), exception: { values: [{ type: "TypeError", value: "y", stacktrace: { frames: [{ ...at, lineno: 99 }] } }] } }, { receivedAt: received });
    expect(fingerprintOf(one)).not.toBe(fingerprintOf(two));
    expect(fingerprintOf(one)).toBe(fingerprintOf(moved));
  });
});
