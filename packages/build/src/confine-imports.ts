import { lstat } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { ImportKind, Metafile } from "esbuild";
import { FsProbe, firstLink, inNodeModules, shownPath } from "./confine.js";
import { BuildError } from "./errors.js";
import { isInside } from "./paths.js";

/** CSS tries `url(x.png)` and `@import "x.css"` as relative paths before packages. */
const CSS_KINDS: ReadonlySet<ImportKind> = new Set(["url-token", "import-rule", "composes-from"]);

export interface CheckInputsOptions {
  /**
   * For an input of a namespace of the build's own (`annex-inline:ui/index.html#1`):
   * the folder its relative imports resolve from, and how messages name it.
   */
  virtual?: (input: string) => { resolveDir: string; name: string } | undefined;
}

/** One import as esbuild resolved it. */
export interface Import {
  /** The importing file, as messages name it. */
  from: string;
  /** The folder its relative imports resolve from; null when unknown. */
  resolveDir: string | null;
  kind: ImportKind;
  /** The import as written. */
  path: string;
  /** What esbuild resolved it to: a real path (esbuild follows links). */
  file: string;
}

/** Where an import was written, before it is resolved: what the paths and packages it may reach are worked out from. */
export type ImportSite = Pick<Import, "resolveDir" | "kind" | "path">;

/**
 * esbuild reads whatever an import resolves to, links followed, wherever it
 * is, and apart from readFolder's rules (it reads hidden and ignored folders
 * too). Confinement keeps it from reading a file outside (it loads it
 * empty); and before anything a build produced is used, every import in its
 * metafile (`import`, `require`, CSS `@import` and `url()`) is checked, and
 * the first that reached one of these is E_PACK_PATH, naming the importing
 * file, the import and the link:
 *
 * - a file outside the extension folder (`root`, a real path) and outside
 *   its repository (repositoryOf: code a workspace shares between its
 *   extensions is fine), unless it is a file of a package: of a folder with a package.json under some
 *   node_modules (npm's and pnpm's installs, a workspace's hoisted
 *   node_modules), or of the folder a `node_modules/<name>` link points to (a
 *   workspace link) that the import went through;
 * - a file in the folder, outside node_modules, reached through a symbolic
 *   link (as readFolder refuses them), even in a folder readFolder ignores.
 *
 * Links under node_modules are trusted as the package manager made them:
 * they are how pnpm and workspaces install packages. The entry points are
 * checked before the build (checkFolderFile); special files are refused
 * while it runs (Confinement).
 */
export async function checkInputs(root: string, metafile: Metafile, options: CheckInputsOptions = {}): Promise<void> {
  const imports: Import[] = [];
  for (const [input, meta] of Object.entries(metafile.inputs)) {
    const importer = importerOf(root, input, options);
    for (const imported of meta.imports) {
      if (imported.external === true || hasNamespace(imported.path)) continue;
      const file = resolve(root, withoutAttributes(imported.path, imported.with));
      imports.push({ ...importer, kind: imported.kind, path: imported.original ?? imported.path, file });
    }
  }
  await checkImports(root, imports);
}

/** checkInputs for imports already listed (those Confinement kept from esbuild, when the build failed without a metafile). */
export async function checkImports(root: string, imports: readonly Import[]): Promise<void> {
  const check = new InputCheck(root, await repositoryOf(root));
  // The linked packages first: a package's own relative imports may come before the import that went into it.
  for (const imported of imports) await check.learnPackage(imported);
  for (const imported of imports) await check.import(imported);
}

/**
 * A metafile names an import with attributes by its path and the attributes
 * (`x.txt with { type: 'text' }`): the file is the path alone.
 */
function withoutAttributes(path: string, attributes: Record<string, string> | undefined): string {
  if (attributes === undefined || Object.keys(attributes).length === 0) return path;
  const at = path.lastIndexOf(" with {");
  return at > 0 && path.endsWith("}") ? path.slice(0, at) : path;
}

/**
 * The real folders of the packages an import may go into through a
 * `node_modules/<name>` link (or folder): each one that holds a package.json.
 * What learnPackage chooses from, once the file the import reached is known.
 */
export async function packageFolders(fs: FsProbe, site: ImportSite): Promise<string[]> {
  const folders: string[] = [];
  for (const entry of packageEntries(site, logicalPaths(site))) {
    const folder = await fs.realpath(entry);
    if (folder !== null && !folders.includes(folder) && (await fs.isFile(join(folder, "package.json")))) folders.push(folder);
  }
  return folders;
}

