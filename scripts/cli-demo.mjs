#!/usr/bin/env node
// The CLI walk-through (`pnpm cli-demo`, after the build): drives the real `annex`
// binary end to end on examples/extensions/hello in a temporary folder —
// init, lint, keygen, trust add, pack, sign, verify, inspect — then shows
// verification refusing two tampered bundles. Exits 0 only if every step
// did what it should. (`npm run demo` starts the reference host instead.)
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const bin = join(root, "packages/cli/bin/annex.js");
const example = join(root, "examples/extensions/hello");

if (!existsSync(join(root, "packages/cli/dist/main.js"))) {
  console.error("demo: packages/cli is not built; run `pnpm build` (or `pnpm cli-demo`, which builds first).");
  process.exit(1);
}

const bold = (text) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[22m` : text);
const dim = (text) => (process.stdout.isTTY ? `\x1b[2m${text}\x1b[22m` : text);

/** Runs `annex …` in `cwd`, echoing the command and its output; checks the exit code it should have. */
function annex(cwd, args, { expect = 0 } = {}) {
  console.log(`\n${bold(`$ annex ${args.join(" ")}`)}`);
  const result = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: "utf8" });
  if (result.stderr) process.stdout.write(dim(result.stderr));
  if (result.stdout) process.stdout.write(result.stdout);
  if (result.status !== expect) {
    throw new Error(`annex ${args[0]} exited ${result.status}, expected ${expect}`);
  }
  return result;
}

function step(title) {
  console.log(`\n${bold(`── ${title} ${"─".repeat(Math.max(0, 70 - title.length))}`)}`);
}

const work = await mkdtemp(join(tmpdir(), "annex-demo-"));
let ok = false;
try {
  console.log(`Annex demo: the annex CLI end to end, in ${work}`);

  step("a new extension from the template");
  annex(work, ["init", "my-extension", "--id", "acme.my-extension"]);
  annex(work, ["lint", "my-extension"]);

  step("the example extension: examples/extensions/hello");
  await cp(example, join(work, "hello"), { recursive: true, filter: (source) => !source.includes("node_modules") });
  // Its page imports @annex/ui-kit and @annex/iframe-bridge, which `annex pack` bundles: link them in as an install would.
  await mkdir(join(work, "hello/node_modules/@annex"), { recursive: true });
  for (const name of ["ui-kit", "iframe-bridge"]) await symlink(join(root, "packages", name), join(work, "hello/node_modules/@annex", name), "dir");
  annex(work, ["lint", "hello"]);

  step("a publisher key, and a trust store that accepts it");
  annex(work, ["keygen", "--publisher", "acme", "--out", "keys", "--key-id", "acme-demo"]);
  annex(work, ["trust", "add", "trust.json", "keys/acme-demo.pub", "--class", "first-party"]);

  step("pack, sign, verify, inspect");
  annex(work, ["pack", "hello", "-o", "acme.hello-1.0.0.annex"]);
  annex(work, ["sign", "acme.hello-1.0.0.annex", "--key", "keys/acme-demo.key"]);
  annex(work, ["verify", "acme.hello-1.0.0.annex", "--trust", "trust.json"]);
  annex(work, ["inspect", "acme.hello-1.0.0.annex"]);

  step("tampering: a file changed after signing");
  const page = join(work, "hello/ui/index.html");
  const original = await readFile(page, "utf8");
  const tampered = original.replace("Both run in Annex's sandbox", "<img src=https://evil.example/x> Both run in Annex's sandbox");
  if (tampered === original) throw new Error("the demo's tampering found nothing to change in hello/ui/index.html");
  await writeFile(page, tampered);
  annex(work, ["pack", "hello", "-o", "tampered.annex"]);
  await cp(join(work, "acme.hello-1.0.0.annex.sig"), join(work, "tampered.annex.sig"));
  const changed = annex(work, ["verify", "tampered.annex", "--trust", "trust.json"], { expect: 1 });
  if (!/^E_SIGNATURE_INVALID: /m.test(changed.stderr)) throw new Error("expected E_SIGNATURE_INVALID for the changed bundle");

  step("tampering: bytes flipped in the archive");
  const bytes = await readFile(join(work, "acme.hello-1.0.0.annex"));
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  await writeFile(join(work, "corrupt.annex"), bytes);
  await cp(join(work, "acme.hello-1.0.0.annex.sig"), join(work, "corrupt.annex.sig"));
  const corrupt = annex(work, ["verify", "corrupt.annex", "--trust", "trust.json"], { expect: 1 });
  if (!/^E_(BUNDLE_FORMAT|HASH_MISMATCH): /m.test(corrupt.stderr)) throw new Error("expected E_BUNDLE_FORMAT or E_HASH_MISMATCH for the corrupt bundle");

  ok = true;
  console.log(`\n${bold("demo: every step did what it should.")}`);
} catch (error) {
  console.error(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
