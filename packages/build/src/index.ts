export { packExtension, type PackExtensionOptions, type PackedExtension } from "./pack-extension.js";
export { buildEntry, type BuildEntryOptions, type BuiltEntry } from "./build-entry.js";
export { buildUiPages, type BuildUiPagesOptions, type BuiltUiPages } from "./ui/build-pages.js";
export { bundleScript, type BundleScriptOptions } from "./bundle-script.js";
export { readFolder, DEFAULT_IGNORES, type ReadFolderOptions } from "./read-folder.js";
export { checkHandlersExported, checkReferencedFiles } from "./checks.js";
export { BuildError, type BuildErrorCode } from "./errors.js";
