import { describe, expect, it } from "vitest";
import {
  ReplayCache,
  signFrame,
  signRequest,
  signResponse,
  toKeyBytes,
  verifyFrame,
  verifyRequest,
  verifyResponse,
} from "../../src/remote/auth.js";
import { RemoteRunnerError } from "../../src/remote/errors.js";
import { createRemoteRunner, createRunnerServer } from "../../src/index.js";

const key = toKeyBytes("k".repeat(40));
const otherKey = toKeyBytes("o".repeat(40));
const body = new TextEncoder().encode('{"hello":"world"}');

function verify(overrides: Partial<Parameters<typeof verifyRequest>[0]> = {}, headers = signRequest(key, "POST", "/v1/execute", body, 1_000_000)) {
  return verifyRequest({
    key,
    method: "POST",
    path: "/v1/execute",
    headers: { ...headers },
    body,
    replayCache: new ReplayCache(120_000),
    maxClockSkewMs: 60_000,
    now: 1_000_000,
    ...overrides,
  });
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RemoteRunnerError);
    return (error as RemoteRunnerError).code;
  }
  return undefined;
}

describe("request authentication", () => {
  it("accepts a request signed with the shared key and returns its nonce", () => {
    const headers = signRequest(key, "POST", "/v1/execute", body, 1_000_000);
    expect(verify({}, headers)).toBe(headers["x-annex-nonce"]);
  });

  it("refuses keys shorter than 32 bytes", () => {
    expect(codeOf(() => toKeyBytes("short"))).toBe("E_AUTH_INVALID");
  });

  it("refuses a key that is not there (an unset variable) with a typed error saying so, on both sides", () => {
    for (const missing of [undefined, null, 42]) {
      expect(codeOf(() => toKeyBytes(missing as never))).toBe("E_AUTH_INVALID");
      expect(() => toKeyBytes(missing as never)).toThrow(/is the variable or secret it is read from \(e\.g\. ANNEX_RUNNER_KEY\) set\?/);
      expect(() => createRemoteRunner({ url: "http://127.0.0.1:1", key: missing as never })).toThrow(RemoteRunnerError);
      expect(() => createRunnerServer({ key: missing as never, trustStore: { trustStoreVersion: 1, keys: [] } } as never)).toThrow(RemoteRunnerError);
    }
  });

  it("refuses a request without authentication headers", () => {
    expect(codeOf(() => verify({ headers: {} }))).toBe("E_AUTH_MISSING");
  });

  it("refuses a signature made with another key", () => {
    expect(codeOf(() => verify({}, signRequest(otherKey, "POST", "/v1/execute", body, 1_000_000)))).toBe("E_AUTH_INVALID");
  });

  it("binds the signature to the method, the path and the body", () => {
    const headers = signRequest(key, "POST", "/v1/execute", body, 1_000_000);
    expect(codeOf(() => verify({ method: "DELETE" }, headers))).toBe("E_AUTH_INVALID");
    expect(codeOf(() => verify({ path: "/v1/load" }, headers))).toBe("E_AUTH_INVALID");
    expect(codeOf(() => verify({ body: new TextEncoder().encode('{"hello":"w0rld"}') }, headers))).toBe("E_AUTH_INVALID");
  });

  it("refuses a timestamp outside the skew window, in either direction", () => {
    expect(codeOf(() => verify({}, signRequest(key, "POST", "/v1/execute", body, 1_000_000 - 61_000)))).toBe("E_AUTH_STALE");
    expect(codeOf(() => verify({}, signRequest(key, "POST", "/v1/execute", body, 1_000_000 + 61_000)))).toBe("E_AUTH_STALE");
  });

  it("refuses a replayed nonce while it is remembered", () => {
    const cache = new ReplayCache(120_000);
    const headers = signRequest(key, "POST", "/v1/execute", body, 1_000_000);
    verify({ replayCache: cache }, headers);
    expect(codeOf(() => verify({ replayCache: cache, now: 1_030_000 }, headers))).toBe("E_AUTH_REPLAY");
  });

  it("a full replay cache refuses new nonces instead of forgetting live ones", () => {
    const cache = new ReplayCache(120_000, 2);
    expect(cache.remember("a", 0)).toBe("fresh");
    expect(cache.remember("b", 0)).toBe("fresh");
    expect(cache.remember("c", 1)).toBe("full");
    expect(cache.remember("a", 2)).toBe("replay");
    // Once the first entries expire there is room again.
    expect(cache.remember("c", 120_001)).toBe("fresh");
  });
});

describe("response authentication", () => {
  it("binds a response to the request nonce, the status and the body", () => {
    const signature = signResponse(key, "n1", 200, "{}");
    expect(verifyResponse(key, "n1", 200, "{}", signature)).toBe(true);
    expect(verifyResponse(key, "n2", 200, "{}", signature)).toBe(false);
    expect(verifyResponse(key, "n1", 201, "{}", signature)).toBe(false);
    expect(verifyResponse(key, "n1", 200, "{ }", signature)).toBe(false);
    expect(verifyResponse(otherKey, "n1", 200, "{}", signature)).toBe(false);
    expect(verifyResponse(key, "n1", 200, "{}", undefined)).toBe(false);
  });

  it("binds a stream frame to its position", () => {
    const signature = signFrame(key, "n1", 0, '{"type":"result"}');
    expect(verifyFrame(key, "n1", 0, '{"type":"result"}', signature)).toBe(true);
    expect(verifyFrame(key, "n1", 1, '{"type":"result"}', signature)).toBe(false);
    expect(verifyFrame(key, "n1", 0, '{"type":"host-call"}', signature)).toBe(false);
  });
});
