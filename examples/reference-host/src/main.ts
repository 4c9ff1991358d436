#!/usr/bin/env node
// `npm run demo` ends here: starts the reference host on the data folder (or DATABASE_URL) and prints how to sign in.
import { resolve } from "node:path";
import { createReferenceHost } from "./app.js";
import { parseApiTokenDays } from "./config/api-token-lifetime.js";
import { parseTrustProxy } from "./config/trust-proxy.js";
import { packageRoot } from "./package-root.js";

const env = process.env;
const dataDir = resolve(env["ANNEX_DATA_DIR"] ?? `${packageRoot()}/data`);
const port = env["PORT"] === undefined ? 3000 : Number(env["PORT"]);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got ${env["PORT"]}`);
  process.exit(2);
}

let trustProxy: ReturnType<typeof parseTrustProxy>;
let apiTokenDays: number | undefined;
try {
  // TRUST_PROXY: the number of proxy hops in front (1 for one proxy) or the proxies' addresses and subnets; never
  // true (every X-Forwarded-For entry, the client's own included, would be trusted): see src/config/trust-proxy.ts.
  trustProxy = parseTrustProxy(env["TRUST_PROXY"]);
  apiTokenDays = parseApiTokenDays(env["API_TOKEN_DAYS"]);
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}

const started = Date.now();
const host = await createReferenceHost({
  dataDir,
  databaseUrl: env["DATABASE_URL"],
  runnerUrl: env["ANNEX_RUNNER_URL"],
  runnerKey: env["ANNEX_RUNNER_KEY"],
  port,
  listenHost: env["HOST"] ?? "127.0.0.1",
  publicOrigin: env["PUBLIC_ORIGIN"],
  allowedHosts: env["ALLOWED_HOSTS"]?.split(",").map((name) => name.trim()).filter((name) => name !== ""),
  trustProxy,
  apiTokenDays,
  dev: env["ANNEX_DEV"] === "1",
  // A new demo starts with Hello 1.0.0 installed for Acme, so the console shows the upgrade to 1.1.0 and its consent.
  demoInstalls: true,
}).catch((error: unknown) => {
  // Annex's errors say what to do (a second demo on the same data folder: E_DATABASE_LOCKED); a stack would bury it.
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === "string" && code.startsWith("E_") && typeof message === "string") console.error(`reference host did not start: ${code}: ${message}`);
  else console.error(error);
  process.exit(1);
});

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[22m` : text);
const lines = [
  "",
  bold(`Annex reference host: ${host.url}`),
  `  database: ${env["DATABASE_URL"] ? "PostgreSQL (DATABASE_URL)" : `PGlite in ${dataDir}/pglite`}; runner: ${env["ANNEX_RUNNER_URL"] ? `annex-runner at ${env["ANNEX_RUNNER_URL"]}` : "worker pool"}`,
  ...(env["ANNEX_DEV"] === "1" ? ["  DEV MODE (ANNEX_DEV=1): unsigned bundles accepted, admins may publish with `annex dev`; never expose this host"] : []),
  `  extensions published now: ${host.examples.published.join(", ") || "none (already published)"}${host.examples.failed.length ? `; failed: ${host.examples.failed.map((f) => f.id).join(", ")}` : ""}`,
  "",
  // On PostgreSQL the password is random and only this start knows it: shown when it seeded, never again.
  host.seeded || !env["DATABASE_URL"]
    ? "  Sign in with (password for all: " + bold(host.password) + (host.seeded && env["DATABASE_URL"] ? "; shown only now, keep it" : "") + "):"
    : "  Sign in with (the password shown when this database was first seeded):",
  ...host.signIns.map((s) => `    ${s.email.padEnd(18)} ${s.role.padEnd(7)} tenant ${s.tenant}`),
  "",
  `  Ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Ctrl+C stops it; the data folder keeps its state.`,
  "",
];
console.log(lines.join("\n"));

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`\nreference host: ${signal}, closing`);
    host.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
