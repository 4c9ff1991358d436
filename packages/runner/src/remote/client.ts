import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { CapabilityRequest, VerifiedBundle } from "@annex/manifest";
import { isVerifiedBundle } from "@annex/manifest/runtime";
import type { ExecuteEnvelope, ExecuteErrorCode, ExecuteResult, ExecutionLimits } from "../envelope.js";
import { createHostDispatch, dispatchAfter, type HostApis } from "../host-apis.js";
import type { ExecuteOptions, LoadedBundle, Runner } from "../runner.js";
import { HostCallGate, toWireError, type WireError } from "../pool/host-bridge.js";
import { effectiveLimits, resolveRunnerLimits } from "../limits.js";
import { RunnerError } from "../errors.js";
import { withBodyText } from "../json-body.js";
import { HEADER_SIGNATURE, signRequest, toKeyBytes, verifyFrame, verifyResponse, type SharedKey } from "./auth.js";
import { RemoteRunnerError, RunnerServerError } from "./errors.js";
import { isValidRequestId, type ExecuteFrame } from "./protocol.js";
import { parseWire, stringifyWire } from "./wire.js";
import { clearTimeout, setTimeout } from "node:timers";

export interface RemoteRunnerOptions {
  /** Base URL of an `annex-runner` server, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** The key shared with that server (≥ 32 bytes). */
  key: SharedKey;
  /** The host's implementations; host calls of remote executions run here, in the host process. */
  hostApis?: HostApis;
  /**
   * The limits the server's runner was configured with (default: the runner
   * defaults). The client uses the wall limit for its own deadline and the
   * host-call limit as a second, host-side budget; envelopes may lower both.
   */
  limits?: Partial<ExecutionLimits>;
  /**
   * How long past an execution's wall limit to wait for the server before
   * answering E_RUNNER_UNAVAILABLE (the server has its own watchdog). Default 5000 ms.
   */
  timeoutGraceMs?: number;
  /** Timeout of load, unload and health calls. Default 30 s. */
  requestTimeoutMs?: number;
  /** Largest response accepted from the server. Default 32 MiB. */
  maxResponseBytes?: number;
}

export interface RemoteRunner extends Runner {
  /** `GET /healthz` of the server. */
  health(): Promise<{ status: string; loadedBundles: number; liveWorkers: number | null }>;
  /** `GET /metrics` of the server (Prometheus text). */
  metrics(): Promise<string>;
}

/**
 * A `Runner` that runs extensions in an `annex-runner` server. The host keeps
 * its host APIs: each host call of a remote execution arrives as a signed frame
 * on the execute stream, is checked here against this host's own grants, runs
 * here, and its answer goes back in an authenticated call.
 */
