export { main, VERSION, type CliIO } from "./main.js";
export { readFolder, DEFAULT_IGNORES, type ReadFolderOptions } from "./read-folder.js";
export { buildEntry, type BuildEntryOptions, type BuiltEntry } from "./build-entry.js";
export { CliError, type CliErrorCode, EXIT_OK, EXIT_FAILURE, EXIT_USAGE } from "./errors.js";
