import type { Manifest } from "@annex/manifest";
import { BuildError } from "./errors.js";

/**
 * Every handler annex.json names (endpoints, jobs, event subscriptions) must
 * be an export of the built entry, or every call to it would fail at run time.
 * `source` names the file in the message (runtime.source, or runtime.entry).
 */
export function checkHandlersExported(manifest: Manifest, exports: readonly string[], source: string): void {
  const named = [
    ...manifest.endpoints.map((endpoint, i) => ({ handler: endpoint.handler, field: `endpoints[${i}].handler` })),
    ...manifest.jobs.map((job, i) => ({ handler: job.handler, field: `jobs[${i}].handler` })),
    ...manifest.events.subscribes.map((sub, i) => ({ handler: sub.handler, field: `events.subscribes[${i}].handler` })),
  ];
  const missing = named.filter(({ handler }) => !exports.includes(handler));
  if (missing.length > 0) {
    const list = missing.map(({ handler, field }) => `"${handler}" (${field})`).join(", ");
    throw new BuildError(
      "E_BUILD",
      `${source} does not export ${list}: export a function by that name from ${source}, or fix the handler name in annex.json.`,
      { handlers: missing.map(({ handler }) => handler) },
    );
  }
}

/** Files annex.json points at (the UI pages, runtime.entry, the migrations folder) must be among the packed files; the error names the field. */
export function checkReferencedFiles(manifest: Manifest, files: ReadonlyMap<string, Uint8Array>): void {
  const referenced: { field: string; path: string; hint: string }[] = manifest.ui.pages.map((page, i) => ({
    field: `ui.pages[${i}].entry`,
    path: page.entry,
    hint: "create it",
  }));
  const { entry, source } = manifest.runtime;
  if (entry !== undefined) {
    referenced.push({
      field: "runtime.entry",
      path: entry,
      hint: source === undefined ? "build it first (or name its source in runtime.source, and packing builds it)" : "create it",
    });
  }
  // A folder: a typo in its name packed a bundle whose schema no migration ever created, and the install then
  // reported "ready" with no table (its handlers failing with "relation does not exist").
  if (manifest.storage.kind === "owned-schema") {
    const folder = `${manifest.storage.migrations}/`;
    if (![...files.keys()].some((path) => path.startsWith(folder) && path.endsWith(".sql"))) {
      throw new BuildError(
        "E_PACK_MISSING_FILE",
        `storage.migrations names "${manifest.storage.migrations}", which holds no .sql migration among the packed files: create ${folder}0001_init.sql (files named NNNN_name.sql; the first creates the schema's tables), or fix storage.migrations in annex.json.`,
        { field: "storage.migrations", path: manifest.storage.migrations },
      );
    }
  }
  for (const { field, path, hint } of referenced) {
    if (!files.has(path)) {
      throw new BuildError(
        "E_PACK_MISSING_FILE",
        `${field} names "${path}", which is not in the packed files: ${hint}, fix ${field} in annex.json, or remove it from .annexignore.`,
        { field, path },
      );
    }
  }
}
