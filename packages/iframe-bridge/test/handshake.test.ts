// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { checkHello } from "../src/host/handshake.js";
import { createNonce, OneTimeNonce, withNonce } from "../src/host/nonce.js";
import { HELLO } from "../src/protocol/messages.js";
import { BRIDGE_VERSION, negotiateVersion } from "../src/version.js";

const frame = { postMessage() {} };
const otherWindow = { postMessage() {} };

function hello(nonce: string, versions = { min: 1, max: BRIDGE_VERSION }) {
  return { type: HELLO, nonce, versions };
}

describe("nonces", () => {
  it("are 43 base64url characters and never repeat", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const nonce = createNonce();
      expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
      seen.add(nonce);
    }
    expect(seen.size).toBe(200);
  });

  it("redeem once: a second redeem of the right value is a replay, a wrong value never burns it", () => {
    const value = createNonce();
    const nonce = new OneTimeNonce(value);
    expect(nonce.redeem(createNonce())).toBe("mismatch");
    expect(nonce.redeem(value.slice(0, -1))).toBe("mismatch");
    expect(nonce.used).toBe(false);
    expect(nonce.redeem(value)).toBe("accepted");
    expect(nonce.redeem(value)).toBe("used");
  });

  it("withNonce replaces any fragment with #annex-nonce=…", () => {
    const value = createNonce();
    expect(withNonce("https://x.example/a.html?q=1#old", value)).toBe(`https://x.example/a.html?q=1#annex-nonce=${value}`);
  });
});

describe("checkHello", () => {
  it("ignores messages that are not hellos", () => {
    const nonce = new OneTimeNonce(createNonce());
    expect(checkHello({ data: { type: "other" }, origin: "null", source: frame }, { source: frame, origin: "null", nonce }).kind).toBe("ignore");
    expect(checkHello({ data: "annex:hello", origin: "null", source: frame }, { source: frame, origin: "null", nonce }).kind).toBe("ignore");
  });

  it("accepts a hello from the frame, with the expected origin and nonce, and negotiates the version", () => {
    const value = createNonce();
    const verdict = checkHello({ data: hello(value), origin: "null", source: frame }, { source: frame, origin: "null", nonce: new OneTimeNonce(value) });
    expect(verdict).toMatchObject({ kind: "accept", version: BRIDGE_VERSION });
  });

  it("refuses another window even with the right nonce, and leaves the nonce unburnt", () => {
    const value = createNonce();
    const nonce = new OneTimeNonce(value);
    const verdict = checkHello({ data: hello(value), origin: "null", source: otherWindow }, { source: frame, origin: "null", nonce });
    expect(verdict.kind).toBe("refuse");
    if (verdict.kind === "refuse") expect(verdict.error).toMatchObject({ code: "E_BRIDGE_ORIGIN", details: { reason: "source" } });
    expect(nonce.used).toBe(false);
  });

  it("ignores, without a report, another window's hello with another nonce: the page's other frames say hello too", () => {
    const nonce = new OneTimeNonce(createNonce());
    expect(checkHello({ data: hello(createNonce()), origin: "null", source: otherWindow }, { source: frame, origin: "null", nonce }).kind).toBe("ignore");
    // Malformed, from elsewhere: not this frame's either.
    expect(checkHello({ data: { type: HELLO, nonce: 7 }, origin: "null", source: otherWindow }, { source: frame, origin: "null", nonce }).kind).toBe("ignore");
    expect(nonce.used).toBe(false);
  });

  it("refuses when the frame is not there yet (contentWindow null) even if source is null too", () => {
    const value = createNonce();
    const verdict = checkHello({ data: hello(value), origin: "null", source: null }, { source: null, origin: "null", nonce: new OneTimeNonce(value) });
    expect(verdict.kind).toBe("refuse");
  });

  it("refuses the right window with the wrong origin (a frame that navigated elsewhere)", () => {
    const value = createNonce();
    const nonce = new OneTimeNonce(value);
    const verdict = checkHello(
      { data: hello(value), origin: "https://evil.example", source: frame },
      { source: frame, origin: "https://ext.example", nonce },
    );
    expect(verdict.kind).toBe("refuse");
    if (verdict.kind === "refuse") expect(verdict.error).toMatchObject({ code: "E_BRIDGE_ORIGIN", details: { reason: "origin" } });
    expect(nonce.used).toBe(false);
  });

  it('refuses a real origin when the frame was mounted opaque, and "null" when a real origin was declared', () => {
    const value = createNonce();
    expect(checkHello({ data: hello(value), origin: "https://ext.example", source: frame }, { source: frame, origin: "null", nonce: new OneTimeNonce(value) }).kind).toBe("refuse");
    expect(checkHello({ data: hello(value), origin: "null", source: frame }, { source: frame, origin: "https://ext.example", nonce: new OneTimeNonce(value) }).kind).toBe("refuse");
  });

  it("refuses a wrong nonce, then a replay of the right one", () => {
    const value = createNonce();
    const nonce = new OneTimeNonce(value);
    const expected = { source: frame, origin: "null", nonce };
    const wrong = checkHello({ data: hello(createNonce()), origin: "null", source: frame }, expected);
    expect(wrong.kind === "refuse" && wrong.error.code).toBe("E_BRIDGE_NONCE");
    expect(checkHello({ data: hello(value), origin: "null", source: frame }, expected).kind).toBe("accept");
    const replay = checkHello({ data: hello(value), origin: "null", source: frame }, expected);
    expect(replay.kind === "refuse" && replay.error).toMatchObject({ code: "E_BRIDGE_NONCE", details: { reason: "replay" } });
  });

  it("refuses malformed hellos with E_BRIDGE_PROTOCOL", () => {
    const value = createNonce();
    for (const data of [
      { type: HELLO, nonce: value },
      { type: HELLO, nonce: value, versions: { min: 2, max: 1 } },
      { type: HELLO, nonce: value, versions: { min: 1, max: 1 }, extra: true },
      { type: HELLO, nonce: "short", versions: { min: 1, max: 1 } },
    ]) {
      const verdict = checkHello({ data, origin: "null", source: frame }, { source: frame, origin: "null", nonce: new OneTimeNonce(value) });
      expect(verdict.kind === "refuse" && verdict.error.code).toBe("E_BRIDGE_PROTOCOL");
    }
  });

  it("reports a version mismatch after burning the nonce", () => {
    const value = createNonce();
    const nonce = new OneTimeNonce(value);
    const verdict = checkHello({ data: hello(value, { min: BRIDGE_VERSION + 1, max: BRIDGE_VERSION + 3 }), origin: "null", source: frame }, { source: frame, origin: "null", nonce });
    expect(verdict.kind).toBe("version-mismatch");
    if (verdict.kind === "version-mismatch") expect(verdict.error.code).toBe("E_BRIDGE_VERSION");
    expect(nonce.used).toBe(true);
  });
});

describe("negotiateVersion", () => {
  it("picks the highest common version or null", () => {
    expect(negotiateVersion({ min: 1, max: 5 }, { min: 2, max: 3 })).toBe(3);
    expect(negotiateVersion({ min: 1, max: 2 }, { min: 2, max: 4 })).toBe(2);
    expect(negotiateVersion({ min: 4, max: 5 }, { min: 1, max: 3 })).toBeNull();
    expect(negotiateVersion({ min: 1, max: 1 })).toBe(1);
  });
});
