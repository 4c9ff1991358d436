// @vitest-environment happy-dom
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BridgeError } from "../src/errors.js";
import type { HostApi } from "../src/host/host-api.js";
import { mountExtensionFrame, type MountOptions } from "../src/host/mount.js";
import { resolveRateLimits } from "../src/host/rate-limit.js";
import { ReportThrottle } from "../src/host/report-throttle.js";
import { TokenBucket } from "../src/host/token-bucket.js";
import { DEFAULT_RATE_LIMITS } from "../src/protocol/rate-limits.js";
import { CONTEXT, DARK, pairTracker, LIGHT, raw, rawCall, rawHandshake, tick } from "./support/bridge-pair.js";
import { serveIframesLocally } from "./support/happy-dom.js";

const { pair, closeAll } = pairTracker();
afterEach(() => {
  closeAll();
  vi.useRealTimers();
});

/** A clock the test moves by hand: the port's messages still travel in real time, only the limit's idea of time is fake. */
function manualClock() {
  const clock = { t: 1_000, now: () => clock.t };
  return clock;
}

interface Answer {
  id: string;
  type: string;
  value: { ok: boolean; value?: unknown; error?: { code: string; message: string; details?: Record<string, unknown> } };
}

/**
 * Posts `count` messages on a raw port in one go, as a hostile frame would,
 * and collects the answers; calls that get none are missing from the list.
 */
async function flood(port: MessagePort, count: number, message: (i: number) => Record<string, unknown>, waitMs = 150): Promise<Answer[]> {
  const answers: Answer[] = [];
  const listener = (event: MessageEvent) => void answers.push(event.data as Answer);
  port.addEventListener("message", listener as EventListener);
  port.start();
  for (let i = 0; i < count; i++) port.postMessage({ id: `flood-${i}`, ...message(i) });
  await tick(waitMs);
  port.removeEventListener("message", listener as EventListener);
  return answers;
}

const getContextCall = () => ({ type: "APPLY", path: ["getContext"], argumentList: [] });
const codeOf = (answer: Answer) => (answer.value.ok ? "ok" : answer.value.error?.code);
function tally(answers: Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const answer of answers) counts[String(codeOf(answer))] = (counts[String(codeOf(answer))] ?? 0) + 1;
  return counts;
}

describe("TokenBucket", () => {
  it("starts full, refuses past its capacity, refills at the rate and never above the capacity", () => {
    let t = 0;
    const bucket = new TokenBucket(10, 3, () => t);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    t += 99; // 0.99 of a token
    expect(bucket.take()).toBe(false);
    t += 1;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
    t += 60_000;
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
  });

  it("neither refills nor drains when the clock steps back", () => {
    let t = 5_000;
    const bucket = new TokenBucket(10, 2, () => t);
    bucket.take();
    t = 0;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
    t = 100;
    expect(bucket.take()).toBe(true);
  });
});

