#!/usr/bin/env node
// annex-runner: the Annex runner as a service. Extensions run in a worker pool;
// every call is authenticated with the shared key; every bundle is verified
// again against this server's own trust store; host calls go back to the host.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseTrustStore } from "@annex/manifest";
import { createRunnerServer, createWorkerPoolRunner } from "@annex/runner";

const USAGE = `usage: annex-runner --key-file <file> --trust <trust.json> [options]

  --key-file <file>         shared HMAC key of the hosts allowed to call (at least 32 bytes)
  --trust <trust.json>      trust store: the publisher keys whose bundles may run
  --port <n>                port to listen on (default 8787)
  --host <addr>             address to listen on (default 127.0.0.1)
  --workers <n>             worker threads (default 2)
  --executions-per-worker <n>  executions one worker holds at once (default 1)
  --dev                     also accept unsigned bundles (never in production)
  --public-healthz          serve GET /healthz without authentication
  --public-metrics          serve GET /metrics without authentication
  --help                    show this help`;

function fail(message) {
  process.stderr.write(`annex-runner: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function integer(value, name, fallback) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > 65535) fail(`--${name} must be an integer, got ${value}`);
  return n;
}

let args;
try {
  args = parseArgs({
    options: {
      "key-file": { type: "string" },
      trust: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      workers: { type: "string" },
      "executions-per-worker": { type: "string" },
      dev: { type: "boolean", default: false },
      "public-healthz": { type: "boolean", default: false },
      "public-metrics": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
  }).values;
} catch (error) {
  fail(error.message);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!args["key-file"]) fail("--key-file is required");
if (!args.trust) fail("--trust is required");

let key;
let trustStore;
try {
  key = readFileSync(args["key-file"], "utf8").trim();
} catch (error) {
  fail(`cannot read --key-file ${args["key-file"]}: ${error.message}`);
}
try {
  trustStore = parseTrustStore(JSON.parse(readFileSync(args.trust, "utf8")));
} catch (error) {
  fail(`--trust ${args.trust}: ${error.message}`);
}

const port = integer(args.port, "port", 8787);
const workers = integer(args.workers, "workers", 2);
const executionsPerWorker = integer(args["executions-per-worker"], "executions-per-worker", 1);

let server;
try {
  server = createRunnerServer({
    key,
    trustStore,
    mode: args.dev ? "dev" : "strict",
    unauthenticated: { healthz: args["public-healthz"], metrics: args["public-metrics"] },
    runner: (hostDispatch) => createWorkerPoolRunner({ workers, executionsPerWorker, hostDispatch }),
  });
} catch (error) {
  fail(error.message);
}

const url = await server.listen(port, args.host ?? "127.0.0.1");
process.stdout.write(`annex-runner listening on ${url} (${args.dev ? "dev" : "strict"} mode, ${workers} workers)\n`);

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`annex-runner: ${signal}, closing\n`);
  await server.close();
  process.exit(0);
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
