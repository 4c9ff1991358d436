export { main, VERSION, type CliIO } from "./main.js";
export { CliError, type CliErrorCode, EXIT_OK, EXIT_FAILURE, EXIT_USAGE } from "./errors.js";
