/**
 * Where a bundle's UI files live, and the one rule every consumer applies to
 * it: files under `ui.root` are served to browsers as the extension's UI and
 * are never server code. The manifest refuses a `runtime.entry` there at
 * publish; runners leave those files out of what a sandbox can load or import;
 * the host serves only them as assets. Read defensively: any manifest-shaped
 * value works, parsed or not.
 */
export const DEFAULT_UI_ROOT = "ui";

/** The bundle folder of the extension's UI files: `ui.root`, or "ui" when the manifest does not set one. */
export function uiRootOf(manifest: unknown): string {
  const ui = manifest !== null && typeof manifest === "object" ? (manifest as { ui?: unknown }).ui : undefined;
  const root = ui !== null && typeof ui === "object" ? (ui as { root?: unknown }).root : undefined;
  return typeof root === "string" && root !== "" ? root.replace(/\/+$/, "") : DEFAULT_UI_ROOT;
}

/** Whether a bundle path is a UI file (under `ui.root`): served to browsers, never loaded as server code. */
export function isUiPath(manifest: unknown, path: string): boolean {
  const root = uiRootOf(manifest);
  return path === root || path.startsWith(`${root}/`);
}
