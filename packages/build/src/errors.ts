import { AnnexError } from "@annex/manifest";

/**
 * Codes raised while turning an extension folder into a bundle. Errors from
 * @annex/manifest (E_MANIFEST for annex.json, E_BUNDLE_* for the packed
 * files) pass through unchanged.
 */
export type BuildErrorCode =
  /** A file or folder the build needs (the extension folder, annex.json, runtime.source) does not exist. */
  | "E_FILE_NOT_FOUND"
  /** Reading a file failed for another reason (permissions, a file where a folder was expected …). */
  | "E_IO"
  /** esbuild could not compile the server source, or a handler annex.json names is not exported. */
  | "E_BUILD"
  /** The server source imports something that cannot be bundled into one self-contained module. */
  | "E_BUILD_IMPORT"
  /** The extension folder holds something that cannot go into a bundle (symlink, special file, clashing names …). */
  | "E_PACK_PATH"
  /** annex.json names a file that the packed folder does not contain. */
  | "E_PACK_MISSING_FILE"
  /** A UI page's script or stylesheet does not build (syntax error, import that cannot be resolved, clashing output). */
  | "E_UI_BUILD"
  /** A UI page refers to something the packed page cannot load: node_modules, a path outside ui.root, a remote script, a missing file. */
  | "E_UI_REFERENCE"
  /** A UI page holds inline code the iframe's Content-Security-Policy refuses: event-handler or style attributes, javascript: URLs, <base>, import maps. */
  | "E_UI_INLINE";

/** A typed error of @annex/build. Its message names the file, field or page at fault and says what to do next. */
export class BuildError extends AnnexError {
  declare readonly code: BuildErrorCode;

  constructor(code: BuildErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