describe("ReportThrottle", () => {
  it("sends at most N reports a second, builds only those, and sums up the rest by code when the second ends", () => {
    vi.useFakeTimers();
    let t = 0;
    const sent: BridgeError[] = [];
    const throttle = new ReportThrottle((error) => sent.push(error), 3, () => t);
    const build = vi.fn(() => new BridgeError("E_BRIDGE_PROTOCOL", "dropped"));
    const buildLimited = vi.fn(() => new BridgeError("E_BRIDGE_RATE_LIMITED", "too fast"));
    for (let i = 0; i < 4; i++) throttle.report("E_BRIDGE_PROTOCOL", build);
    for (let i = 0; i < 6; i++) throttle.report("E_BRIDGE_RATE_LIMITED", buildLimited);
    expect(sent.map((error) => error.code)).toEqual(["E_BRIDGE_PROTOCOL", "E_BRIDGE_PROTOCOL", "E_BRIDGE_PROTOCOL"]);
    expect(build).toHaveBeenCalledTimes(3);
    expect(buildLimited).not.toHaveBeenCalled();

    // The flood stopped: the summary comes when the second is over, not with the next refusal.
    t = 999;
    vi.advanceTimersByTime(999);
    expect(sent).toHaveLength(3);
    t = 1_000;
    vi.advanceTimersByTime(1);
    expect(sent).toHaveLength(4);
    const summary = sent[3]!;
    expect(summary).toBeInstanceOf(BridgeError);
    expect(summary.code).toBe("E_BRIDGE_RATE_LIMITED"); // the most frequent code held back
    expect(summary.details).toEqual({ reason: "summary", suppressed: 7, codes: { E_BRIDGE_RATE_LIMITED: 6, E_BRIDGE_PROTOCOL: 1 }, windowMs: 1000 });
    expect(summary.message).toMatch(/^… and 7 more refused in the last second \(E_BRIDGE_RATE_LIMITED 6, E_BRIDGE_PROTOCOL 1\)/);
    expect(summary.message).toContain("at most 3 reports a second");

    // A new second, a new allowance.
    t = 1_500;
    throttle.report("E_BRIDGE_PROTOCOL", build);
    expect(sent).toHaveLength(5);
    vi.advanceTimersByTime(5_000);
    expect(sent).toHaveLength(5);
  });

  it("sends the summary of the last second before the first report of the next one", () => {
    let t = 0;
    const sent: BridgeError[] = [];
    const throttle = new ReportThrottle((error) => sent.push(error), 10, () => t);
    for (let i = 0; i < 29_810; i++) throttle.report("E_BRIDGE_RATE_LIMITED", () => new BridgeError("E_BRIDGE_RATE_LIMITED", `call ${i}`));
    expect(sent).toHaveLength(10);
    t = 1_000;
    throttle.report("E_BRIDGE_PROTOCOL", () => new BridgeError("E_BRIDGE_PROTOCOL", "next"));
    expect(sent.slice(10).map((error) => error.message.slice(0, 30))).toEqual(["… and 29,800 more refused in t", "next"]);
    throttle.flush();
    expect(sent).toHaveLength(12); // nothing held back in this second: flush adds nothing
  });

  it("with 0 reports a second, sends only the summary; flush sends a pending one at once", () => {
    const sent: BridgeError[] = [];
    const throttle = new ReportThrottle((error) => sent.push(error), 0, () => 0);
    for (let i = 0; i < 5; i++) throttle.report("E_BRIDGE_PROTOCOL", () => new BridgeError("E_BRIDGE_PROTOCOL", "x"));
    expect(sent).toHaveLength(0);
    throttle.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.message).toMatch(/^5 refused in the last second/);
    expect(sent[0]!.details).toMatchObject({ suppressed: 5 });
    throttle.flush();
    expect(sent).toHaveLength(1);
  });
});

