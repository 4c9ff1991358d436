import { createHash } from "node:crypto";
import { resolve, sep } from "node:path";
import type { Manifest } from "@annex/manifest";
import type { Message, Metafile, Plugin } from "esbuild";
import { checkFolderFile, realFolder } from "../confine.js";
import type { CheckInputsOptions } from "../confine-imports.js";
import { Confinement } from "../confine-plugin.js";
import { BuildError } from "../errors.js";
import { formatMessage, isBuildFailure } from "../esbuild-messages.js";
import { formatBytes } from "../format-bytes.js";
import { isUnder } from "../paths.js";
import { relativeUrl } from "./references.js";
import { escapeAttribute, scanPage, type PageAction, type Span } from "./scan-page.js";

export interface BuildUiPagesOptions {
  /** The extension folder (sources are read from it). */
  dir: string;
  manifest: Manifest;
  /** The folder's files as they will be packed (ignore rules applied); the pages are read from here. */
  files: ReadonlyMap<string, Uint8Array>;
  onProgress?: ((message: string) => void) | undefined;
}

export interface BuiltUiPages {
  /** Files to add to the bundle or to replace in it: the rewritten pages and everything esbuild wrote. */
  outputs: Map<string, Uint8Array>;
  /** Folder files that were bundled and cannot be loaded as they are (TypeScript, JSX): left out of the bundle. */
  bundledSources: string[];
}

