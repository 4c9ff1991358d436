import { SourceMap } from "node:module";
import { isUiPath, uiRootOf } from "@annex/manifest/runtime";
import type { ExecutionLimits } from "../envelope.js";
import { RunnerError } from "../errors.js";
import { manifestLimitsToExecutionLimits, type ManifestLimits } from "../limits.js";

/**
 * The parts of a verified bundle the engine needs. A runner builds these only
 * from a bundle `verifyBundle` produced (or, inside a worker, from parts the
 * pool's main thread verified).
 */
export interface BundleParts {
  contentHash: string;
  manifest: unknown;
  files: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>;
}

/**
 * A server entry ready to run, cached by content hash. QuickJS (through
 * quickjs-emscripten) offers no way to reuse compiled bytecode across
 * contexts, so the decoded source is what is cached: a few bytes per byte of
 * bundle, with no sandbox memory held while idle.
 */
export interface CompiledBundle {
  contentHash: string;
  extensionId: string;
  version: string;
  entry: string;
  /** JavaScript modules of the bundle by path (the entry and anything it may import). */
  modules: ReadonlyMap<string, string>;
  sourceMap: SourceMap | undefined;
  /** Handler names the manifest declares for endpoints, jobs and event subscriptions. */
  declaredHandlers: ReadonlySet<string>;
  /** Filled at load: the declared handlers the entry actually exports as functions. */
  exportedHandlers: string[];
  warmContext: boolean;
  /** The manifest's requested capabilities, as declared. */
  capabilities: readonly unknown[];
  /** Their names. */
  requested: ReadonlySet<string>;
  limits: Partial<ExecutionLimits>;
}

type Loose = Record<string, unknown>;

function record(value: unknown): Loose | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Loose) : undefined;
}

function handlersOf(manifest: Loose): Set<string> {
  const out = new Set<string>();
  const add = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const item of list) {
      const handler = record(item)?.["handler"];
      if (typeof handler === "string") out.add(handler);
    }
  };
  add(manifest["endpoints"]);
  add(manifest["jobs"]);
  add(record(manifest["events"])?.["subscribes"]);
  return out;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function fileMap(files: BundleParts["files"]): ReadonlyMap<string, Uint8Array> {
  return files instanceof Map ? files : new Map(Object.entries(files as Record<string, Uint8Array>));
}

/** Reads what the engine needs from a verified bundle's manifest and files. */
export function compileBundle(parts: BundleParts): CompiledBundle {
  const manifest = record(parts.manifest);
  const id = manifest?.["id"];
  const version = manifest?.["version"];
  const runtime = record(manifest?.["runtime"]);
  const label = `${typeof id === "string" ? id : "?"}@${typeof version === "string" ? version : "?"}`;
  if (manifest === undefined || typeof id !== "string" || typeof version !== "string" || runtime === undefined) {
    throw new RunnerError("E_BUNDLE_INVALID", `bundle ${parts.contentHash} has no readable manifest (id, version, runtime)`);
  }
  if (runtime["class"] !== "service") {
    throw new RunnerError(
      "E_BUNDLE_INVALID",
      `bundle ${label} has runtime.class ${JSON.stringify(runtime["class"])}; only "service" bundles have server code to load`,
      { path: "runtime.class" },
    );
  }
  const entry = runtime["entry"];
  if (typeof entry !== "string" || entry === "") {
    throw new RunnerError("E_BUNDLE_INVALID", `bundle ${label} declares no runtime.entry; a service bundle needs one`, {
      path: "runtime.entry",
    });
  }
  if (isUiPath(manifest, entry)) {
    // The manifest refuses this at publish; a bundle published before that rule is refused here, by every runner alike.
    throw new RunnerError(
      "E_BUNDLE_INVALID",
      `bundle ${label}: runtime.entry ${entry} is under ui.root ("${uiRootOf(manifest)}/"), whose files are served to browsers and never run as server code; build the entry elsewhere and publish a new version`,
      { path: "runtime.entry" },
    );
  }
  const files = fileMap(parts.files);
  if (!files.has(entry)) {
    throw new RunnerError("E_BUNDLE_INVALID", `bundle ${label}: runtime.entry ${entry} is not a file in the bundle`, {
      path: "runtime.entry",
    });
  }
  const modules = new Map<string, string>();
  for (const [path, bytes] of files) {
    // UI files (under ui.root) are never server code: not loaded, not importable.
    if (!/\.(m?js)$/.test(path) || isUiPath(manifest, path)) continue;
    try {
      modules.set(path, decoder.decode(bytes));
    } catch {
      if (path === entry) {
        throw new RunnerError("E_BUNDLE_INVALID", `bundle ${label}: ${entry} is not valid UTF-8`, { path: "runtime.entry" });
      }
    }
  }
  let sourceMap: SourceMap | undefined;
  const mapBytes = files.get(`${entry}.map`);
  if (mapBytes !== undefined) {
    try {
      sourceMap = new SourceMap(JSON.parse(decoder.decode(mapBytes)) as ConstructorParameters<typeof SourceMap>[0]);
    } catch {
      // A broken source map only costs stack mapping; the code still runs.
      sourceMap = undefined;
    }
  }
  const capabilities = Array.isArray(manifest["capabilities"]) ? (manifest["capabilities"] as unknown[]) : [];
  return {
    contentHash: parts.contentHash,
    extensionId: id,
    version,
    entry,
    modules,
    sourceMap,
    declaredHandlers: handlersOf(manifest),
    exportedHandlers: [],
    warmContext: runtime["warmContext"] === true,
    capabilities,
    requested: new Set(capabilities.flatMap((capability) => {
      const name = record(capability)?.["name"];
      return typeof name === "string" ? [name] : [];
    })),
    limits: manifestLimitsToExecutionLimits(record(manifest["limits"]) as ManifestLimits | undefined),
  };
}

/** The most characters of a guest's stack an error answer carries: the bootstrap cuts it there too, before mapping. */
export const MAX_STACK_CHARS = 16_000;
/** The most characters of a source map's source name put in a stack: a path, not a payload. */
const MAX_SOURCE_NAME = 256;

/**
 * Rewrites `entry:line:col` positions of a QuickJS stack to the original sources named by the source map,
 * within MAX_STACK_CHARS. Both the stack and the map are the extension's: 800 frames of 20 characters mapped
 * to a source name of 50,000 made a stack of 40 MB on the host, outside the guest's budgets (and past the
 * remote runner's frame cap, which then looked down).
 */
export function mapStack(stack: string, bundle: CompiledBundle): string {
  const map = bundle.sourceMap;
  if (map === undefined || stack === "") return stack.slice(0, MAX_STACK_CHARS);
  const escaped = bundle.entry.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const position = new RegExp(`${escaped}:(\\d+)(?::(\\d+))?`, "g");
  let out = "";
  let from = 0;
  for (let match = position.exec(stack); match !== null && out.length < MAX_STACK_CHARS; match = position.exec(stack)) {
    const [whole, line, column] = match;
    const found = map.findEntry(Number(line) - 1, column === undefined ? 0 : Number(column) - 1) as {
      originalSource?: string;
      originalLine?: number;
      originalColumn?: number;
    };
    const mapped =
      found.originalSource === undefined || found.originalLine === undefined
        ? whole
        : `${found.originalSource.slice(0, MAX_SOURCE_NAME)}:${found.originalLine + 1}:${(found.originalColumn ?? 0) + 1}`;
    out += stack.slice(from, match.index) + mapped;
    from = match.index + whole.length;
  }
  if (out.length < MAX_STACK_CHARS) out += stack.slice(from);
  return out.slice(0, MAX_STACK_CHARS);
}