export function createRemoteRunner(options: RemoteRunnerOptions): RemoteRunner {
  const key = toKeyBytes(options.key);
  const base = new URL(options.url);
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new RemoteRunnerError("E_BAD_REQUEST", `url: must be an http: or https: URL of an annex-runner server (got ${base.protocol})`);
  }
  const basePath = base.pathname.replace(/\/$/, "");
  const secure = base.protocol === "https:";
  // Keep-alive sockets without Nagle: an execute is a few small writes each way, and
  // waiting for delayed ACKs cost ~10 ms per call on loopback.
  const agent = secure ? new HttpsAgent({ keepAlive: true, noDelay: true }) : new HttpAgent({ keepAlive: true, noDelay: true });
  const send = secure ? httpsRequest : httpRequest;
  const timeoutGraceMs = options.timeoutGraceMs ?? 5_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const maxResponseBytes = options.maxResponseBytes ?? 32 * 1024 * 1024;
  const dispatch = createHostDispatch(options.hostApis ?? {});
  const runnerLimits = resolveRunnerLimits(options.limits);
  // What this host loaded, so host calls are checked against the manifest it verified itself.
  const manifests = new Map<string, readonly CapabilityRequest[]>();
  const inFlight = new Set<() => void>();
  let closed = false;

  interface Sent {
    res: IncomingMessage;
    nonce: string;
  }

  /** `abandoned`: the caller stopped waiting before the answer began (the request is cut, rejecting with GaveUp). */
  function post(method: string, path: string, body: string, timeoutMs: number, abandoned?: Promise<unknown>): Promise<Sent> {
    const fullPath = basePath + path;
    const headers = signRequest(key, method, fullPath, body);
    return new Promise((resolve, reject) => {
      let answered = false;
      const req = send(
        { protocol: base.protocol, hostname: base.hostname, port: base.port, path: fullPath, method, agent, headers: {
          ...headers,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        } },
        (res) => {
          answered = true;
          resolve({ res, nonce: headers["x-annex-nonce"] });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new RemoteRunnerError("E_RUNNER_UNAVAILABLE", `no answer from the runner at ${base.origin} within ${timeoutMs} ms`)));
      req.on("error", (error) => reject(error instanceof GaveUp ? error : unavailable(error)));
      if (abandoned !== undefined) {
        const cut = () => {
          if (!answered) req.destroy(new GaveUp());
        };
        abandoned.then(cut, cut);
      }
      req.end(body);
    });
  }

  function unavailable(error: unknown): RemoteRunnerError {
    if (error instanceof RemoteRunnerError) return error;
    return new RemoteRunnerError(
      "E_RUNNER_UNAVAILABLE",
      `the runner at ${base.origin} is unreachable (${error instanceof Error ? error.message : String(error)}); check that annex-runner is running`,
      undefined,
      { cause: error },
    );
  }

  async function readAll(res: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (size > maxResponseBytes) {
        res.destroy();
        throw new RemoteRunnerError("E_BAD_RESPONSE", `the runner's answer exceeds ${maxResponseBytes} bytes`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, size);
  }

  /** A unary call: authenticated request, signed JSON answer. */
  async function call(method: string, path: string, body: unknown): Promise<unknown> {
    if (closed) throw new RemoteRunnerError("E_RUNNER_UNAVAILABLE", "this remote runner is closed");
    const text = body === undefined ? "" : JSON.stringify(body);
    const { res, nonce } = await post(method, path, text, requestTimeoutMs);
    const raw = await readAll(res).catch((error) => Promise.reject(unavailable(error)));
    const status = res.statusCode ?? 0;
    const signature = res.headers[HEADER_SIGNATURE] as string | undefined;
    const signed = verifyResponse(key, nonce, status, raw, signature);
    const isText = String(res.headers["content-type"] ?? "").startsWith("text/plain");
    let parsed: unknown;
    try {
      parsed = isText ? raw.toString("utf8") : JSON.parse(raw.toString("utf8"));
    } catch {
      throw new RemoteRunnerError("E_BAD_RESPONSE", `the runner answered ${method} ${path} with HTTP ${status} and a body that is not JSON`);
    }
    if (status >= 200 && status < 300) {
      if (!signed) throw new RemoteRunnerError("E_BAD_RESPONSE", `the answer to ${method} ${path} is not signed with the shared key: refusing it`);
      return parsed;
    }
    const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
    const code = typeof error?.code === "string" ? error.code : "E_BAD_RESPONSE";
    const message = typeof error?.message === "string" ? error.message : `HTTP ${status}`;
    throw new RunnerServerError(status, code, `runner server refused ${method} ${path}: ${message}`, {
      ...(error?.details && typeof error.details === "object" ? (error.details as Record<string, unknown>) : {}),
      signed,
    });
  }

  function failure(envelope: ExecuteEnvelope, code: ExecuteErrorCode, message: string, details?: Record<string, unknown>): ExecuteResult {
    return {
      requestId: typeof envelope?.requestId === "string" ? envelope.requestId : "",
      ok: false,
      error: { code, message, ...(details ? { details } : {}) },
      usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 },
      logs: [],
    };
  }

  async function execute(envelope: ExecuteEnvelope, options?: ExecuteOptions): Promise<ExecuteResult> {
    if (closed) return failure(envelope, "E_RUNNER_UNAVAILABLE", "this remote runner is closed");
    if (!isValidRequestId(envelope?.requestId)) {
      return failure(envelope, "E_BAD_ENVELOPE", "requestId: must be 1-128 characters of [A-Za-z0-9._:-] (it travels in URLs)");
    }
    const limits = effectiveLimits(runnerLimits, envelope.limits);
    const wallMs = limits.wallMs;
    const gate = new HostCallGate(dispatchAfter(options?.dispatch ?? dispatch, options?.hostCallsAfter), envelope, manifests.get(envelope.extension?.contentHash), limits);
    // Host-call frames carry up to hostCallBytes of arguments (JSON and base64 add up to about as much again).
    const streamCap = maxResponseBytes + 2 * limits.hostCallBytes;
    const body = stringifyWire(envelope);
    let sent: Sent;
    try {
      sent = await post("POST", "/v1/execute", body, wallMs + timeoutGraceMs, options?.abandoned);
    } catch (error) {
      if (error instanceof GaveUp) return failure(envelope, "E_TIMEOUT", error.message);
      return failure(envelope, "E_RUNNER_UNAVAILABLE", unavailable(error).message);
    }
    const { res, nonce } = sent;
    if (res.statusCode !== 200) {
      let detail: { code?: string; message?: string } = {};
      try {
        detail = (JSON.parse((await readAll(res)).toString("utf8")) as { error?: typeof detail }).error ?? {};
      } catch {
        // An unreadable refusal is still a refusal.
      }
      const badEnvelope = res.statusCode === 400 || res.statusCode === 409;
      return failure(envelope, badEnvelope ? "E_BAD_ENVELOPE" : "E_RUNNER_UNAVAILABLE", `runner server refused the execution: ${detail.message ?? `HTTP ${res.statusCode}`}`, {
        status: res.statusCode,
        serverCode: detail.code,
      });
    }

    return new Promise<ExecuteResult>((resolve) => {
      let settled = false;
      let seq = 0;
      let buffered = "";
      let received = 0;
      const finish = (result: ExecuteResult, reuse = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        gate.close();
        inFlight.delete(abort);
        // After a well-formed result the stream only has its terminating chunk left: drain it so the
        // socket goes back to the pool. After anything else the connection is not trusted any more.
        if (reuse) res.resume();
        else res.destroy();
        resolve(result);
      };
      const abort = () => finish(failure(envelope, "E_RUNNER_UNAVAILABLE", "the remote runner was closed during the execution"));
      inFlight.add(abort);
      // The stream closes, and the server gives the execution up in turn: it never starts if it still waits there.
      const giveUp = () => finish(failure(envelope, "E_TIMEOUT", new GaveUp().message));
      options?.abandoned?.then(giveUp, giveUp);
      const timer = setTimeout(
        () => finish(failure(envelope, "E_RUNNER_UNAVAILABLE", `the runner did not answer within the wall limit plus ${timeoutGraceMs} ms`)),
        wallMs + timeoutGraceMs,
      );
      const onLine = (line: string) => {
        const space = line.indexOf(" ");
        const frameText = line.slice(space + 1);
        if (space <= 0 || !verifyFrame(key, nonce, seq++, frameText, line.slice(0, space))) {
          finish(failure(envelope, "E_RUNNER_UNAVAILABLE", "a frame of the execute stream is not signed with the shared key: refusing the stream"));
          return;
        }
        let frame: ExecuteFrame;
        try {
          frame = parseWire(frameText) as ExecuteFrame;
        } catch {
          finish(failure(envelope, "E_RUNNER_UNAVAILABLE", "the runner sent a frame that is not JSON"));
          return;
        }
        if (frame.type === "host-call") void answer(envelope.requestId, frame, gate);
        else if (frame.type === "result") finish(checkResult(envelope, frame.result, frame.bodyText), true);
      };
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        received += chunk.length;
        if (received > streamCap) {
          finish(failure(envelope, "E_RUNNER_UNAVAILABLE", `the execute stream exceeds ${streamCap} bytes`));
          return;
        }
        buffered += chunk;
        let nl: number;
        while (!settled && (nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line.length > 0) onLine(line);
        }
        if (!settled && buffered.length > maxResponseBytes) {
          finish(failure(envelope, "E_RUNNER_UNAVAILABLE", `a frame of the execute stream exceeds ${maxResponseBytes} bytes`));
        }
      });
      res.on("error", () => finish(failure(envelope, "E_RUNNER_UNAVAILABLE", "the execute stream broke before its result")));
      res.on("close", () => finish(failure(envelope, "E_RUNNER_UNAVAILABLE", "the execute stream ended before its result")));
    });
  }

  async function answer(requestId: string, frame: Extract<ExecuteFrame, { type: "host-call" }>, gate: HostCallGate): Promise<void> {
    let outcome: { ok: true; value: unknown } | { ok: false; error: WireError };
    try {
      outcome = { ok: true, value: await gate.call(frame.method, Array.isArray(frame.args) ? frame.args : []) };
    } catch (error) {
      outcome = { ok: false, error: toWireError(error) };
    }
    // Ended meanwhile: the runner server dropped the call with its execution.
    if (gate.closed) return;
    try {
      const path = `/v1/executions/${encodeURIComponent(requestId)}/host-calls/${encodeURIComponent(String(frame.callId))}`;
      const { res } = await post("POST", path, stringifyWire(outcome), requestTimeoutMs);
      res.resume();
    } catch {
      // The execution learns of a lost answer through its own wall limit; the stream reports the rest.
    }
  }

  return {
    async load(bundle: VerifiedBundle): Promise<LoadedBundle> {
      if (!isVerifiedBundle(bundle)) {
        throw new RunnerError(
          "E_BUNDLE_UNVERIFIED",
          "load() accepts only bundles returned by verifyBundle() from @annex/manifest; the runner server verifies them again with its own trust store",
        );
      }
      const loaded = (await call("POST", "/v1/load", {
        bundle: Buffer.from(bundle.bytes.buffer, bundle.bytes.byteOffset, bundle.bytes.byteLength).toString("base64"),
        signature: bundle.signature,
      })) as LoadedBundle;
      if (loaded?.contentHash !== bundle.contentHash) {
        throw new RemoteRunnerError("E_BAD_RESPONSE", `the runner loaded ${String(loaded?.contentHash)} instead of ${bundle.contentHash}`);
      }
      manifests.set(bundle.contentHash, (bundle.manifest.capabilities ?? []) as readonly CapabilityRequest[]);
      return loaded;
    },
    execute,
    async unload(contentHash: string): Promise<void> {
      await call("DELETE", `/v1/bundles/${encodeURIComponent(contentHash)}`, undefined);
      manifests.delete(contentHash);
    },
    async health() {
      return (await call("GET", "/healthz", undefined)) as { status: string; loadedBundles: number; liveWorkers: number | null };
    },
    async metrics() {
      return (await call("GET", "/metrics", undefined)) as string;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const abort of [...inFlight]) abort();
      agent.destroy();
    },
  };
}

function checkResult(envelope: ExecuteEnvelope, value: unknown, bodyText?: unknown): ExecuteResult {
  const result = value as Partial<ExecuteResult> | null;
  if (result === null || typeof result !== "object" || typeof result.ok !== "boolean" || result.requestId !== envelope.requestId || typeof result.usage !== "object") {
    return {
      requestId: envelope.requestId,
      ok: false,
      error: { code: "E_RUNNER_UNAVAILABLE", message: "the runner's result frame is malformed or answers another request" },
      usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 },
      logs: [],
    };
  }
  const checked = { ...result, logs: Array.isArray(result.logs) ? result.logs : [] } as ExecuteResult;
  const response = checked.response as unknown;
  return typeof bodyText === "string" && checked.ok && response !== null && typeof response === "object" ? withBodyText(checked, bodyText) : checked;
}

/** The caller stopped waiting for an execution; the stream to the runner server is cut, which tells the server. */
class GaveUp extends Error {
  constructor() {
    super("the caller stopped waiting for the execution; the runner server was told (it never starts it if it has not yet)");
  }
}