/** Asset types a stylesheet or script may pull in: copied into `<ui.root>/assets/` under a content-hashed name. */
const ASSET_LOADERS = Object.fromEntries(
  [".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg", ".ico", ".bmp", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp3", ".mp4", ".webm", ".ogg", ".wav"].map((ext) => [ext, "file" as const]),
);
const NOT_LOADABLE_SOURCE = /\.(?:ts|mts|cts|tsx|jsx)$/i;
const INLINE_NAMESPACE = "annex-inline";

interface Entry {
  /** The bundle path of the source (a folder file), or of the page holding inline code. */
  source: string;
  /** Output path without extension, relative to the folder. */
  out: string;
  /** Inline code, when the entry is not a file. */
  code?: { text: string; loader: "ts" | "css" };
}

interface PagePlan {
  page: string;
  html: string;
  actions: PageAction[];
  references: { path: string; at: string; what: string }[];
  /** Output path (with extension) of each action that needs one, by index; classic inline scripts are written as they are. */
  outputs: Map<number, string>;
  /** Keys of the esbuild entries this page needs. */
  entries: string[];
}

/**
 * Builds the UI pages the manifest names. Each page's module scripts and
 * stylesheets (files, or inline code moved into files) are bundled with
 * esbuild into `ui.root`: packages such as @annex/ui-kit and
 * @annex/iframe-bridge are inlined, TypeScript is compiled, CSS `@import`s
 * are followed, and the page is rewritten to load the built files. The result
 * refers to nothing outside `ui.root` and needs no inline code, so the frame's
 * strict Content-Security-Policy holds. What esbuild reads must be the
 * folder's own regular files or installed packages (E_PACK_PATH otherwise,
 * before anything outside is read: see Confinement and checkInputs).
 */
export async function buildUiPages(options: BuildUiPagesOptions): Promise<BuiltUiPages> {
  const { manifest, files } = options;
  // Real, as esbuild reports every path with links resolved.
  const dir = await realFolder(resolve(options.dir));
  const root = manifest.ui.root;
  const isHashAllowed = scriptHashCheck(manifest.ui.csp?.scriptHashes ?? []);
  const entries = new Map<string, Entry>();
  const plans: PagePlan[] = [];

  for (const page of [...new Set(manifest.ui.pages.map((p) => p.entry))].sort()) {
    const bytes = files.get(page);
    if (bytes === undefined) continue; // checkReferencedFiles names the field.
    const html = new TextDecoder().decode(bytes);
    const { actions, references } = scanPage({ page, html, root, isHashAllowed });
    const plan: PagePlan = { page, html, actions, references, outputs: new Map(), entries: [] };
    const stem = page.replace(/\.html$/, "");
    let inlineCount = 0;
    for (const [index, action] of actions.entries()) {
      if (action.kind === "module-script" || action.kind === "stylesheet") {
        await checkSourceExists(dir, page, action.source);
        const out = action.source.replace(/\.[^./]+$/, "");
        entries.set(action.source, { source: action.source, out });
        plan.entries.push(action.source);
        plan.outputs.set(index, `${out}.${action.kind === "stylesheet" ? "css" : "js"}`);
      } else if (action.kind === "inline-module" || action.kind === "inline-style") {
        const out = `${stem}.inline-${++inlineCount}`;
        const key = `${page}#${inlineCount}`;
        entries.set(key, { source: page, out, code: { text: action.code, loader: action.kind === "inline-style" ? "css" : "ts" } });
        plan.entries.push(key);
        plan.outputs.set(index, `${out}.${action.kind === "inline-style" ? "css" : "js"}`);
      } else {
        plan.outputs.set(index, `${stem}.inline-${++inlineCount}.js`);
      }
    }
    plans.push(plan);
  }

  const outputs = new Map<string, Uint8Array>();
  const bundledSources: string[] = [];
  let cssBundles = new Map<string, string>();
  if (entries.size > 0) {
    const built = await bundleOrExplain(dir, root, entries, plans, options.onProgress);
    cssBundles = built.cssBundles;
    for (const [path, bytes] of built.outputs) outputs.set(path, bytes);
    for (const input of built.inputs) {
      if (isUnder(input, root) && NOT_LOADABLE_SOURCE.test(input) && !built.outputs.has(input)) bundledSources.push(input);
    }
    checkOverwrites(built.outputs, files, new Set(built.inputs));
  }

  for (const plan of plans) {
    for (const [index, action] of plan.actions.entries()) {
      if (action.kind === "inline-classic") {
        const path = plan.outputs.get(index)!;
        if (files.has(path) || outputs.has(path)) throw clash(plan.page, path);
        outputs.set(path, new TextEncoder().encode(action.code));
      }
    }
    outputs.set(plan.page, new TextEncoder().encode(rewrite(plan, cssBundles)));
  }

  const packed = new Set([...files.keys(), ...outputs.keys()].filter((path) => !bundledSources.includes(path)));
  for (const plan of plans) {
    for (const reference of plan.references) {
      if (!packed.has(reference.path)) {
        throw new BuildError(
          "E_UI_REFERENCE",
          `${plan.page}:${reference.at}: ${reference.what} names "${reference.path}", which is not in the packed files: create it, fix the path, or remove it from .annexignore.`,
          { page: plan.page, reference: reference.path },
        );
      }
    }
  }
  return { outputs, bundledSources: bundledSources.sort() };
}

async function checkSourceExists(dir: string, page: string, source: string): Promise<void> {
  if (!(await checkFolderFile(dir, source, `${page} loads "${source}", which`))) {
    throw new BuildError("E_UI_REFERENCE", `${page} loads "${source}", which does not exist in the extension folder: create it, or fix the path in ${page}.`, {
      page,
      reference: source,
    });
  }
}

/** Whether an inline script's text matches one of the manifest's ui.csp.scriptHashes (as the browser would compute it). */
function scriptHashCheck(hashes: readonly string[]): (code: string) => boolean {
  if (hashes.length === 0) return () => false;
  const allowed = new Set(hashes);
  return (code) =>
    (["sha256", "sha384", "sha512"] as const).some((algorithm) => allowed.has(`${algorithm}-${createHash(algorithm).update(code, "utf8").digest("base64")}`));
}

interface Bundled {
  outputs: Map<string, Uint8Array>;
  /** Folder files esbuild read (POSIX, relative to the folder). */
  inputs: string[];
  /** For a script entry that imports CSS: the stylesheet esbuild wrote beside it, by the script's output path. */
  cssBundles: Map<string, string>;
}

async function bundle(dir: string, root: string, entries: [string, Entry][], onProgress: ((message: string) => void) | undefined): Promise<Bundled> {
  const { build } = await import("esbuild");
  const scripts = entries.filter(([, entry]) => (entry.code?.loader ?? (entry.source.endsWith(".css") ? "css" : "ts")) !== "css").length;
  onProgress?.(`building the UI pages with esbuild (${scripts} script${scripts === 1 ? "" : "s"}, ${entries.length - scripts} stylesheet${entries.length - scripts === 1 ? "" : "s"})…`);
  const started = performance.now();
  const inlineCode = new Map(entries.filter(([, entry]) => entry.code !== undefined).map(([key, entry]) => [key, entry]));
  // Inline code resolves its imports from its page's folder, and is named after its page.
  const virtual: CheckInputsOptions["virtual"] = (input) => {
    const key = input.startsWith(`${INLINE_NAMESPACE}:`) ? input.slice(INLINE_NAMESPACE.length + 1) : null;
    const entry = key === null ? undefined : inlineCode.get(key);
    return entry === undefined ? undefined : { resolveDir: resolve(dir, entry.source, ".."), name: key! };
  };
  const confinement = await Confinement.create(dir, { virtual });

  // Inline code is a virtual module resolved from the folder of the page that held it.
  const inline: Plugin = {
    name: "annex-inline",
    setup(build) {
      build.onResolve({ filter: /#\d+$/ }, (args) => (args.kind === "entry-point" && inlineCode.has(args.path) ? { path: args.path, namespace: INLINE_NAMESPACE } : undefined));
      build.onLoad({ filter: /.*/, namespace: INLINE_NAMESPACE }, async (args) => {
        const entry = inlineCode.get(args.path)!;
        const resolveDir = resolve(dir, entry.source, "..");
        // esbuild parses it as a file of that folder: a sourceMappingURL comment in it is read like one in a file.
        await confinement.checkCode(entry.code!.text, resolveDir, args.path);
        return { contents: entry.code!.text, loader: entry.code!.loader, resolveDir };
      });
    },
  };

  let result;
  try {
    result = await build({
      absWorkingDir: dir,
      entryPoints: entries.map(([key, entry]) => ({ in: entry.code === undefined ? resolve(dir, entry.source) : key, out: entry.out })),
      outdir: dir,
      bundle: true,
      format: "esm",
      splitting: true,
      platform: "browser",
      target: "es2022",
      chunkNames: `${root}/assets/[name]-[hash]`,
      assetNames: `${root}/assets/[name]-[hash]`,
      loader: ASSET_LOADERS,
      // Whitespace and syntax only: smaller files without path comments, names left as written (no renaming surprises).
      minifyWhitespace: true,
      minifySyntax: true,
      sourcemap: "linked",
      sourcesContent: true,
      metafile: true,
      write: false,
      allowOverwrite: true,
      logLevel: "silent",
      charset: "utf8",
      plugins: [inline, confinement.plugin()],
    });
  } catch (error) {
    // A refusal is the same whichever page caused it: it names the file that imports.
    if (isBuildFailure(error)) throw (await confinement.failure(error.errors)) ?? new EsbuildMessages(error.errors);
    throw error;
  }
  await confinement.checkBuild(result.metafile);
  const unbundled = result.warnings.filter((warning) => warning.id === "unsupported-dynamic-import" || warning.id === "unsupported-require-call");
  if (unbundled.length > 0) throw new EsbuildMessages(unbundled);

  const outputs = new Map<string, Uint8Array>();
  for (const file of result.outputFiles) {
    const path = toBundlePath(dir, file.path);
    if (path === null || !isUnder(path, root)) {
      throw new BuildError("E_UI_BUILD", `esbuild wrote ${file.path}, outside ui.root ("${root}/"): report a bug with the page that caused it.`, { path: file.path });
    }
    outputs.set(path, file.contents);
  }
  await checkImports(root, outputs, result.metafile);
  const cssBundles = new Map<string, string>();
  for (const [path, meta] of Object.entries(result.metafile.outputs)) {
    if (meta.cssBundle !== undefined) cssBundles.set(path, meta.cssBundle);
  }
  // Files outside the folder (checkInputs let through only packages' files) are not the folder's to leave out.
  const inputs = Object.keys(result.metafile.inputs)
    .filter((input) => !input.includes(":") && !input.startsWith("../") && !input.startsWith("/"))
    .map((input) => input.split(sep).join("/"));
  const size = [...outputs.values()].reduce((sum, bytes) => sum + bytes.byteLength, 0);
  onProgress?.(`built ${outputs.size} UI files (${formatBytes(size)}) in ${Math.round(performance.now() - started)} ms`);
  return { outputs, inputs, cssBundles };
}

/**
 * The built scripts may import only one another: a bare or absolute import
 * left in them would be resolved by the browser against the host.
 */
async function checkImports(root: string, outputs: Map<string, Uint8Array>, metafile: Metafile): Promise<void> {
  const lexer = await import("es-module-lexer");
  await lexer.init;
  for (const [path, meta] of Object.entries(metafile.outputs)) {
    if (!path.endsWith(".js")) continue;
    const code = new TextDecoder().decode(outputs.get(path));
    const [imports] = lexer.parse(code);
    for (const imported of imports) {
      if (imported.d === -2 || imported.n === undefined) continue; // import.meta; import(expression), which esbuild reported.
      const target = imported.n.startsWith("./") || imported.n.startsWith("../") ? new URL(imported.n, `https://x.invalid/${path}`).pathname.slice(1) : null;
      if (target === null || !isUnder(target, root) || !outputs.has(target)) {
        const source = meta.entryPoint ?? path;
        throw new BuildError(
          "E_UI_BUILD",
          `${source} still imports "${imported.n}" after bundling, which the page could not load from its bundle: install the package so that it can be bundled, or import it with a relative path.`,
          { path, imports: [imported.n] },
        );
      }
    }
  }
}

/** A built file must not silently replace a different file of the folder (a stale build output, say). */
function checkOverwrites(outputs: ReadonlyMap<string, Uint8Array>, files: ReadonlyMap<string, Uint8Array>, inputs: ReadonlySet<string>): void {
  for (const path of outputs.keys()) {
    if (files.has(path) && !inputs.has(path)) throw clash(null, path);
  }
}

function clash(page: string | null, path: string): BuildError {
  return new BuildError(
    "E_UI_BUILD",
    `${page === null ? "the UI build" : page} writes "${path}", which is also a file of the folder (a stale build output?): delete or rename it, or add it to .annexignore.`,
    { path },
  );
}

function toBundlePath(dir: string, absolute: string): string | null {
  const prefix = dir.endsWith(sep) ? dir : `${dir}${sep}`;
  return absolute.startsWith(prefix) ? absolute.slice(prefix.length).split(sep).join("/") : null;
}

/** What esbuild refused, before it is known which page it belongs to. */
class EsbuildMessages extends Error {
  constructor(readonly messages: Message[]) {
    super("esbuild failed");
  }
}

/**
 * One esbuild run for every page, so that pages share chunks. When it fails,
 * each page is built alone to name the page (or pages) at fault: esbuild's
 * messages name only the file, which may be a module several pages import.
 */
async function bundleOrExplain(
  dir: string,
  root: string,
  entries: ReadonlyMap<string, Entry>,
  plans: readonly PagePlan[],
  onProgress: ((message: string) => void) | undefined,
): Promise<Bundled> {
  try {
    return await bundle(dir, root, [...entries.entries()], onProgress);
  } catch (error) {
    if (!(error instanceof EsbuildMessages)) throw error;
    const failing: { page: string; messages: Message[] }[] = [];
    for (const plan of plans) {
      if (plan.entries.length === 0) continue;
      try {
        await bundle(dir, root, plan.entries.map((key) => [key, entries.get(key)!]), undefined);
      } catch (pageError) {
        if (!(pageError instanceof EsbuildMessages)) throw pageError;
        failing.push({ page: plan.page, messages: pageError.messages });
      }
    }
    throw uiBuildError(failing.length > 0 ? failing : [{ page: null, messages: error.messages }]);
  }
}

/** esbuild's errors as one E_UI_BUILD naming the page(s) and the file(s), with `file:line:col` lines. */
function uiBuildError(failing: { page: string | null; messages: Message[] }[]): BuildError {
  const messages = failing[0]!.messages;
  const pages = failing.map(({ page }) => page).filter((page): page is string => page !== null);
  const shown = (file: string) => file.replace(`${INLINE_NAMESPACE}:`, "").replace(/#(\d+)$/, " (inline code #$1)");
  const files = [...new Set(messages.map((message) => message.location?.file).filter((file): file is string => file !== undefined).map(shown))];
  const unresolved = [...new Set(messages.map((message) => /^Could not resolve "(.+)"$/.exec(message.text)?.[1]).filter((name): name is string => name !== undefined))];
  const advice =
    unresolved.length > 0
      ? `install ${unresolved.map((name) => `"${name}"`).join(", ")} in the extension's folder, or fix the import path`
      : "fix the errors below and pack again";
  const what = files.length > 0 ? files.join(", ") : "its scripts and stylesheets";
  const subject = pages.length > 0 ? `UI page ${pages.join(", ")}` : "the UI pages";
  return new BuildError("E_UI_BUILD", `${subject} did not build: esbuild could not build ${what}; ${advice}.\n${messages.map(formatMessage).join("\n")}`, {
    pages,
    files,
    imports: unresolved,
  });
}

/** The page with each built element pointing at its output; edits are applied from the end so that offsets stay valid. */
function rewrite(plan: PagePlan, cssBundles: ReadonlyMap<string, string>): string {
  const edits: { span: Span; text: string }[] = [];
  const url = (target: string) => escapeAttribute(relativeUrl(plan.page, target));
  const linkFor = (script: string) => {
    const css = cssBundles.get(script);
    return css === undefined ? "" : `<link rel="stylesheet" href="${url(css)}">`;
  };
  for (const [index, action] of plan.actions.entries()) {
    const output = plan.outputs.get(index)!;
    switch (action.kind) {
      case "module-script":
        edits.push({ span: action.src, text: `src="${url(output)}"` });
        if (action.integrity !== null) edits.push({ span: action.integrity, text: "" });
        if (cssBundles.has(output)) edits.push({ span: { start: action.tagStart, end: action.tagStart }, text: linkFor(output) });
        break;
      case "stylesheet":
        edits.push({ span: action.href, text: `href="${url(output)}"` });
        if (action.integrity !== null) edits.push({ span: action.integrity, text: "" });
        break;
      case "inline-module":
        edits.push({ span: action.element, text: `${linkFor(output)}<script ${action.attributes} src="${url(output)}"></script>` });
        break;
      case "inline-classic":
        edits.push({ span: action.element, text: `<script${action.attributes === "" ? "" : ` ${action.attributes}`} src="${url(output)}"></script>` });
        break;
      case "inline-style":
        edits.push({ span: action.element, text: `<link rel="stylesheet"${action.attributes === "" ? "" : ` ${action.attributes}`} href="${url(output)}">` });
        break;
    }
  }
  let html = plan.html;
  for (const edit of edits.sort((a, b) => b.span.start - a.span.start || b.span.end - a.span.end)) {
    html = html.slice(0, edit.span.start) + edit.text + html.slice(edit.span.end);
  }
  return html;
}
