import { readFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { FsProbe, shownPath } from "./confine.js";
import { isInstalledFile, packageFolders, packageName, repositoryOf, type ImportSite } from "./confine-imports.js";
import { BuildError } from "./errors.js";
import { isInside } from "./paths.js";

/**
 * Files esbuild's resolver reads, unasked, in every folder it resolves an
 * import from or into (the package.json for `type`, `browser` and
 * `sideEffects`, the nearest tsconfig.json or jsconfig.json, a Yarn PnP
 * manifest). No plugin sees these reads.
 */
const RESOLVER_FILES = ["package.json", "tsconfig.json", "jsconfig.json", ".pnp.data.json", ".pnp.cjs", ".pnp.js"];
const TSCONFIG = /^[tj]sconfig\.json$/;

/**
 * What a build may read, decided before esbuild reads it: a file whose real
 * path is inside the extension folder's repository (repositoryOf), a file of
 * an installed package (isInstalledFile), or a file of a package folder an
 * import went into through a `node_modules/<name>` link (learn). The same
 * rules checkInputs applies after the build, but knowing less (not yet which
 * import reached a file): so it may only be stricter. Confinement asks it
 * before esbuild loads a file, and for the files esbuild reads without
 * asking a plugin: the resolver's (RESOLVER_FILES, and what a tsconfig.json
 * extends) and the source maps a `sourceMappingURL` comment names.
 */
export class ReadGate {
  readonly root: string;
  readonly repository: string;
  readonly fs = new FsProbe();
  /** Real folders of the packages imports may go into through `node_modules/<name>`. */
  readonly #packages = new Set<string>();
  readonly #folders = new Map<string, Promise<void>>();

  private constructor(root: string, repository: string) {
    this.root = root;
    this.repository = repository;
  }

  /** `root`: the extension folder's real path. */
  static async create(root: string): Promise<ReadGate> {
    return new ReadGate(root, await repositoryOf(root));
  }

  /** Whether the file (a real path) may be read. */
  async mayRead(real: string): Promise<boolean> {
    return isInside(this.repository, real) || [...this.#packages].some((folder) => isInside(folder, real)) || (await isInstalledFile(this.fs, real));
  }

  /** Notes the package folders an import may go into (before esbuild resolves it), so that their files may be read. */
  async learn(site: ImportSite): Promise<void> {
    for (const folder of await packageFolders(this.fs, site)) this.#packages.add(folder);
  }

  /** The real path of `path`; for a path that does not exist, that of its nearest existing folder, with the rest of the path. */
  async real(path: string): Promise<string> {
    const rest: string[] = [];
    for (let current = path; ; current = dirname(current)) {
      const real = await this.fs.realpath(current);
      if (real !== null) return join(real, ...rest.reverse());
      if (dirname(current) === current) return path;
      rest.push(basename(current));
    }
  }

  /** Whether a file stands on the way to `path`, which does not exist: esbuild reads a path into a .zip as one into a folder. */
  async throughFile(path: string): Promise<boolean> {
    for (let current = dirname(path); dirname(current) !== current; current = dirname(current)) {
      const real = await this.fs.realpath(current);
      if (real !== null) return (await this.fs.lstat(real))?.isFile() === true;
    }
    return false;
  }

  /**
   * Checks the files esbuild's resolver reads in `dir` and each folder above
   * it, up to the repository's root (above it, and in node_modules, they are
   * not the project's): each must be a regular file inside the repository
   * (or an installed package's), and what a tsconfig.json extends too. Once
   * per folder.
   */
  checkFolder(dir: string): Promise<void> {
    if (!(dir === this.repository || isInside(this.repository, dir)) || relative(this.repository, dir).split(sep).includes("node_modules")) return Promise.resolve();
    let checked = this.#folders.get(dir);
    if (checked === undefined) {
      checked = (async () => {
        for (const name of RESOLVER_FILES) {
          const path = join(dir, name);
          const real = await this.#readable(path, resolverFileRefused(this.#shown(path)));
          if (real !== null && TSCONFIG.test(name)) await this.#checkExtends(real, this.#shown(path), new Set());
        }
        if (dirname(dir) !== dir) await this.checkFolder(dirname(dir));
      })();
      this.#folders.set(dir, checked);
    }
    return checked;
  }

  /**
   * Refuses a `sourceMappingURL` comment of a file about to be built that
   * names a file outside, or a special file: esbuild reads that file itself
   * (its map is composed into the bundle's, `sourcesContent` included) and
   * quotes it in its errors. `dirs`: the folders it may be resolved from (the
   * file's, as esbuild has it and real). Each comment is read as esbuild
   * reads it (a URL resolved against the file's folder, `file:` URLs
   * absolute) and as a plain path, in case the two differ.
   */
  async checkSourceMaps(text: string, dirs: readonly string[], shown: string): Promise<void> {
    if (!text.includes("sourceMappingURL=")) return;
    for (const match of text.matchAll(/sourceMappingURL=(\S*)/g)) {
      for (const url of new Set([match[1]!, match[1]!.replace(/\*\/.*$/, "")])) {
        if (url === "" || /^data:/i.test(url) || /^(?!file:)[a-z][a-z\d+.-]*:/i.test(url)) continue; // inline, or a URL esbuild does not fetch
        for (const dir of dirs) {
          for (const candidate of sourceMapPaths(url, dir)) await this.#readable(candidate, (real, special) => sourceMapRefused(shown, url, real, special));
        }
      }
    }
  }

  /** `path` as messages name it: relative to the extension folder when inside it. */
  #shown(path: string): string {
    return shownPath(this.root, path);
  }

  /**
   * The real path of `path` when it is a file the build may read; null when
   * there is nothing there to read (or a folder); the refusal `refuse` makes
   * when it is outside or not a regular file.
   */
  async #readable(path: string, refuse: (real: string, special: boolean) => BuildError): Promise<string | null> {
    if ((await this.fs.lstat(path)) === null) {
      // Nothing there, unless a file stands on the way: esbuild reads into a .zip as into a folder (Yarn PnP's packages).
      if (!(await this.throughFile(path))) return null;
      const real = await this.real(path);
      if (!(await this.mayRead(real))) throw refuse(real, false);
      return null;
    }
    const real = await this.fs.realpath(path);
    const info = real === null ? null : await this.fs.lstat(real);
    if (real === null || info === null || info.isDirectory()) return null;
    if (!(await this.mayRead(real))) throw refuse(real, false);
    if (!info.isFile()) throw refuse(real, true);
    return real;
  }

  /** What a tsconfig.json (`config`, real) extends, and what that extends in turn, must be readable too. */
  async #checkExtends(config: string, shown: string, seen: Set<string>): Promise<void> {
    if (seen.has(config)) return;
    seen.add(config);
    const text = await readFile(config, "utf8").catch(() => null);
    if (text === null) return;
    for (const value of extendsOf(text)) {
      for (const candidate of await this.#extendsPaths(value, dirname(config))) {
        const real = await this.#readable(candidate, (target, special) => extendsRefused(shown, value, target, special));
        if (real !== null) await this.#checkExtends(real, this.#shown(real), seen);
      }
    }
  }

  /**
   * Every file esbuild may try for `"extends": value` in a tsconfig.json in
   * `dir`: a path (and with `.json` added); a package's, in each
   * node_modules from `dir` up (its folder's tsconfig.json, the path, with
   * `.json`, and what its package.json's `tsconfig` field names).
   */
  async #extendsPaths(value: string, dir: string): Promise<string[]> {
    const extended = value === "." || value === ".." ? `${value}/tsconfig.json` : value;
    if (isAbsolute(extended) || extended.startsWith("./") || extended.startsWith("../")) {
      const path = resolve(dir, extended);
      return [path, `${path}.json`];
    }
    const paths: string[] = [];
    const name = packageName(extended);
    for (let current = dir; ; current = dirname(current)) {
      if (basename(current) !== "node_modules") {
        const path = resolve(current, "node_modules", extended);
        paths.push(join(path, "tsconfig.json"), path, `${path}.json`);
        const folder = name === null ? null : join(current, "node_modules", name);
        const manifest = folder === null ? null : await this.#readable(join(folder, "package.json"), resolverFileRefused(this.#shown(join(folder, "package.json"))));
        const field = manifest === null ? undefined : tsconfigField(await readFile(manifest, "utf8").catch(() => ""));
        if (field !== undefined) {
          const named = isAbsolute(field) ? field : resolve(folder!, field);
          paths.push(join(named, "tsconfig.json"), named, `${named}.json`);
        }
      }
      if (dirname(current) === current) return paths;
    }
  }
}

