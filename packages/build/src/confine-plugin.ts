import { lstat } from "node:fs/promises";
import type { Plugin } from "esbuild";
import { shownPath } from "./confine.js";
import { BuildError } from "./errors.js";

/**
 * Refuses, before esbuild opens it, any file a build would load that is not
 * a regular file: a FIFO would hang the build, a device (a link to
 * /dev/zero, say) would never end. esbuild reports the path with links
 * resolved, so lstat sees what would be read. Every build (the server entry,
 * the UI pages) runs with it; where each file came from is checked once the
 * build is done (checkInputs), when the imports that reached it are known.
 *
 * `root` is the folder's real path, to name files relative to it.
 */
export function confinePlugin(root: string): Plugin {
  return {
    name: "annex-confine",
    setup(build) {
      build.onLoad({ filter: /.*/, namespace: "file" }, async (args) => {
        const info = await lstat(args.path).catch(() => null);
        if (info === null || info.isFile()) return undefined; // esbuild reads it, or says it cannot.
        const shown = shownPath(root, args.path);
        throw new BuildError(
          "E_PACK_PATH",
          `${shown}, which the build was to read, is not a regular file (a FIFO, socket or device): make it a regular file, or remove the import of it.`,
          { path: shown },
        );
      });
    },
  };
}