describe("the per-frame rate limit on the bridge", () => {
  it("refuses calls beyond the burst with E_BRIDGE_RATE_LIMITED, saying the limit and what to do", async () => {
    const clock = manualClock();
    const p = pair({ session: { maxCallsPerSecond: 10, maxCallBurst: 5, now: clock.now } });
    const client = await p.connect(); // spends 2: getContext and onThemeChange
    const outcomes: unknown[] = [];
    for (let i = 0; i < 5; i++) outcomes.push(await client.getContext().then(() => "ok", (error: unknown) => error));
    expect(outcomes.slice(0, 3)).toEqual(["ok", "ok", "ok"]);
    const error = outcomes[3] as BridgeError;
    expect(error).toBeInstanceOf(BridgeError);
    expect(error).toMatchObject({ code: "E_BRIDGE_RATE_LIMITED", details: { maxCallsPerSecond: 10, maxCallBurst: 5 } });
    expect(error.message).toContain("more than 10 times a second (bursts up to 5)");
    expect(error.message).toMatch(/slow down, or batch/);
    expect(outcomes[4]).toMatchObject({ code: "E_BRIDGE_RATE_LIMITED" });
  });

  it("refills over time, at the sustained rate and up to the burst", async () => {
    const clock = manualClock();
    const p = pair({ session: { maxCallsPerSecond: 10, maxCallBurst: 5, now: clock.now } });
    const client = await p.connect();
    const run = async (n: number) => {
      const codes: string[] = [];
      for (let i = 0; i < n; i++) codes.push(await client.getContext().then(() => "ok", (error: BridgeError) => error.code));
      return codes;
    };
    expect(await run(4)).toEqual(["ok", "ok", "ok", "E_BRIDGE_RATE_LIMITED"]);
    clock.t += 100; // one token at 10 a second
    expect(await run(2)).toEqual(["ok", "E_BRIDGE_RATE_LIMITED"]);
    clock.t += 250; // two and a half
    expect(await run(3)).toEqual(["ok", "ok", "E_BRIDGE_RATE_LIMITED"]);
    clock.t += 60_000; // a quiet minute refills the burst, no more
    expect(await run(6)).toEqual(["ok", "ok", "ok", "ok", "ok", "E_BRIDGE_RATE_LIMITED"]);
  });

  it("a refused call never reaches the handler, and its answer is the small shared envelope", async () => {
    const clock = manualClock();
    const toast = vi.fn<NonNullable<HostApi["toast"]>>();
    const p = pair({ hostApi: { toast }, session: { maxCallsPerSecond: 10, maxCallBurst: 3, maxConcurrentCalls: 1024, now: clock.now } });
    const port = await rawHandshake(p);
    const answers = await flood(port, 40, (i) => ({ type: "APPLY", path: ["toast"], argumentList: [raw({ kind: "info", message: `toast ${i}` })] }));
    expect(answers).toHaveLength(40);
    expect(tally(answers)).toEqual({ ok: 3, E_BRIDGE_RATE_LIMITED: 37 });
    expect(toast).toHaveBeenCalledTimes(3);
    expect(toast.mock.calls.map(([shown]) => shown.message)).toEqual(["toast 0", "toast 1", "toast 2"]);
    const refused = answers.find((answer) => !answer.value.ok)!;
    expect(refused).toEqual({
      id: expect.stringMatching(/^flood-/),
      type: "RAW",
      value: { ok: false, error: { code: "E_BRIDGE_RATE_LIMITED", message: expect.any(String), details: { maxCallsPerSecond: 10, maxCallBurst: 3 } } },
    });
    expect(JSON.stringify(refused)).not.toMatch(/stack|at .*\.ts/);
    port.close();
  });

  it("is checked before the guard: over the limit, even garbage is only counted, and what is no call gets no answer", async () => {
    const clock = manualClock();
    const p = pair({ session: { maxCallsPerSecond: 10, maxCallBurst: 2, maxReportsPerSecond: 100, now: clock.now } });
    const port = await rawHandshake(p);
    const answers = await flood(port, 5, () => ({ type: "GET", path: ["__proto__"] }));
    expect(answers).toHaveLength(0);
    expect(p.rejected.map((error) => error.code)).toEqual(["E_BRIDGE_PROTOCOL", "E_BRIDGE_PROTOCOL", "E_BRIDGE_RATE_LIMITED", "E_BRIDGE_RATE_LIMITED", "E_BRIDGE_RATE_LIMITED"]);
    port.close();
  });

  it("caps the reports per frame, then sums up the rest: when the next second starts, and when the frame is disposed", async () => {
    const clock = manualClock();
    const p = pair({ session: { maxCallsPerSecond: 10, maxCallBurst: 2, maxReportsPerSecond: 3, maxConcurrentCalls: 1024, now: clock.now } });
    const port = await rawHandshake(p);
    expect(tally(await flood(port, 20, getContextCall))).toEqual({ ok: 2, E_BRIDGE_RATE_LIMITED: 18 });
    expect(p.rejected.map((error) => error.code)).toEqual(["E_BRIDGE_RATE_LIMITED", "E_BRIDGE_RATE_LIMITED", "E_BRIDGE_RATE_LIMITED"]);

    clock.t += 1_000;
    await flood(port, 1, () => ({ type: "SET", path: ["x"], value: raw(1) }), 20);
    expect(p.rejected).toHaveLength(5);
    expect(p.rejected[3]).toMatchObject({ code: "E_BRIDGE_RATE_LIMITED", details: { reason: "summary", suppressed: 15, codes: { E_BRIDGE_RATE_LIMITED: 15 } } });
    expect(p.rejected[3]!.message).toMatch(/^… and 15 more refused in the last second/);
    expect(p.rejected[4]!.code).toBe("E_BRIDGE_PROTOCOL");

    // The SET spent a token and a report of this second: 1 call passes, 2 more refusals are reported, 17 wait for the summary.
    expect(tally(await flood(port, 20, getContextCall))).toEqual({ ok: 1, E_BRIDGE_RATE_LIMITED: 19 });
    expect(p.rejected).toHaveLength(7);
    p.close();
    expect(p.rejected).toHaveLength(8);
    expect(p.rejected[7]).toMatchObject({ code: "E_BRIDGE_RATE_LIMITED", details: { reason: "summary", suppressed: 17 } });
    port.close();
  });

  it("leaves normal use alone: a page's burst under the defaults, and calls paced at the sustained rate", async () => {
    const frozen = manualClock();
    const p = pair({ session: { now: frozen.now } });
    const client = await p.connect();
    // Defaults: the first 200 calls may come at once (connect spent 2), in batches the in-flight limit allows.
    for (let batch = 0; batch < 24; batch++) {
      await Promise.all(Array.from({ length: 8 }, () => client.getContext()));
    }
    expect(p.rejected).toEqual([]);

    const clock = manualClock();
    const paced = pair({ session: { maxCallsPerSecond: 10, maxCallBurst: 2, now: clock.now } });
    const pacedClient = await paced.connect();
    for (let i = 0; i < 50; i++) {
      clock.t += 100;
      await pacedClient.getContext();
    }
    expect(paced.rejected).toEqual([]);
  });

  it("gives every frame its own budget: one frame's flood does not slow another", async () => {
    const clock = manualClock();
    const limits = { maxCallsPerSecond: 10, maxCallBurst: 10, maxConcurrentCalls: 1024, now: clock.now };
    const hostile = pair({ session: limits });
    const honest = pair({ session: limits });
    const port = await rawHandshake(hostile);
    expect(tally(await flood(port, 500, getContextCall))).toEqual({ ok: 10, E_BRIDGE_RATE_LIMITED: 490 });

    const client = await honest.connect(); // 2 of its 10
    const codes: string[] = [];
    for (let i = 0; i < 9; i++) codes.push(await client.getContext().then(() => "ok", (error: BridgeError) => error.code));
    expect(codes).toEqual([...Array(8).fill("ok"), "E_BRIDGE_RATE_LIMITED"]);
    expect(honest.rejected.filter((error) => error.details?.reason !== "summary")).toHaveLength(1);
    expect(hostile.rejected.length).toBeGreaterThan(0);
    port.close();
  });

  it("closes a flooding frame's connection after cutOffAfterRefusals refusals in a second: one report, the frame disposed, the rest never read", async () => {
    const clock = manualClock();
    const p = pair({ session: { maxCallsPerSecond: 10, maxCallBurst: 10, cutOffAfterRefusals: 50, maxConcurrentCalls: 1024, now: clock.now } });
    const port = await rawHandshake(p);
    // 10 served, 49 refused and answered; the 50th refusal cuts the frame off and nothing after it is answered.
    expect(tally(await flood(port, 500, getContextCall))).toEqual({ ok: 10, E_BRIDGE_RATE_LIMITED: 49 });
    expect(p.session.state).toBe("disposed");
    const cutOff = p.rejected.filter((error) => error.details?.["cutOff"] === true);
    expect(cutOff).toHaveLength(1);
    expect(cutOff[0]).toMatchObject({ code: "E_BRIDGE_RATE_LIMITED", details: { maxCallBurst: 10 } });
    expect(cutOff[0]!.message).toMatch(/sent 50 messages the host refused \(over its rate, or malformed\) within a second .* its connection was closed; mount the frame again/);
    // Closed: what the frame sends now goes nowhere.
    expect(await flood(port, 5, getContextCall)).toEqual([]);
  });

  it("counts refusals per second: a frame refused now and then, slowing down as told, keeps its connection", async () => {
    const clock = manualClock();
    const p = pair({ session: { maxCallsPerSecond: 10, maxCallBurst: 10, cutOffAfterRefusals: 50, maxConcurrentCalls: 1024, now: clock.now } });
    const port = await rawHandshake(p);
    for (let second = 0; second < 4; second++) {
      // 40 refused a second, 160 in all: under 50 in each second.
      expect(tally(await flood(port, 50, getContextCall, 60))).toEqual({ ok: 10, E_BRIDGE_RATE_LIMITED: 40 });
      clock.t += 1_000;
    }
    expect(p.session.state).toBe("ready");
    expect(p.rejected.some((error) => error.details?.["cutOff"] === true)).toBe(false);
  });

  it("counts what the guard drops toward the cut-off: a frame within even a raised rate cannot post garbage without end", async () => {
    const clock = manualClock();
    const p = pair({ session: { maxCallsPerSecond: 10_000, maxCallBurst: 10_000, cutOffAfterRefusals: 20, maxReportsPerSecond: 100, now: clock.now } });
    const port = await rawHandshake(p);
    // Every message fits the rate; each is dropped by the guard (GET), and the 20th drop within the second cuts the frame off.
    expect(await flood(port, 100, () => ({ type: "GET", path: ["constructor"] }))).toEqual([]);
    expect(p.session.state).toBe("disposed");
    expect(p.rejected.filter((error) => error.code === "E_BRIDGE_PROTOCOL")).toHaveLength(20);
    expect(p.rejected.filter((error) => error.details?.["cutOff"] === true)).toEqual([expect.objectContaining({ code: "E_BRIDGE_RATE_LIMITED" })]);
    expect(await flood(port, 1, getContextCall, 20)).toEqual([]);
  });

  it("a few dropped messages a second are reported, not cut off", async () => {
    const clock = manualClock();
    const p = pair({ session: { maxCallsPerSecond: 10_000, maxCallBurst: 10_000, cutOffAfterRefusals: 20, maxReportsPerSecond: 100, now: clock.now } });
    const port = await rawHandshake(p);
    for (let second = 0; second < 3; second++) {
      await flood(port, 15, () => ({ type: "GET", path: ["constructor"] }), 20);
      clock.t += 1_000;
    }
    expect(p.session.state).toBe("ready");
    expect(tally(await flood(port, 1, getContextCall, 50))).toEqual({ ok: 1 });
  });

  /** Subscribes a theme port of the test's own on a raw connection, and answers the host's deliveries on it. */
  async function rawThemePort(p: ReturnType<typeof pair>, port: MessagePort): Promise<MessagePort> {
    const { port1, port2 } = new MessageChannel();
    const answer = (await rawCall(port, { type: "APPLY", path: ["onThemeChange"], argumentList: [raw(port2)] }, 150, [port2])) as Answer;
    expect(answer.value.ok).toBe(true);
    port1.onmessage = (event) => port1.postMessage({ id: (event.data as { id: string }).id, type: "RAW", value: undefined });
    // comlink starts the host's end on the first delivery.
    await p.session.setTheme(DARK);
    port1.onmessage = null;
    return port1;
  }

  it("a theme port the frame handed over spends the same budget: a flood on it is refused and cut off like one on the bridge port", async () => {
    // A frame's theme port was read without any limit: 118,000 messages in 6 s, the host page frozen 1.5 s at a time.
    const clock = manualClock();
    const p = pair({ session: { maxCallsPerSecond: 10, maxCallBurst: 10, cutOffAfterRefusals: 50, maxConcurrentCalls: 1024, now: clock.now } });
    const port = await rawHandshake(p);
    const theme = await rawThemePort(p, port); // spent 2: the subscription and the delivery's answer
    await flood(theme, 500, (i) => ({ type: "RAW", value: `junk ${i}` }));
    expect(p.session.state).toBe("disposed");
    expect(p.rejected.filter((error) => error.details?.["cutOff"] === true)).toEqual([expect.objectContaining({ code: "E_BRIDGE_RATE_LIMITED" })]);
    expect(await flood(port, 1, getContextCall, 20)).toEqual([]);
    theme.close();
  });

  it("messages on a theme port spend tokens the frame's calls then lack", async () => {
    const clock = manualClock();
    const p = pair({ session: { maxCallsPerSecond: 10, maxCallBurst: 6, maxReportsPerSecond: 100, now: clock.now } });
    const port = await rawHandshake(p);
    const theme = await rawThemePort(p, port); // 2 of 6
    await flood(theme, 3, (i) => ({ type: "RAW", value: i }), 20);
    expect(tally(await flood(port, 3, getContextCall))).toEqual({ ok: 1, E_BRIDGE_RATE_LIMITED: 2 });
    theme.close();
    port.close();
  });

  it("a theme port passes only answers to deliveries the host is waiting for; anything else is dropped, reported and counted", async () => {
    const clock = manualClock();
    const p = pair({ session: { maxReportsPerSecond: 100, now: clock.now } });
    const port = await rawHandshake(p);
    const theme = await rawThemePort(p, port);
    const junk = [
      { id: "never-asked", type: "RAW", value: 1 },
      { id: "x1", type: "APPLY", path: [], argumentList: [] },
      { id: "x2", type: "GET", path: ["constructor"] },
      { id: "x3", type: "HANDLER", name: "proxy", value: null },
      { type: "RAW", value: 1 },
      "not an object",
    ];
    for (const message of junk) theme.postMessage(message);
    await tick(30);
    const dropped = p.rejected.filter((error) => error.code === "E_BRIDGE_PROTOCOL");
    expect(dropped).toHaveLength(junk.length);
    expect(dropped[0]!.message).toContain("theme port");
    expect(dropped[0]!.details).toMatchObject({ reason: expect.stringContaining("no call") });
    // A real delivery still goes through, and a second answer to it is dropped.
    theme.onmessage = (event) => {
      const { id } = event.data as { id: string };
      theme.postMessage({ id, type: "RAW", value: undefined });
      theme.postMessage({ id, type: "RAW", value: undefined });
    };
    await expect(p.session.setTheme(LIGHT)).resolves.toBeUndefined();
    await tick(30);
    expect(p.rejected.filter((error) => error.code === "E_BRIDGE_PROTOCOL")).toHaveLength(junk.length + 1);
    theme.close();
    port.close();
  });

  it("reports hellos at the page on an allowance of their own, so another frame's flood cannot hide this frame's own", async () => {
    const clock = manualClock();
    const p = pair({ session: { maxReportsPerSecond: 2, now: clock.now } });
    const otherFrame = { postMessage() {} };
    for (let i = 0; i < 30; i++) p.sendFromFrame({ type: "annex:hello", nonce: p.nonce, versions: { min: 1, max: 1 } }, "null", otherFrame);
    expect(p.rejected.map((error) => error.details?.reason)).toEqual(["source", "source"]);
    const port = await rawHandshake(p);
    await flood(port, 2, () => ({ type: "GET", path: ["constructor"] }), 20);
    expect(p.rejected.map((error) => error.code)).toEqual(["E_BRIDGE_ORIGIN", "E_BRIDGE_ORIGIN", "E_BRIDGE_PROTOCOL", "E_BRIDGE_PROTOCOL"]);
    p.close();
    expect(p.rejected.at(-1)).toMatchObject({ code: "E_BRIDGE_ORIGIN", details: { reason: "summary", suppressed: 28 } });
    port.close();
  });
});