/** A file inside `<…>/node_modules/<name>/` (or `@scope/name`), that folder holding a package.json: a package as npm or pnpm installs it. */
export async function isInstalledFile(fs: FsProbe, file: string): Promise<boolean> {
  const segments = file.split(sep);
  const at = segments.lastIndexOf("node_modules");
  const name = segments[at + 1];
  if (at < 0 || name === undefined || name.startsWith(".")) return false;
  return isPackageFolder(fs, segments.slice(0, at + (name.startsWith("@") ? 3 : 2)).join(sep), file);
}

async function isPackageFolder(fs: FsProbe, folder: string | null, file: string): Promise<boolean> {
  return folder !== null && isInside(folder, file) && (await fs.isFile(join(folder, "package.json")));
}

class InputCheck {
  readonly #root: string;
  readonly #repository: string;
  readonly #fs = new FsProbe();
  /** Real folders of the linked packages imports went into: their files may import one another. */
  readonly #packages = new Set<string>();

  constructor(root: string, repository: string) {
    this.#root = root;
    this.#repository = repository;
  }

  /** Notes the package folder an import went into through a `node_modules/<name>` link, if it did. */
  async learnPackage(imported: Import): Promise<void> {
    const file = await this.#real(imported.file);
    if (isInside(this.#root, file)) return;
    const folder = (await packageFolders(this.#fs, imported)).find((candidate) => isInside(candidate, file));
    if (folder !== undefined) this.#packages.add(folder);
  }

  async import(imported: Import): Promise<void> {
    const root = this.#root;
    const file = await this.#real(imported.file);
    const logical = logicalPaths(imported);
    if (isInside(root, file)) {
      if (inNodeModules(relative(root, file))) return;
      const link = await this.#linkOnTheWay(logical, file);
      if (link !== null) throw throughLink(root, imported, link);
      return;
    }
    if ([...this.#packages].some((folder) => isInside(folder, file)) || (await isInstalledFile(this.#fs, file))) return;
    // Code the repository shares between its extensions (`../../hello/src/server.ts` in a workspace): the file's real
    // path is inside the repository being packed, so no link led out of it to the packer's own files.
    if (this.#repository !== root && isInside(this.#repository, file)) return;
    throw outside(root, imported, file, await this.#linkOnTheWay(logical, file));
  }

  async #real(path: string): Promise<string> {
    return (await this.#fs.realpath(path)) ?? path;
  }

  /** The link that took an import elsewhere than the path it names, if any. */
  async #linkOnTheWay(logical: readonly string[], file: string): Promise<string | null> {
    const root = this.#root;
    for (const path of logical) {
      if (!isInside(root, path) || inNodeModules(relative(root, path))) continue;
      const link = await firstLink(root, path, this.#fs);
      if (link !== null) return link;
      if (file === path || isInside(path, file)) continue;
      // esbuild added an extension (`./a` → a.ts, `./a.js` → a.ts) or an index file: the file it found may be the link.
      const stem = basename(path).replace(/\.[^.]*$/, "");
      const found = (await this.#linkIn(dirname(path), (name) => name.startsWith(stem), file)) ?? (await this.#linkIn(path, () => true, file));
      if (found !== null) return found;
    }
    return null;
  }

  async #linkIn(folder: string, matches: (name: string) => boolean, file: string): Promise<string | null> {
    for (const entry of await this.#fs.entries(folder)) {
      if (!entry.isSymbolicLink() || !matches(entry.name)) continue;
      const target = await this.#fs.realpath(join(folder, entry.name));
      if (target !== null && (target === file || isInside(target, file))) return join(folder, entry.name);
    }
    return null;
  }
}

/** Metafile paths of other namespaces read `namespace:path` (annex-inline:…, dataurl:…); the folder's files are relative paths. */
export function hasNamespace(path: string): boolean {
  return /^[\w-]+:/.test(path);
}

export function importerOf(root: string, input: string, options: CheckInputsOptions): Pick<Import, "from" | "resolveDir"> {
  if (hasNamespace(input)) {
    const virtual = options.virtual?.(input);
    return virtual === undefined ? { from: input, resolveDir: null } : { from: virtual.name, resolveDir: virtual.resolveDir };
  }
  const path = resolve(root, input);
  return { from: shownPath(root, path), resolveDir: dirname(path) };
}

/**
 * The paths an import names before links are followed: resolved against its
 * importer's folder when it is a path (and, in CSS, when it may be one), with
 * and without a `?query` or `#hash` (esbuild drops one that names no file).
 * A bare package name has none: packageEntries finds its folder.
 */
export function logicalPaths(imported: ImportSite): string[] {
  const { path, resolveDir, kind } = imported;
  const variants = [...new Set([path, path.replace(/[?#].*$/, "")])].filter((variant) => variant !== "");
  if (isAbsolute(path)) return variants;
  if (resolveDir === null || !(isPathLike(path) || CSS_KINDS.has(kind))) return [];
  return variants.map((variant) => resolve(resolveDir, variant));
}

function isPathLike(path: string): boolean {
  return /^\.\.?(?:\/|$)/.test(path) || isAbsolute(path);
}

/**
 * The `node_modules/<name>` entries an import may have gone through: for a
 * package name, each node_modules from the importer's folder up (how Node and
 * esbuild look it up); for a path, the node_modules entries along it.
 */
function packageEntries(imported: ImportSite, logical: readonly string[]): string[] {
  const entries: string[] = [];
  const name = isPathLike(imported.path) ? null : packageName(imported.path);
  if (name !== null && imported.resolveDir !== null) {
    for (let folder = imported.resolveDir; ; folder = dirname(folder)) {
      entries.push(join(folder, "node_modules", name));
      if (dirname(folder) === folder) break;
    }
  }
  for (const path of logical) {
    const segments = path.split(sep);
    segments.forEach((segment, i) => {
      const next = segments[i + 1];
      if (segment === "node_modules" && next !== undefined) entries.push(segments.slice(0, i + (next.startsWith("@") ? 3 : 2)).join(sep));
    });
  }
  return entries;
}

/** `pkg` of `pkg/sub/path`, `@scope/pkg` of `@scope/pkg/sub`; null for what cannot be a package name. */
export function packageName(path: string): string | null {
  const segments = path.split("/");
  const scoped = path.startsWith("@");
  const name = scoped ? segments.slice(0, 2).join("/") : segments[0]!;
  return name === "" || name.startsWith(".") || name.includes(":") || (scoped && segments.length < 2) ? null : name;
}

/** `src/server.ts imports "../x"`, in the words of the kind of import. */
function describe(imported: Import): string {
  const verb = imported.kind === "url-token" ? "refers to" : imported.kind === "import-rule" ? "@imports" : "imports";
  return `${imported.from} ${verb} ${JSON.stringify(imported.path)}`;
}

function outside(root: string, imported: Import, file: string, link: string | null): BuildError {
  const shown = link === null ? null : shownPath(root, link);
  const via = shown === null ? "" : ` through the symbolic link ${shown}`;
  return new BuildError(
    "E_PACK_PATH",
    `${describe(imported)}, which resolves${via} to ${file}, outside the extension folder and its repository; a bundle holds only the folder's own files, its installed packages and code its repository shares: copy the file into the folder${shown === null ? "" : " in place of the link"}, or remove the import.`,
    { importer: imported.from, path: imported.path, resolved: file, ...(shown === null ? {} : { link: shown }) },
  );
}

function throughLink(root: string, imported: Import, link: string): BuildError {
  const shown = shownPath(root, link);
  return new BuildError(
    "E_PACK_PATH",
    `${describe(imported)} through the symbolic link ${shown}; the build reads only the folder's own regular files (a link can point anywhere): replace the link with a copy of its target, or import the target's own path.`,
    { importer: imported.from, path: imported.path, link: shown },
  );
}

/**
 * The repository the extension folder belongs to: the nearest folder above
 * it (itself included) holding `.git` or `pnpm-workspace.yaml`, or the folder
 * itself when there is none. What a build may read outside the folder stays inside it: a
 * project cloned to be packed cannot reach the packer's home, its keys or
 * another checkout through `../..` or an absolute path.
 */
export async function repositoryOf(root: string): Promise<string> {
  for (let folder = root; ; folder = dirname(folder)) {
    for (const marker of [".git", "pnpm-workspace.yaml"]) {
      if ((await lstat(join(folder, marker)).catch(() => null)) !== null) return folder;
    }
    if (dirname(folder) === folder) return root;
  }
}
