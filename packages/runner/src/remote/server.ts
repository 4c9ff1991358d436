import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { verifyBundleNode as verifyBundle } from "@annex/manifest/node";
import type { BundleSignature, HostCapabilityRegistry, TrustStore } from "@annex/manifest";
import { isAnnexError } from "@annex/manifest/runtime";
import type { ExecuteEnvelope, ExecuteResult } from "../envelope.js";
import { HostCallError } from "../errors.js";
import { serializedBody, withoutBody } from "../json-body.js";
import type { HostCall, HostDispatch } from "../host-apis.js";
import type { Runner } from "../runner.js";
import { forwardingDispatch, fromWireError } from "../pool/host-bridge.js";
import {
  DEFAULT_MAX_CLOCK_SKEW_MS,
  HEADER_SIGNATURE,
  ReplayCache,
  signFrame,
  signResponse,
  toKeyBytes,
  verifyBody,
  verifyRequestHead,
  type SharedKey,
} from "./auth.js";
import { REMOTE_ERROR_STATUS, RemoteRunnerError } from "./errors.js";
import { readBody } from "./http-body.js";
import { RunnerMetrics } from "./metrics.js";
import { isValidRequestId, parseLoadBody, parseHostCallAnswer } from "./protocol.js";
import { parseWire, stringifyWire } from "./wire.js";
import { clearTimeout, setTimeout } from "node:timers";

