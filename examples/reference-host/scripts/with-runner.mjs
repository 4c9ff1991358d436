#!/usr/bin/env node
// Starts the reference host with its extensions running in a separate annex-runner process
// (`pnpm --filter @annex-examples/reference-host start:with-runner`, after `npm run demo` built it once).
// The runner gets the data folder's trust store and shared key; the host reaches it at ANNEX_RUNNER_URL.
// Ctrl+C stops both; if either exits, the other is stopped too.
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const { findExamples, loadDemoKeys } = await import(join(root, "dist/index.js")).catch(() => {
  console.error("with-runner: the reference host is not built; run `npm run demo` once (or `pnpm --filter @annex-examples/reference-host build`)");
  process.exit(1);
});

const dataDir = resolve(process.env.ANNEX_DATA_DIR ?? join(root, "data"));
const runnerPort = process.env.ANNEX_RUNNER_PORT ?? "8787";
const examples = await findExamples(join(root, "../extensions"));
const keys = await loadDemoKeys(dataDir, examples.map((e) => e.publisher));

const children = [];
function stopAll(code) {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  process.exitCode = code;
}

const runner = spawn(
  process.execPath,
  [join(root, "../../packages/runner/bin/annex-runner.js"), "--key-file", keys.runnerKeyFile, "--trust", keys.trustFile, "--port", runnerPort, "--workers", process.env.ANNEX_RUNNER_WORKERS ?? "2"],
  { stdio: ["ignore", "pipe", "inherit"] },
);
children.push(runner);
runner.on("exit", (code) => stopAll(code ?? 1));
const url = await new Promise((resolveUrl, reject) => {
  let seen = "";
  runner.stdout.on("data", (chunk) => {
    process.stdout.write(chunk);
    seen += chunk;
    const match = /listening on (\S+)/.exec(seen);
    if (match) resolveUrl(match[1]);
  });
  runner.on("exit", () => reject(new Error("annex-runner exited before listening")));
});

const host = spawn(process.execPath, [join(root, "dist/main.js")], {
  stdio: "inherit",
  env: { ...process.env, ANNEX_DATA_DIR: dataDir, ANNEX_RUNNER_URL: url, ANNEX_RUNNER_KEY: keys.runnerKey },
});
children.push(host);
host.on("exit", (code) => stopAll(code ?? 0));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => stopAll(0));