/** The paths a `sourceMappingURL` may name, read from `dir`: as a URL, and as a path (`..` left for the file system to follow). */
function sourceMapPaths(url: string, dir: string): string[] {
  const paths: string[] = [];
  try {
    const parsed = new URL(url, pathToFileURL(`${dir}/`));
    if (parsed.protocol === "file:") paths.push(decoded(parsed.pathname));
  } catch {
    // Not a URL to Node: the plain readings below still apply.
  }
  const path = url.replace(/[?#].*$/, "");
  if (/^file:/i.test(path)) paths.push(decoded(path.replace(/^file:(?:\/\/(?:localhost)?)?/i, "")));
  else paths.push(`${dir}/${decoded(path)}`, `${dir}/${path}`, resolve(dir, decoded(path)));
  return [...new Set(paths)];
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The `tsconfig` field of a package.json, if it has one. */
function tsconfigField(text: string): string | undefined {
  try {
    const field = (JSON.parse(text) as { tsconfig?: unknown }).tsconfig;
    return typeof field === "string" && field !== "" ? field : undefined;
  } catch {
    return undefined;
  }
}

type Token = { kind: "string"; value: string } | { kind: "mark"; value: string } | { kind: "other" };

/**
 * Every value of an `extends` key in a tsconfig.json, at any depth, a string
 * or an array of strings: what esbuild reads next. The file is JSON with
 * comments and trailing commas (and, to be safe, single-quoted strings);
 * tokens are read the way a JSON parser reads them, so a comment cannot hide
 * a key from this reading and not from esbuild's.
 */
export function extendsOf(text: string): string[] {
  const tokens: Token[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "/" && text[i + 1] === "/") {
      const end = text.indexOf("\n", i);
      i = end < 0 ? text.length : end;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (c === '"' || c === "'") {
      let end = i + 1;
      while (end < text.length && text[end] !== c && text[end] !== "\n") end += text[end] === "\\" ? 2 : 1;
      tokens.push({ kind: "string", value: unquoted(text.slice(i + 1, end)) });
      i = end + 1;
    } else if ("{}[]:,".includes(c)) {
      tokens.push({ kind: "mark", value: c });
      i++;
    } else {
      while (i < text.length && !/[\s{}[\]:,"'/]/.test(text[i]!)) i++;
      if (tokens.at(-1)?.kind !== "other") tokens.push({ kind: "other" });
      if (text[i] === "/" && text[i + 1] !== "/" && text[i + 1] !== "*") i++;
    }
  }
  const values: string[] = [];
  tokens.forEach((token, at) => {
    if (token.kind !== "string" || token.value !== "extends" || !isMark(tokens[at + 1], ":")) return;
    const value = tokens[at + 2];
    if (value?.kind === "string") values.push(value.value);
    if (!isMark(value, "[")) return;
    for (let next = at + 3; next < tokens.length && !isMark(tokens[next], "]"); next++) {
      const item = tokens[next]!;
      if (item.kind === "string") values.push(item.value);
    }
  });
  return values;
}

function isMark(token: Token | undefined, mark: string): boolean {
  return token?.kind === "mark" && token.value === mark;
}

/** A string token's value, escapes decoded as JSON decodes them. */
function unquoted(raw: string): string {
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}

function why(real: string, special: boolean): string {
  return special ? `${real}, which is not a regular file (a FIFO, socket or device)` : `${real}, outside the extension folder and its repository`;
}

function resolverFileRefused(shown: string): (real: string, special: boolean) => BuildError {
  return (real, special) =>
    new BuildError(
      "E_PACK_PATH",
      `${shown}, which esbuild reads to resolve imports (as it reads every package.json, tsconfig.json and jsconfig.json on the way), resolves to ${why(real, special)}; the build reads only the repository's regular files and installed packages: make it a regular file of the repository, or remove it.`,
      { path: shown, resolved: real },
    );
}

function extendsRefused(shown: string, value: string, real: string, special: boolean): BuildError {
  return new BuildError(
    "E_PACK_PATH",
    `${shown} extends ${JSON.stringify(value)}, which resolves to ${why(real, special)}; esbuild reads what a tsconfig.json extends, and the build reads only the repository's regular files and installed packages: copy the base configuration into the repository, or install it as a package.`,
    { path: shown, extends: value, resolved: real },
  );
}

function sourceMapRefused(shown: string, url: string, real: string, special: boolean): BuildError {
  return new BuildError(
    "E_PACK_PATH",
    `${shown} names the source map ${JSON.stringify(url)} (sourceMappingURL), which resolves to ${why(real, special)}; esbuild reads the map to compose the bundle's own, and the build reads only the repository's regular files and installed packages: remove the comment, or keep the map beside the file.`,
    { path: shown, sourceMappingURL: url, resolved: real },
  );
}