export interface RunnerServerOptions {
  /**
   * The runner that executes. Pass a factory so that host calls made during a
   * remote execution reach the calling host: the server hands it a host
   * dispatch that forwards every call to the client over the execute stream,
   * e.g. `(hostDispatch) => createWorkerPoolRunner({ hostDispatch })`.
   */
  runner: Runner | ((hostDispatch: HostDispatch) => Runner);
  /** The key shared with the hosts allowed to call this server (≥ 32 bytes). */
  key: SharedKey;
  /** The server's own trust store: every bundle is verified again here, whatever the host says. */
  trustStore: TrustStore;
  /** "strict" (default) accepts only signed bundles; "dev" also accepts unsigned ones. */
  mode?: "strict" | "dev";
  hostCapabilities?: HostCapabilityRegistry;
  /** Largest accepted timestamp skew; nonces are remembered for twice this long. Default 60 s. */
  maxClockSkewMs?: number;
  /** Largest /v1/load body (base64 bundle plus signature). Default 96 MiB. */
  maxLoadBytes?: number;
  /** Largest body of every other call. Default 16 MiB. */
  maxBodyBytes?: number;
  /** Longest a client may take to send a request's headers. Default 10 s. */
  headersTimeoutMs?: number;
  /**
   * Longest a client may take to send a whole request, body included (an
   * execute's answer streams for as long as the execution runs; only the
   * request is timed). Default 60 s: room for a 96 MiB load on a slow link.
   */
  requestTimeoutMs?: number;
  /** Serve GET /healthz (and/or /metrics) without authentication, e.g. for a load balancer. Default: both authenticated. */
  unauthenticated?: { healthz?: boolean; metrics?: boolean };
  /**
   * How long `close()` lets the executions under way finish (each ends by its own wall limit; their host calls
   * are still answered meanwhile) before it fails what is left. Default 10 s: longer than the default 5 s wall
   * limit, shorter than a typical orchestrator's 30 s between SIGTERM and SIGKILL.
   */
  shutdownGraceMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface RunnerServer {
  readonly server: Server;
  readonly runner: Runner;
  /** Starts listening; resolves to the base URL, e.g. `http://127.0.0.1:8787`. Port 0 picks a free port. */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Refuses new executions and loads with 503 E_RUNNER_UNAVAILABLE (so does /healthz: a load balancer stops
   * sending here), lets the executions under way finish and answers their host calls, for at most
   * `shutdownGraceMs`; then fails what is left, closes the runner and the HTTP server. Runs once.
   */
  close(): Promise<void>;
}

interface Execution {
  nonce: string;
  res: ServerResponse;
  seq: number;
  nextCallId: number;
  pending: Map<string, { resolve(value: unknown): void; reject(error: unknown): void }>;
  closed: boolean;
}

const JSON_TYPE = "application/json; charset=utf-8";

/**
 * The runner as a service (`annex-runner`): `POST /v1/load`, `POST /v1/execute`
 * (an NDJSON stream of host-call frames ending with the result frame),
 * `POST /v1/executions/:requestId/host-calls/:callId`, `DELETE /v1/bundles/:hash`,
 * `GET /healthz`, `GET /metrics`. Every call is authenticated (see auth.ts); every
 * answer is signed back.
 */
export function createRunnerServer(options: RunnerServerOptions): RunnerServer {
  const key = toKeyBytes(options.key);
  const now = options.now ?? Date.now;
  const maxClockSkewMs = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  const maxLoadBytes = options.maxLoadBytes ?? 96 * 1024 * 1024;
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const headersTimeoutMs = positive(options.headersTimeoutMs ?? 10_000, "headersTimeoutMs");
  const requestTimeoutMs = positive(options.requestTimeoutMs ?? 60_000, "requestTimeoutMs");
  const mode = options.mode ?? "strict";
  const replayCache = new ReplayCache(2 * maxClockSkewMs);
  const executions = new Map<string, Execution>();
  const loaded = new Set<string>();
  const shutdownGraceMs = nonNegative(options.shutdownGraceMs ?? 10_000, "shutdownGraceMs");
  let closing: Promise<void> | undefined;
  /** Resolved when the last execution under way ends (close() waits on it). */
  let drained: (() => void) | undefined;

  const hostDispatch = forwardingDispatch((requestId, call) => callHost(requestId, call));
  const runner = typeof options.runner === "function" ? options.runner(hostDispatch) : options.runner;
  const metrics = new RunnerMetrics({
    loadedBundles: () => loaded.size,
    liveWorkers: () => liveWorkers(runner),
    inFlightExecutions: () => executions.size,
  });

  function callHost(requestId: string, call: HostCall): Promise<unknown> {
    const execution = executions.get(requestId);
    if (execution === undefined || execution.closed) {
      return Promise.reject(new HostCallError("E_HOST_CALL_FAILED", `no open connection to the host for execution ${requestId}`));
    }
    const callId = String(++execution.nextCallId);
    return new Promise((resolve, reject) => {
      execution.pending.set(callId, { resolve, reject });
      writeFrame(execution, { type: "host-call", callId, method: call.method, args: call.args });
    });
  }

  function writeFrame(execution: Execution, frame: Record<string, unknown>): void {
    const text = stringifyWire(frame);
    execution.res.write(`${signFrame(key, execution.nonce, execution.seq++, text)} ${text}\n`);
  }

  function closeExecution(requestId: string, execution: Execution, reason: string): void {
    execution.closed = true;
    if (executions.get(requestId) === execution) executions.delete(requestId);
    for (const p of execution.pending.values()) p.reject(new HostCallError("E_HOST_CALL_FAILED", reason));
    execution.pending.clear();
    if (executions.size === 0) drained?.();
  }

  function send(res: ServerResponse, nonce: string | undefined, status: number, body: string, type = JSON_TYPE): void {
    const headers: Record<string, string> = { "content-type": type, "cache-control": "no-store" };
    if (nonce !== undefined) headers[HEADER_SIGNATURE] = signResponse(key, nonce, status, body);
    res.writeHead(status, headers).end(body);
  }

  function sendError(res: ServerResponse, nonce: string | undefined, error: unknown, bodyUnread = false): void {
    // A body the server refused to read is not drained either: the connection closes once the answer is out.
    if (bodyUnread) res.shouldKeepAlive = false;
    if (isAnnexError(error)) {
      const status = error instanceof RemoteRunnerError ? REMOTE_ERROR_STATUS[error.code] : 422;
      if (error instanceof RemoteRunnerError && status === 401) metrics.recordRejection(error.code);
      if (error instanceof RemoteRunnerError && error.code === "E_BODY_TOO_LARGE") metrics.recordRejection(error.code);
      send(res, nonce, status, JSON.stringify({ error: error.toJSON() }));
      return;
    }
    send(res, nonce, 500, JSON.stringify({ error: { code: "E_INTERNAL", message: "the runner server failed; see its logs" } }));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let nonce: string | undefined;
    let bodyRead = false;
    try {
      const method = req.method ?? "GET";
      const path = req.url ?? "/";
      const route = path.split("?")[0]!;
      // Shutting down: only the answers to the host calls of executions under way are still taken.
      if (closing !== undefined && !(method === "POST" && HOST_CALL_ANSWER.test(route))) {
        throw new RemoteRunnerError("E_RUNNER_UNAVAILABLE", "the runner server is shutting down; send executions to another runner");
      }
      if (method === "GET" && route === "/healthz" && options.unauthenticated?.healthz) return health(res, undefined);
      if (method === "GET" && route === "/metrics" && options.unauthenticated?.metrics) {
        return send(res, undefined, 200, await metrics.render(), metrics.contentType);
      }
      // Authenticated from the headers alone: a stranger's body is never read, whatever its size or pace.
      const head = verifyRequestHead({ key, method, path, headers: req.headers, replayCache, maxClockSkewMs, now: now() });
      nonce = head.nonce;
      const body = await readBody(req, method === "POST" && route === "/v1/load" ? maxLoadBytes : maxBodyBytes);
      bodyRead = true;
      verifyBody(head, body);

      if (method === "GET" && route === "/healthz") return health(res, nonce);
      if (method === "GET" && route === "/metrics") return send(res, nonce, 200, await metrics.render(), metrics.contentType);
      if (method === "POST" && route === "/v1/load") return await load(res, nonce, body);
      if (method === "POST" && route === "/v1/execute") return await execute(req, res, nonce, body);
      const answer = HOST_CALL_ANSWER.exec(route);
      if (method === "POST" && answer) return answerHostCall(res, nonce, decodeURIComponent(answer[1]!), decodeURIComponent(answer[2]!), body);
      const bundle = /^\/v1\/bundles\/([^/]+)$/.exec(route);
      if (method === "DELETE" && bundle) {
        const contentHash = decodeURIComponent(bundle[1]!);
        await runner.unload(contentHash);
        loaded.delete(contentHash);
        return send(res, nonce, 200, JSON.stringify({ unloaded: contentHash }));
      }
      throw new RemoteRunnerError("E_NOT_FOUND", `no route for ${method} ${route}`);
    } catch (error) {
      if (!res.headersSent) sendError(res, nonce, error, !bodyRead);
      else res.destroy();
    }
  }

  function health(res: ServerResponse, nonce: string | undefined): void {
    send(res, nonce, 200, JSON.stringify({ status: "ok", loadedBundles: loaded.size, liveWorkers: liveWorkers(runner) ?? null }));
  }

  async function load(res: ServerResponse, nonce: string, body: Uint8Array): Promise<void> {
    const { bytes, signature } = parseLoadBody(body);
    // The host's word is not enough: this server verifies the bytes against its own trust store.
    const verified = await verifyBundle(bytes, signature as BundleSignature | null, options.trustStore, {
      mode,
      ...(options.hostCapabilities ? { hostCapabilities: options.hostCapabilities } : {}),
    });
    const result = await runner.load(verified);
    loaded.add(result.contentHash);
    send(res, nonce, 200, JSON.stringify(result));
  }

  async function execute(req: IncomingMessage, res: ServerResponse, nonce: string, body: Uint8Array): Promise<void> {
    let envelope: ExecuteEnvelope;
    try {
      envelope = parseWire(new TextDecoder().decode(body)) as ExecuteEnvelope;
    } catch {
      throw new RemoteRunnerError("E_BAD_REQUEST", "execute body must be a JSON execute envelope");
    }
    const requestId = (envelope as { requestId?: unknown } | null)?.requestId;
    if (!isValidRequestId(requestId)) {
      throw new RemoteRunnerError("E_BAD_REQUEST", "requestId must be 1-128 characters of [A-Za-z0-9._:-]");
    }
    if (executions.has(requestId)) {
      throw new RemoteRunnerError("E_CONFLICT", `an execution with requestId ${requestId} is already running: use a unique requestId per execution`);
    }
    const execution: Execution = { nonce, res, seq: 0, nextCallId: 0, pending: new Map(), closed: false };
    executions.set(requestId, execution);
    // Headers leave with the first frame: one packet fewer per execution.
    res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
    // The host closing the stream first has stopped waiting: an execution still queued here never starts.
    const abandoned = new Promise<void>((resolve) => res.once("close", resolve));
    res.once("close", () => closeExecution(requestId, execution, "the host closed the execute stream"));
    let result: ExecuteResult;
    try {
      result = await runner.execute(envelope, { abandoned });
    } catch (error) {
      result = crashed(requestId, error);
    }
    metrics.recordExecution(envelope, result);
    if (!execution.closed) {
      // A body its pool serialised travels as that text (see json-body.ts): the host need not parse it.
      const text = result.ok && result.response !== undefined ? serializedBody(result.response) : undefined;
      writeFrame(execution, text === undefined ? { type: "result", result } : { type: "result", result: withoutBody(result), bodyText: text });
      res.end();
    }
    closeExecution(requestId, execution, "the execution finished");
    void req;
  }

  function answerHostCall(res: ServerResponse, nonce: string, requestId: string, callId: string, body: Uint8Array): void {
    const execution = executions.get(requestId);
    const pending = execution?.pending.get(callId);
    if (execution === undefined || pending === undefined) {
      throw new RemoteRunnerError("E_NOT_FOUND", `no pending host call ${callId} for execution ${requestId} (finished, answered, or never asked)`);
    }
    const answer = parseHostCallAnswer(body);
    execution.pending.delete(callId);
    if (answer.ok) pending.resolve(answer.value);
    else pending.reject(fromWireError(answer.error, HostCallError));
    send(res, nonce, 200, JSON.stringify({ accepted: true }));
  }

  // Finite header and request timeouts: a client trickling its headers or its body is cut off (408) instead of
  // holding a connection forever. They time the request only; an execute's answer streams for as long as the
  // execution runs. Node checks them every `connectionsCheckingInterval`.
  const server = createServer(
    {
      noDelay: true,
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, headersTimeoutMs),
    },
    (req, res) => void handle(req, res),
  );
  server.keepAliveTimeout = 5_000;

