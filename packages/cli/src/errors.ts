import { AnnexError } from "@annex/manifest";

/**
 * Codes the CLI itself raises. Errors from @annex/manifest (E_MANIFEST,
 * E_BUNDLE_*, E_SIGNATURE_*, E_TRUST_STORE …) and from @annex/build
 * (E_BUILD, E_BUILD_IMPORT, E_PACK_*, E_UI_* …) pass through unchanged.
 */
export type CliErrorCode =
  /** Bad command line: unknown command or option, missing argument. Exit code 2. */
  | "E_USAGE"
  /** A file or folder named on the command line or in annex.json does not exist. */
  | "E_FILE_NOT_FOUND"
  /** Reading or writing a file failed for another reason (permissions, a folder where a file was expected …). */
  | "E_IO"
  /** annex.json (or another JSON input) is not valid JSON. */
  | "E_JSON_SYNTAX"
  /** `annex init` was pointed at a folder that is not empty. */
  | "E_INIT_NOT_EMPTY"
  /** A private key file is readable by group or others. */
  | "E_KEY_PERMISSIONS"
  /** A public key file (.pub) was given where the private key is needed (`sign --key`). */
  | "E_KEY_PUBLIC"
  /** A private key file (.key) was given where a public key belongs (`trust add`): it must never leave its owner. */
  | "E_KEY_PRIVATE"
  /** `annex keygen` would overwrite an existing key file. */
  | "E_KEY_EXISTS"
  /** The key's publisher is not the bundle's publisher. */
  | "E_KEY_PUBLISHER"
  /** `annex trust add` found the same key id with a different public key. */
  | "E_TRUST_CONFLICT"
  /** `annex lint` found problems (the lines above it say which). */
  | "E_LINT"
  /** `annex admin`/`annex dev`: the host could not be reached (refused, unknown name, no answer in time). */
  | "E_HOST_UNREACHABLE"
  /** The host refused the admin token (401). */
  | "E_HOST_UNAUTHENTICATED"
  /** The token's user may not use the admin API (403: not an administrator). */
  | "E_HOST_FORBIDDEN"
  /** The host has no admin API at --host (404 on the API itself). */
  | "E_HOST_NOT_FOUND"
  /** The host answered something else than the admin API's JSON. */
  | "E_HOST_RESPONSE"
  /** An install or upgrade asks for capabilities that --accept does not name (and no --yes): nothing was changed. */
  | "E_CONSENT_REQUIRED"
  /** `--tenant` names another tenant than the token's. */
  | "E_TENANT_MISMATCH"
  /** The extension (or that version of it) is not published on the host. */
  | "E_NOT_PUBLISHED"
  /** `annex admin run`/`runs`: the tenant has no install of that extension with a job of that name. */
  | "E_JOB_NOT_FOUND";

/** A typed error raised by the CLI. Its message names the file, field or option at fault and says what to do next. */
export class CliError extends AnnexError {
  declare readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Exit codes: documented in the README and `annex --help`. */
export const EXIT_OK = 0;
/** Invalid input, a failed check (verify, lint) or any other error. */
export const EXIT_FAILURE = 1;
/** The command line itself was wrong. */
export const EXIT_USAGE = 2;
