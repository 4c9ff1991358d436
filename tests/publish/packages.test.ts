import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The packages as npm would publish them: `pnpm pack` of each, then a project outside the workspace that
// installs the tarballs (third-party packages from the pnpm store, no registry) and builds, typechecks, tests
// and packs an extension made by `annex init`. Needs `pnpm build` first (the root `npm test` runs it).

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const packagesDir = join(root, "packages");
const packageDirs = readdirSync(packagesDir).filter((name) => existsSync(join(packagesDir, name, "package.json")));

interface PackedPackage {
  dir: string;
  tarball: string;
  manifest: Record<string, any>;
  /** Paths inside the tarball, without the leading `package/`. */
  files: Set<string>;
  extracted: string;
}

const work = mkdtempSync(join(tmpdir(), "annex-publish-"));
const packed = new Map<string, PackedPackage>();

function progress(line: string): void {
  process.stderr.write(`[publish] ${line}\n`);
}

/** The child processes must not think they run inside this vitest (nor inherit its pnpm's npm_config_*). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(VITEST|NODE_OPTIONS|npm_|TINYPOOL)/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ANNEX_LOG_LEVEL: "silent", CI: "1", ...extra };
}

async function sh(cwd: string, file: string, args: string[], timeout = 180_000): Promise<string> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, env: cleanEnv(), timeout, maxBuffer: 64 * 1024 * 1024 });
    return `${stdout}${stderr}`;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(" ")} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

/**
 * Installs without the registry. pnpm's `--offline` needs each package's metadata in its cache as well as
 * the files in its store; when the cache lacks some (a store filled from a lockfile never needed them), the
 * install falls back to `--prefer-offline`, which fetches only the missing metadata, and says so.
 */
async function installOffline(cwd: string): Promise<void> {
  try {
    await sh(cwd, "pnpm", ["install", "--offline", "--reporter=append-only"]);
  } catch (error) {
    if (!String(error).includes("ERR_PNPM_NO_OFFLINE_META")) throw error;
    progress(`pnpm's metadata cache lacks a package (ERR_PNPM_NO_OFFLINE_META): installing with --prefer-offline in ${cwd}`);
    await sh(cwd, "pnpm", ["install", "--prefer-offline", "--reporter=append-only"]);
  }
}

/** package.json dependencies on the tarballs: direct ones, and overrides for the packages' dependencies on each other. */
function useTarballs(pkg: Record<string, any>, names: string[]): void {
  const tarballs = Object.fromEntries([...packed].map(([name, p]) => [name, `file:${p.tarball}`]));
  for (const field of ["dependencies", "devDependencies"]) {
    for (const name of Object.keys(pkg[field] ?? {})) if (name in tarballs) pkg[field][name] = tarballs[name];
  }
  pkg.dependencies = { ...pkg.dependencies, ...Object.fromEntries(names.filter((n) => !(n in (pkg.devDependencies ?? {}))).map((n) => [n, tarballs[n]])) };
  pkg.pnpm = { overrides: tarballs, onlyBuiltDependencies: ["esbuild"] };
}

function exportTargets(exports: unknown): string[] {
  if (typeof exports === "string") return [exports];
  if (exports === null || typeof exports !== "object") return [];
  return Object.values(exports).flatMap(exportTargets);
}

function conditionNames(exports: unknown): string[] {
  if (exports === null || typeof exports !== "object") return [];
  return Object.entries(exports).flatMap(([key, value]) => [key, ...conditionNames(value)]);
}

function textFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...textFiles(path));
    else if (/\.(md|js|mjs|cjs|ts|json|html|css|txt)$/.test(entry.name) && !entry.name.endsWith(".map")) out.push(path);
  }
  return out;
}

