import { readFile } from "node:fs/promises";
import { dirname, isAbsolute } from "node:path";
import type { Message, Metafile, OnLoadResult, Plugin } from "esbuild";
import { shownPath } from "./confine.js";
import { checkImports, checkInputs, hasNamespace, importerOf, logicalPaths, type CheckInputsOptions, type Import } from "./confine-imports.js";
import { ReadGate } from "./confine-reads.js";
import { BuildError } from "./errors.js";
import { pluginError } from "./esbuild-messages.js";

/** Files esbuild parses as JavaScript, TypeScript or CSS: the ones whose `sourceMappingURL` comment it follows. */
const PARSED = /\.(?:[cm]?[jt]s|[jt]sx|css)$/i;
/** What esbuild gets for a file it is not to read: nothing, so the build finishes and checkInputs names the import. */
const UNREAD: OnLoadResult = { contents: "", loader: "empty" };

/**
 * Keeps a build (the server entry, the UI pages) from reading anything
 * outside the extension folder's repository and its installed packages (see
 * ReadGate), before esbuild reads it, and refuses what it kept from it once
 * the build is done:
 *
 * - An import whose path (`../..`, an absolute path, a CSS url()) leads
 *   outside is resolved here, never by esbuild (whose resolver would read
 *   the package.json and tsconfig.json of the folder it leads to).
 * - A file esbuild is to load (`import`, `require`, `@import`, `url()`, any
 *   loader: js, json, css, text, file, dataurl, binary, copy…) that is not
 *   readable is loaded empty, unread; a special file (a FIFO would hang the
 *   build, a device never end) of the repository is refused.
 * - Files esbuild reads without asking a plugin are checked before it
 *   reads them: the package.json, tsconfig.json (and what it extends) of the
 *   folders it resolves from and into, and the source map a
 *   `sourceMappingURL` comment names.
 *
 * After the build, checkBuild runs checkInputs, which refuses the import of
 * a file kept unread with its usual message (the importer, the import, the
 * link); should it let one through (the gate knows less, so it may be
 * stricter), the build is refused all the same: nothing is ever built with a
 * file silently emptied. When the build fails, failure says why in the same
 * words, or names the file kept unread, so that an esbuild error never
 * stands for a refusal.
 */
export class Confinement {
  readonly #root: string;
  readonly #gate: ReadGate;
  readonly #options: CheckInputsOptions;
  /** Imports resolved here because they lead outside: what checkImports names when the build fails. */
  readonly #refused: Import[] = [];
  /** Files esbuild loaded empty, by the path esbuild has for them. */
  readonly #unread = new Set<string>();

  private constructor(root: string, gate: ReadGate, options: CheckInputsOptions) {
    this.#root = root;
    this.#gate = gate;
    this.#options = options;
  }

  /** `root`: the folder's real path; `options`: how checkInputs names the importers of the build's own namespaces. */
  static async create(root: string, options: CheckInputsOptions = {}): Promise<Confinement> {
    return new Confinement(root, await ReadGate.create(root), options);
  }