describe("rate-limit options", () => {
  it("default to 100 calls a second, bursts of twice the rate, and 10 reports a second", () => {
    expect(resolveRateLimits({})).toEqual({ maxCallsPerSecond: 100, maxCallBurst: 200, maxReportsPerSecond: 10, cutOffAfterRefusals: 1000 });
    expect(resolveRateLimits({})).toEqual(DEFAULT_RATE_LIMITS);
    expect(resolveRateLimits({ maxCallsPerSecond: 30 })).toEqual({ maxCallsPerSecond: 30, maxCallBurst: 60, maxReportsPerSecond: 10, cutOffAfterRefusals: 300 });
    expect(resolveRateLimits({ maxCallsPerSecond: 80_000 }).maxCallBurst).toBe(100_000);
    expect(resolveRateLimits({ maxCallsPerSecond: 30, maxCallBurst: 5, maxReportsPerSecond: 0, cutOffAfterRefusals: 7 })).toEqual({ maxCallsPerSecond: 30, maxCallBurst: 5, maxReportsPerSecond: 0, cutOffAfterRefusals: 7 });
  });

  const bad: Array<[string, unknown]> = [
    ...[Number.NaN, Number.POSITIVE_INFINITY, -1, 0, 1.5, "100", 100_001].map((value): [string, unknown] => ["maxCallsPerSecond", value]),
    ...[Number.NaN, Number.NEGATIVE_INFINITY, -5, 0, 2.5, null, 100_001].map((value): [string, unknown] => ["maxCallBurst", value]),
    ...[Number.NaN, Number.POSITIVE_INFINITY, -1, 0.5, "10", 1_001].map((value): [string, unknown] => ["maxReportsPerSecond", value]),
    ...[Number.NaN, 0, -3, 2.5, "1000", 1_000_001].map((value): [string, unknown] => ["cutOffAfterRefusals", value]),
  ];

  describe("through mountExtensionFrame", () => {
    beforeAll(() => serveIframesLocally());
    afterEach(() => {
      document.body.innerHTML = "";
    });
    function options(overrides: Record<string, unknown>): MountOptions {
      const container = document.createElement("div");
      document.body.append(container);
      return { container, src: "https://ext.example/ext-ui/acme.analytics/h/index.html", extensionOrigin: "opaque", title: "Acme", context: CONTEXT, theme: LIGHT, timeoutMs: 100, ...overrides };
    }

    it.each(bad)("refuses %s = %j with E_BRIDGE_ARGS naming the field, mounting nothing", (field, value) => {
      let caught: unknown;
      try {
        mountExtensionFrame(options({ [field]: value }));
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(BridgeError);
      expect(caught).toMatchObject({ code: "E_BRIDGE_ARGS", details: { field } });
      expect((caught as BridgeError).message).toContain(field);
      expect(document.querySelectorAll("iframe")).toHaveLength(0);
    });

    it("mounts with valid limits, reports off (0) included", () => {
      const frame = mountExtensionFrame(options({ maxCallsPerSecond: 5, maxCallBurst: 1, maxReportsPerSecond: 0 }));
      expect(frame.iframe.isConnected).toBe(true);
      frame.dispose();
    });
  });
});