  return {
    server,
    runner,
    listen(port = 0, host = "127.0.0.1") {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          const address = server.address() as AddressInfo;
          const h = address.family === "IPv6" ? `[${address.address}]` : address.address;
          resolve(`http://${h}:${address.port}`);
        });
      });
    },
    close() {
      closing ??= (async () => {
        if (executions.size > 0) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await new Promise<void>((resolve) => {
            drained = resolve;
            timer = setTimeout(resolve, shutdownGraceMs);
          });
          clearTimeout(timer);
        }
        for (const [requestId, execution] of executions) closeExecution(requestId, execution, "the runner server is shutting down");
        await runner.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

const HOST_CALL_ANSWER = /^\/v1\/executions\/([^/]+)\/host-calls\/([^/]+)$/;

function nonNegative(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RemoteRunnerError("E_BAD_REQUEST", `${name}: must be a whole number of milliseconds, 0 or more, got ${String(value)}`);
  }
  return value;
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RemoteRunnerError("E_BAD_REQUEST", `${name}: must be a positive integer of milliseconds, got ${String(value)}`);
  }
  return value;
}

function crashed(requestId: string, error: unknown): ExecuteResult {
  return {
    requestId,
    ok: false,
    error: { code: "E_SANDBOX_CRASHED", message: `the runner failed unexpectedly: ${error instanceof Error ? error.message : String(error)}` },
    usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 },
    logs: [],
  };
}

function liveWorkers(runner: Runner): number | undefined {
  const stats = (runner as { stats?: () => { liveWorkers?: number } }).stats;
  return typeof stats === "function" ? stats.call(runner).liveWorkers : undefined;
}
