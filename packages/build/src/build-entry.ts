import { isAbsolute, resolve, sep } from "node:path";
import type { Message } from "esbuild";
import { checkFolderFile, realFolder } from "./confine.js";
import { Confinement } from "./confine-plugin.js";
import { BuildError } from "./errors.js";
import { formatMessage, isBuildFailure } from "./esbuild-messages.js";
import { formatBytes } from "./format-bytes.js";
import { isInside } from "./paths.js";

export interface BuildEntryOptions {
  /** The extension folder; `source` and `entry` are relative to it. */
  dir: string;
  /** The server source (annex.json `runtime.source`), e.g. `src/server.ts`. */
  source: string;
  /** The bundle path of the output (annex.json `runtime.entry`), e.g. `server/index.js`. */
  entry: string;
  onProgress?: (message: string) => void;
}

export interface BuiltEntry {
  /** The single ES module, ending with a `sourceMappingURL` comment naming `<entry>.map`. */
  code: Uint8Array;
  /** Its source map (sources relative to the entry, with their content). */
  map: Uint8Array;
  /** Names the module exports. */
  exports: string[];
  /** The folder's files esbuild read (POSIX, relative to `dir`): the source tree, not packed. */
  inputs: string[];
}

/** Warnings that mean an import would be left for run time, where the sandbox has nothing to resolve it with. */
const UNBUNDLED_IMPORT_WARNINGS = new Set(["unsupported-dynamic-import", "unsupported-require-call"]);

/**
 * Bundles the server source into one ES module for the sandbox: format esm,
 * platform neutral, target es2022, everything inlined. An import that cannot
 * be inlined (a Node built-in, a missing package, a computed `import()`) is
 * an E_BUILD_IMPORT naming it; any other compile error is E_BUILD. A file
 * outside the folder, reached through a symbolic link, or not a regular file
 * is E_PACK_PATH (see Confinement and checkInputs), runtime.source included;
 * one outside is refused without being read.
 */
export async function buildEntry(options: BuildEntryOptions): Promise<BuiltEntry> {
  const given = resolve(options.dir);
  // Real, as esbuild reports every path with links resolved.
  const dir = await realFolder(given);
  const sourcePath = resolve(dir, options.source);
  if (!isInside(dir, sourcePath)) {
    throw new BuildError("E_PACK_PATH", `runtime.source "${options.source}" points outside the extension folder: keep the server source inside it.`, {
      path: options.source,
    });
  }
  if (!(await checkFolderFile(dir, options.source, `runtime.source "${options.source}"`))) {
    throw new BuildError(
      "E_FILE_NOT_FOUND",
      `runtime.source "${options.source}" does not exist in ${given}: create it, or fix runtime.source in annex.json.`,
      { path: options.source },
    );
  }

  options.onProgress?.(`bundling ${options.source} with esbuild…`);
  // Loaded here, not at the top: every other command starts faster without esbuild.
  const { build } = await import("esbuild");
  const started = performance.now();
  const outfile = resolve(dir, options.entry);
  const confinement = await Confinement.create(dir);
  let result;
  try {
    result = await build({
      absWorkingDir: dir,
      entryPoints: [sourcePath],
      outfile,
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      // `neutral` resolves no package fields by default; these are what packages publish.
      mainFields: ["module", "main"],
      conditions: ["module"],
      sourcemap: "linked",
      sourcesContent: true,
      metafile: true,
      write: false,
      logLevel: "silent",
      charset: "utf8",
      plugins: [confinement.plugin()],
    });
  } catch (error) {
    if (isBuildFailure(error)) throw (await confinement.failure(error.errors)) ?? buildError(options.source, error.errors);
    throw error;
  }

  await confinement.checkBuild(result.metafile);
  const unbundled = result.warnings.filter((warning) => UNBUNDLED_IMPORT_WARNINGS.has(warning.id));
  if (unbundled.length > 0) throw buildError(options.source, unbundled);

  const output = Object.values(result.metafile.outputs).find((meta) => meta.entryPoint !== undefined);
  const external = output?.imports.filter((imported) => imported.external) ?? [];
  if (external.length > 0) {
    const names = external.map((imported) => `"${imported.path}"`).join(", ");
    throw new BuildError(
      "E_BUILD_IMPORT",
      `${options.source} still imports ${names} after bundling; the sandbox loads one self-contained module: install the package so it can be bundled, or remove the import.`,
      { imports: external.map((imported) => imported.path) },
    );
  }

  const code = result.outputFiles.find((file) => file.path === outfile);
  const map = result.outputFiles.find((file) => file.path === `${outfile}.map`);
  if (code === undefined || map === undefined) {
    throw new BuildError("E_BUILD", `esbuild produced no output for ${options.source}: run it again, and report a bug if it persists.`);
  }
  await checkSelfContained(options.source, code.text);
  // Files outside the folder (checkInputs let through only packages' files) are not the folder's to leave out.
  const inputs = Object.keys(result.metafile.inputs)
    .filter((input) => !input.includes(":") && !isAbsolute(input) && !input.startsWith("../"))
    .map((input) => input.split(sep).join("/"));

  options.onProgress?.(
    `bundled ${options.entry} (${formatBytes(code.contents.byteLength)}, ${inputs.length} source file${inputs.length === 1 ? "" : "s"}) in ${Math.round(performance.now() - started)} ms`,
  );
  return { code: code.contents, map: map.contents, exports: output?.exports ?? [], inputs };
}