describe("packages as published", () => {
  beforeAll(async () => {
    for (const dir of packageDirs) {
      if (!existsSync(join(packagesDir, dir, "dist"))) throw new Error(`packages/${dir}/dist is missing: run \`pnpm build\` before this test.`);
    }
    const tarballDir = join(work, "tarballs");
    mkdirSync(tarballDir);
    progress(`packing ${packageDirs.length} packages into ${tarballDir}`);
    await sh(root, "pnpm", ["-r", "--filter", "./packages/**", "pack", "--pack-destination", tarballDir]);
    for (const dir of packageDirs) {
      const name = JSON.parse(readFileSync(join(packagesDir, dir, "package.json"), "utf8")).name as string;
      const tarball = join(tarballDir, readdirSync(tarballDir).find((f) => f.startsWith(`${name.replace("@", "").replace("/", "-")}-`))!);
      const extracted = join(work, "extracted", dir);
      mkdirSync(extracted, { recursive: true });
      await sh(extracted, "tar", ["xzf", tarball]);
      const listing = await sh(extracted, "tar", ["tzf", tarball]);
      const files = new Set(listing.split("\n").filter(Boolean).map((line) => line.replace(/^package\//, "")));
      const manifest = JSON.parse(readFileSync(join(extracted, "package", "package.json"), "utf8"));
      packed.set(name, { dir, tarball, manifest, files, extracted: join(extracted, "package") });
    }
    progress(`packed: ${[...packed.keys()].join(", ")}`);
  }, 180_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("every exports target is in the tarball, and no condition names files that are not shipped", () => {
    const problems: string[] = [];
    for (const [name, p] of packed) {
      const conditions = conditionNames(p.manifest.exports);
      if (conditions.includes("source")) problems.push(`${name}: the published exports keep the "source" condition (src/ is not shipped)`);
      for (const target of exportTargets(p.manifest.exports)) {
        if (!p.files.has(target.replace(/^\.\//, ""))) problems.push(`${name}: exports target ${target} is not in the tarball`);
      }
      // pack replaces exports with publishConfig.exports: an entry the workspace has and the published package
      // lacks resolves here and fails for every user (ERR_PACKAGE_PATH_NOT_EXPORTED).
      const workspace = JSON.parse(readFileSync(join(packagesDir, p.dir, "package.json"), "utf8")) as { exports?: unknown };
      if (workspace.exports !== null && typeof workspace.exports === "object" && p.manifest.exports !== null && typeof p.manifest.exports === "object") {
        const published = new Set(Object.keys(p.manifest.exports as object));
        for (const entry of Object.keys(workspace.exports)) if (!published.has(entry)) problems.push(`${name}: exports ${entry} is not in the published package.json (publishConfig.exports)`);
      }
      for (const bin of Object.values<string>(typeof p.manifest.bin === "string" ? { bin: p.manifest.bin } : (p.manifest.bin ?? {}))) {
        if (!p.files.has(bin.replace(/^\.\//, ""))) problems.push(`${name}: bin ${bin} is not in the tarball`);
      }
    }
    expect(problems).toEqual([]);
    expect(packed.size).toBe(packageDirs.length);
  });

  it("each package carries the license text, repository, engines and public publishConfig, and no workspace: range", () => {
    const license = readFileSync(join(root, "LICENSE"), "utf8");
    expect(license).toContain("Apache License");
    for (const [name, p] of packed) {
      expect(readFileSync(join(p.extracted, "LICENSE"), "utf8"), `${name} LICENSE`).toBe(license);
      expect(p.manifest.license, name).toBe("Apache-2.0");
      expect(p.manifest.repository, name).toMatchObject({ type: "git", directory: `packages/${p.dir}` });
      expect(p.manifest.engines, name).toEqual({ node: ">=20.19" });
      expect(p.manifest.publishConfig?.access, name).toBe("public");
      expect(JSON.stringify(p.manifest), name).not.toContain("workspace:");
    }
  });

  it("every runtime dependency is imported by the shipped code, and nothing imports an undeclared package", () => {
    const problems: string[] = [];
    for (const [name, p] of packed) {
      // Type declarations are shipped code too: a package used only in types (zod in @annex/host) is a dependency.
      const code = textFiles(p.extracted)
        .filter((f) => /\.(js|mjs|d\.ts)$/.test(f))
        .map((f) => readFileSync(f, "utf8"))
        .join("\n");
      const declared = new Set([...Object.keys(p.manifest.dependencies ?? {}), ...Object.keys(p.manifest.peerDependencies ?? {})]);
      for (const dep of Object.keys(p.manifest.dependencies ?? {})) {
        if (!new RegExp(`["'\`]${dep.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}(/[^"'\`]*)?["'\`]`).test(code)) problems.push(`${name}: dependency ${dep} is never imported`);
      }
      // A specifier holds no whitespace: `"composes-from"]);` in shipped code is a string, not an import.
      for (const match of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|(?<![@\w])import\s+)["']([^"'./\s][^"'\s]*)["']/g)) {
        const spec = match[1]!;
        if (spec.startsWith("node:")) continue;
        const pkgName = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
        if (!declared.has(pkgName) && pkgName !== name && !isBuiltin(pkgName)) problems.push(`${name}: imports ${spec}, not a dependency`);
      }
    }
    expect([...new Set(problems)]).toEqual([]);
  });

  it("no shipped text tells a user to run `npx annex` (another package has that name on the registry)", () => {
    const hits: string[] = [];
    for (const [name, p] of packed) {
      for (const file of textFiles(p.extracted)) {
        if (/npx annex\b/.test(readFileSync(file, "utf8"))) hits.push(`${name}: ${file.slice(p.extracted.length + 1)}`);
      }
    }
    for (const doc of ["README.md"]) if (/npx annex\b/.test(readFileSync(join(root, doc), "utf8"))) hits.push(doc);
    expect(hits).toEqual([]);
  });

  it("a fresh project installs the tarballs, then builds, typechecks, tests and packs an extension made by annex init", { timeout: 900_000 }, async () => {
    const project = join(work, "extension");
    progress("annex init (the workspace CLI; the tarball ships the same templates)");
    await sh(work, process.execPath, [join(packagesDir, "cli", "bin", "annex.js"), "init", "extension", "--id", "acme.scratch"]);
    const pkgPath = join(project, "package.json");
    const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
    useTarballs(pkg, []);
    writeFileSync(pkgPath, JSON.stringify(pkg, null, 2));

    progress("pnpm install --offline (the tarballs, third-party packages from the store)");
    await installOffline(project);
    progress("annex lint");
    expect(await sh(project, "pnpm", ["run", "lint"])).toMatch(/annex\.json: ok/);
    progress("tsc against the packed type declarations");
    await sh(project, "pnpm", ["run", "typecheck"]);
    progress("vitest: the extension's tests through createTestHost");
    // The template's own timeouts are for a developer's machine; a crowded CI machine starts PGlite slower.
    const tested = await sh(project, "pnpm", ["exec", "vitest", "run", "--hookTimeout=240000", "--testTimeout=240000"], 600_000);
    expect(stripAnsi(tested)).toMatch(/Tests\s+\d+ passed/);
    progress("annex pack");
    await sh(project, "pnpm", ["run", "build"]);
    const bundle = join(project, "acme.scratch-0.1.0.annex");
    expect(statSync(bundle).size).toBeGreaterThan(1000);
    expect(await sh(project, "pnpm", ["exec", "annex", "inspect", bundle])).toMatch(/acme\.scratch/);
    progress("extension built, typechecked, tested and packed from the tarballs");
  });

  it("without @electric-sql/pglite installed, the embedded database answers E_PGLITE_MISSING", { timeout: 180_000 }, async () => {
    const project = join(work, "no-pglite");
    mkdirSync(project);
    const pkg: Record<string, any> = { name: "no-pglite", private: true, type: "module", dependencies: {} };
    useTarballs(pkg, ["@annex/host"]);
    writeFileSync(join(project, "package.json"), JSON.stringify(pkg, null, 2));
    progress("pnpm install --offline of @annex/host alone (PGlite is an optional peer)");
    await installOffline(project);
    expect(existsSync(join(project, "node_modules", "@electric-sql", "pglite"))).toBe(false);
    writeFileSync(
      join(project, "check.mjs"),
      `import { createHost } from "@annex/host";
try { await createHost(); console.log("no error"); } catch (error) { console.log(error.code, error.message); }`,
    );
    const output = await sh(project, process.execPath, ["check.mjs"]);
    expect(output).toMatch(/^E_PGLITE_MISSING .*@electric-sql\/pglite.*postgres:\/\//m);
  });
});

function stripAnsi(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}

