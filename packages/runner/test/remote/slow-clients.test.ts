import { connect, type Socket } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Runner } from "../../src/runner.js";
import { signRequest, toKeyBytes } from "../../src/remote/auth.js";
import { createRemoteRunner, createRunnerServer, type RunnerServer } from "../../src/index.js";

const KEY = "slow-clients-key-0123456789abcdef-0123456789";

/** Reached only by the one well-behaved client below, whose execution outlives the request timeout. */
const slowRunner: Runner = {
  load: () => Promise.reject(new Error("not reached")),
  async execute(envelope) {
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    return { requestId: envelope.requestId, ok: true, response: { status: 200, headers: {}, body: "late" }, usage: { cpuMs: 0, wallMs: 2500, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 }, logs: [] };
  },
  unload: async () => {},
  close: async () => {},
};

let server: RunnerServer;
let port: number;
const sockets: Socket[] = [];

beforeEach(async () => {
  server = createRunnerServer({
    runner: slowRunner,
    key: KEY,
    trustStore: { trustStoreVersion: 1, keys: [] },
    headersTimeoutMs: 1_000,
    requestTimeoutMs: 1_500,
  });
  port = Number(new URL(await server.listen(0)).port);
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await server.close();
});

interface Conversation {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves when the server closed or reset the connection. */
  closed: Promise<void>;
  /** Resolves once the server has sent a complete status line and headers. */
  answered: Promise<string>;
}

function open(): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      let text = "";
      let answer!: (head: string) => void;
      const answered = new Promise<string>((r) => (answer = r));
      const closed = new Promise<void>((r) => socket.once("close", () => r()));
      socket.on("data", (chunk) => {
        text += chunk.toString("latin1");
        if (text.includes("\r\n\r\n")) answer(text);
      });
      socket.on("error", () => {});
      resolve({ socket, received: () => text, closed, answered });
    });
    socket.once("error", reject);
    sockets.push(socket);
  });
}

function head(method: string, path: string, headers: Record<string, string | number>): string {
  return `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;
}

/** Writes `bytes` one small chunk per tick of `everyMs`, stopping when the server answers or closes. */
async function trickle(talk: Conversation, bytes: string, everyMs: number, chunk = 1): Promise<number> {
  let sent = 0;
  let stop = false;
  void talk.closed.then(() => (stop = true));
  void talk.answered.then(() => (stop = true));
  while (!stop && sent < bytes.length) {
    talk.socket.write(bytes.slice(sent, sent + chunk));
    sent += chunk;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return sent;
}

describe("runner server against slow and oversized clients", () => {
  it("refuses an unauthenticated request from its headers, without waiting for or reading its body", async () => {
    const talk = await open();
    const declared = 90 * 1024 * 1024;
    talk.socket.write(head("POST", "/v1/load", { "content-type": "application/json", "content-length": declared }));
    // The body would take minutes at this pace: the refusal must come first.
    const sent = await trickle(talk, "x".repeat(2_000), 5, 1);
    expect(talk.received()).toMatch(/^HTTP\/1\.1 401 /);
    expect(talk.received()).toContain("E_AUTH_MISSING");
    expect(sent).toBeLessThan(2_000);
    // The refused body is not drained either: the server closes the connection.
    await talk.closed;
  });

  it("refuses a forged signature from the headers, before the body", async () => {
    const talk = await open();
    const body = "y".repeat(4096);
    const forged = signRequest(toKeyBytes("z".repeat(40)), "POST", "/v1/execute", body);
    talk.socket.write(head("POST", "/v1/execute", { "content-type": "application/json", "content-length": body.length, ...forged }));
    const sent = await trickle(talk, body, 5, 1);
    expect(talk.received()).toMatch(/^HTTP\/1\.1 401 /);
    expect(talk.received()).toContain("E_AUTH_INVALID");
    expect(sent).toBeLessThan(body.length);
    await talk.closed;
  });

  it("refuses a stale timestamp and a replayed nonce from the headers, before the body", async () => {
    const stale = await open();
    const old = signRequest(toKeyBytes(KEY), "POST", "/v1/execute", "{}", Date.now() - 10 * 60_000);
    stale.socket.write(head("POST", "/v1/execute", { "content-length": 100_000, ...old }));
    expect(await stale.answered).toContain("E_AUTH_STALE");

    const signed = signRequest(toKeyBytes(KEY), "GET", "/healthz", "");
    const first = await open();
    first.socket.write(head("GET", "/healthz", { ...signed }));
    expect(await first.answered).toMatch(/^HTTP\/1\.1 200 /);
    const replay = await open();
    replay.socket.write(head("GET", "/healthz", { "content-length": 100_000, ...signed }));
    expect(await replay.answered).toContain("E_AUTH_REPLAY");
  });

  it("refuses an authenticated body that does not match the hash its signature covers", async () => {
    const signed = signRequest(toKeyBytes(KEY), "GET", "/healthz", "");
    const talk = await open();
    talk.socket.write(head("GET", "/healthz", { "content-length": 5, ...signed }) + "extra");
    const answer = await talk.answered;
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(talk.received()).toContain("E_AUTH_INVALID");
  });

  it("cuts off a client that trickles its headers", async () => {
    const talk = await open();
    const headers = head("GET", "/healthz", { "x-padding": "p".repeat(400) });
    const sent = await trickle(talk, headers, 20, 1);
    await talk.closed;
    expect(sent).toBeLessThan(headers.length);
  });

  it("cuts off an authenticated client that trickles its body", async () => {
    const body = JSON.stringify({ bundle: "a".repeat(3000), signature: null });
    const signed = signRequest(toKeyBytes(KEY), "POST", "/v1/load", body);
    const talk = await open();
    talk.socket.write(head("POST", "/v1/load", { "content-type": "application/json", "content-length": body.length, ...signed }));
    const sent = await trickle(talk, body, 20, 1);
    await talk.closed;
    expect(sent).toBeLessThan(body.length);
    expect(talk.received()).not.toMatch(/^HTTP\/1\.1 200 /);
  });

  it("times only the request: an execution that outlives the request timeout still streams its answer", async () => {
    const client = createRemoteRunner({ url: `http://127.0.0.1:${port}`, key: KEY, limits: { wallMs: 4_000 } });
    try {
      const result = await client.execute({
        requestId: "slow-but-fine",
        extension: { id: "acme.slow", version: "1.0.0", contentHash: `sha256:${"a".repeat(64)}` },
        install: { id: "inst-1", tenant: "t", config: {} },
        grants: [],
        invocation: { kind: "endpoint", handler: "h", request: { method: "GET", path: "/", params: {}, query: {}, headers: {}, body: null } },
      });
      expect(result.response?.body).toBe("late");
    } finally {
      await client.close();
    }
  });
});