  plugin(): Plugin {
    return {
      name: "annex-confine",
      setup: (build) => {
        build.onResolve({ filter: /.*/ }, (args) => this.#resolve(args.path, args.importer, args.namespace, args.resolveDir, args.kind));
        build.onLoad({ filter: /.*/, namespace: "file" }, (args) => this.#load(args.path));
      },
    };
  }

  /** For code a plugin hands esbuild (a page's inline script or style), which esbuild parses as it would a file in `dir`. */
  async checkCode(code: string, dir: string, name: string): Promise<void> {
    await this.#gate.checkFolder(dir);
    await this.#gate.checkSourceMaps(code, [dir], name);
  }

  /** After a build: checkInputs, then the refusal of any file kept unread that it let through. */
  async checkBuild(metafile: Metafile): Promise<void> {
    await checkInputs(this.#root, metafile, this.#options);
    const [path] = this.#unread;
    if (path !== undefined) throw unread(this.#root, path);
  }

  /** After a failed build: the refusal that explains it, if there is one, rather than esbuild's messages. */
  async failure(messages: readonly Message[]): Promise<BuildError | undefined> {
    const thrown = pluginError(messages);
    if (thrown !== undefined) return thrown;
    if (this.#refused.length > 0) {
      try {
        await checkImports(this.#root, this.#refused);
      } catch (error) {
        if (error instanceof BuildError) return error;
        throw error;
      }
    }
    const [path] = this.#unread;
    return path === undefined ? undefined : unread(this.#root, path);
  }

  async #resolve(path: string, importer: string, namespace: string, resolveDir: string, kind: Import["kind"]): Promise<{ path: string } | undefined> {
    if (resolveDir === "") return undefined; // esbuild resolves nothing without a folder to resolve from.
    const gate = this.#gate;
    await gate.checkFolder(resolveDir);
    if (kind === "entry-point") {
      // The folder's own file (checkFolderFile): esbuild reads its folder's package.json and tsconfig.json next.
      if (isAbsolute(path)) await gate.checkFolder(dirname(path));
      return undefined;
    }
    if (hasNamespace(path)) return undefined; // data: and http: URLs name no file.
    const site = { path, resolveDir, kind };
    await gate.learn(site);
    const outside: string[] = [];
    for (const logical of logicalPaths(site)) {
      const real = await gate.real(logical);
      if (!(await gate.mayRead(real))) {
        outside.push(real);
        continue;
      }
      for (const folder of new Set([dirname(logical), dirname(real), real])) await gate.checkFolder(folder);
    }
    if (outside.length === 0) return undefined;
    // Resolved here, so that esbuild never looks into the folder it leads to; it loads the file empty, unread, and
    // checkInputs names the import like any other once the build is done. The path with its `?query` when that is a file.
    let file = outside.at(-1)!;
    for (const candidate of outside) {
      if ((await gate.fs.lstat(candidate)) !== null) {
        file = candidate;
        break;
      }
    }
    const from = importerOf(this.#root, namespace === "file" ? importer : `${namespace}:${importer}`, this.#options);
    this.#refused.push({ ...from, resolveDir, kind, path, file });
    this.#unread.add(file);
    return { path: file };
  }

  async #load(path: string): Promise<OnLoadResult | undefined> {
    if (this.#unread.has(path)) return UNREAD;
    const gate = this.#gate;
    const real = await gate.fs.realpath(path);
    const info = real === null ? null : await gate.fs.lstat(real);
    if (real === null || info === null) {
      // Nothing there for Node: esbuild says it cannot read it, or reads into a .zip as into a folder (Yarn PnP), if the zip may be read.
      if (!(await gate.throughFile(path)) || (await gate.mayRead(await gate.real(path)))) return undefined;
      this.#unread.add(path);
      return UNREAD;
    }
    if (!(await gate.mayRead(real))) {
      this.#unread.add(path);
      return UNREAD;
    }
    const shown = shownPath(this.#root, path);
    if (!info.isFile()) {
      throw new BuildError(
        "E_PACK_PATH",
        `${shown}, which the build was to read, is not a regular file (a FIFO, socket or device): make it a regular file, or remove the import of it.`,
        { path: shown },
      );
    }
    await gate.checkFolder(dirname(real));
    if (PARSED.test(path) || PARSED.test(real)) await gate.checkSourceMaps(await readFile(real, "utf8"), [...new Set([dirname(path), dirname(real)])], shown);
    return undefined;
  }
}

function unread(root: string, path: string): BuildError {
  const shown = shownPath(root, path);
  return new BuildError(
    "E_PACK_PATH",
    `${shown}, which the build was to read, is outside the extension folder and its repository, and no installed package's file; it was not read, and nothing is built without it: copy the file into the folder, or remove the import of it.`,
    { path: shown },
  );
}
