import { build } from "esbuild";
import { BuildError } from "./errors.js";
import { formatMessage, isBuildFailure } from "./esbuild-messages.js";

export interface BundleScriptOptions {
  /** The module's source (JavaScript). */
  source: string;
  /** Where its imports resolve from: a folder whose node_modules hold them. */
  resolveDir: string;
}

/**
 * Bundles a browser module and everything it imports into one ES module:
 * for a page of the tools' own (the test host's frame page), not for an
 * extension, whose pages `buildUiPages` builds under the folder's
 * confinement. A compile or resolve error is E_UI_BUILD.
 */
export async function bundleScript(options: BundleScriptOptions): Promise<string> {
  try {
    const result = await build({
      stdin: { contents: options.source, resolveDir: options.resolveDir, loader: "js", sourcefile: "page.js" },
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      write: false,
      logLevel: "silent",
      legalComments: "none",
    });
    return result.outputFiles[0]!.text;
  } catch (error) {
    if (!isBuildFailure(error)) throw error;
    throw new BuildError("E_UI_BUILD", `the page script does not build:\n${error.errors.map((m) => formatMessage(m)).join("\n")}`, { resolveDir: options.resolveDir }, { cause: error });
  }
}