/**
 * esbuild leaves `import(expression)` alone without a word when the argument
 * is not a string literal. Lex the output: any import still in it would be
 * resolved by the sandbox at run time, which has nothing to resolve it with.
 */
async function checkSelfContained(source: string, code: string): Promise<void> {
  const lexer = await import("es-module-lexer");
  await lexer.init;
  const [imports] = lexer.parse(code);
  // d === -2 is import.meta, which is not an import.
  const left = imports.filter((imported) => imported.d !== -2).map((imported) => imported.n ?? code.slice(imported.ss, imported.se));
  // A `require(expression)` esbuild cannot resolve becomes a call to its
  // `__require` shim, which defers to a global `require` at run time. The
  // shim's error text is the only stable mark of it in the output.
  if (code.includes('Dynamic require of "')) {
    for (const match of code.matchAll(/\b__require\d*\(([^()]*(?:\([^()]*\))?[^()]*)\)/g)) {
      left.push(`require(${match[1]})`);
    }
  }
  if (left.length === 0) return;
  const shown = left.map((name) => (/^[\w@./:-]+$/.test(name) ? `"${name}"` : name)).join(", ");
  throw new BuildError(
    "E_BUILD_IMPORT",
    `${source} has an import that cannot be bundled: ${shown}; the sandbox loads one self-contained module: import modules statically, or with a string literal, so that they are bundled.`,
    { imports: left },
  );
}

/** esbuild's messages as `file:line:col: text` lines, and the one code that says what to fix. */
/** esbuild's notes on an unresolved import that suggest a way out the sandbox does not have. */
const MISLEADING_NOTE = /platform: 'node'|platform=node|as external|--external/;

function buildError(source: string, messages: Message[]): BuildError {
  const unresolved = messages
    .map((message) => /^Could not resolve "(.+)"$/.exec(message.text)?.[1])
    .filter((name): name is string => name !== undefined);
  const unbundled = messages.some((message) => UNBUNDLED_IMPORT_WARNINGS.has(message.id));
  const lines = messages.map(formatMessage).join("\n");

  if (unresolved.length > 0 || unbundled) {
    // esbuild's own notes there advise platform "node" or marking the import external: both leave a module the sandbox cannot load.
    const shown = messages.map((message) => formatMessage({ ...message, notes: message.notes.filter((note) => !MISLEADING_NOTE.test(note.text)) })).join("\n");
    const names = unresolved.map((name) => `"${name}"`).join(", ");
    const builtin = unresolved.some((name) => name.startsWith("node:") || messages.some((m) => m.notes.some((n) => /built into node/.test(n.text))));
    const advice = builtin
      ? "the sandbox has no Node built-ins: use the capabilities on ctx (ctx.http.fetch, ctx.kv …) instead"
      : unbundled
        ? "use a string literal in import() so that the module can be bundled, or import it statically"
        : "install the package in the extension's folder, or fix the import path";
    const what = names === "" ? "an import that cannot be bundled" : `an import that cannot be bundled: ${names}`;
    return new BuildError("E_BUILD_IMPORT", `${source} has ${what}; ${advice}.\n${shown}`, { imports: unresolved });
  }
  return new BuildError("E_BUILD", `esbuild could not compile ${source}: fix the errors below and pack again.\n${lines}`);
}
